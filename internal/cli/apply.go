package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/fleet"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/passwdqc"
	"github.com/esxi-users/esxi-users/internal/textsafe"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

// applyOptions are the inputs of apply and plan.
type applyOptions struct {
	file, ignoreList, output, policy string
	skipCheck, verbose, fromDRP      bool
	allowSelfLockout                 bool
	conn                             connFlags
	fleet                            fleetFlags
}

func (o *applyOptions) flags(c *command, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(textsafe.NewWriter(env.Stderr))
	fs.StringVar(&o.file, "file", "-", "the esxi/manage-users document (YAML or JSON) `PATH`; - reads standard input (a terminal there is a mistake of usage: pipe the document in)")
	fs.StringVar(&o.ignoreList, "ignore-list", "", "comma-separated ids never touched (root and dcui always are)")
	fs.StringVar(&o.output, "output", "text", "text (one line per entry as applied) or json (the report)")
	fs.StringVar(&o.policy, "password-policy", "", "check passwords against this Security.PasswordQualityControl `POLICY` instead of the host's (not with --skip-password-check)")
	fs.BoolVar(&o.skipCheck, "skip-password-check", false, "do not pre-check passwords; let the host decide per entry")
	fs.BoolVar(&o.verbose, "verbose", false, "log progress to stderr")
	fs.BoolVar(&o.allowSelfLockout, "allow-self-lockout", false, "let the list demote (a role other than Admin) or remove the user this run logs in as and, with --vihost, vpxuser; without it such an entry is invalid (exit 2)")
	fs.BoolVar(&o.fromDRP, "from-drp", false, "inside a DRP task: read Params from RS_ENDPOINT/RS_TOKEN/RS_UUID and write the report Param")
	o.conn.register(fs)
	o.fleet.register(fs, true)
	fs.Usage = func() { c.printHelp(fs.Output(), fs) }
	return fs
}

// check refuses apply's and plan's own malformed or conflicting flags
// (usage errors, exit 2, naming the flags): --password-policy must parse
// and is pointless with --skip-password-check; --ignore-list within its
// limit.
func (o *applyOptions) check(explicit map[string]bool) error {
	if explicit["password-policy"] && o.skipCheck {
		return usageError("--password-policy and --skip-password-check conflict: the policy is only used to check passwords before the first write; give one of them")
	}
	if explicit["password-policy"] {
		if strings.TrimSpace(o.policy) == "" {
			return usageError("--password-policy is empty: give a Security.PasswordQualityControl value, or leave the flag out to use the host's")
		}
		if _, err := passwdqc.ParseESXi(o.policy); err != nil {
			return usageError("--password-policy: %w", err)
		}
	}
	if o.ignoreList != "" {
		if _, err := params.NewIgnoreList(strings.Split(o.ignoreList, ",")); err != nil {
			return usageError("--ignore-list: %w", err)
		}
	}
	return nil
}

// runApply is apply and plan (c.name).
func runApply(ctx context.Context, c *command, args []string, env Env) int {
	name := c.name
	plan := name == "plan"
	var o applyOptions
	fs := o.flags(c, env)
	// stop ends a run that fails before it starts — a mistake of usage,
	// settings that do not resolve — with its error on stderr and, with
	// --output json, a report saying so: JSON output is always a document.
	stop := func(err any) int {
		printError(env.Stderr, name, err)
		o.failedReport(env, plan, fmt.Sprint(err))
		return connectExit(asError(err))
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		o.failedReport(env, plan, err.Error()) // the flag package printed it
		return errkind.ExitInvalid
	}
	if fs.NArg() > 0 {
		return stop(usageError("unexpected argument %s (give the document with --file)", quoteClip(fs.Arg(0))))
	}
	explicit := explicitFlags(fs)
	if o.fromDRP {
		var others []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "from-drp" {
				others = append(others, "--"+f.Name)
			}
		})
		if len(others) > 0 {
			return stop(usageError("--from-drp takes every setting from the machine's Params: %s cannot be used with it", strings.Join(others, ", ")))
		}
		return runFromDRP(ctx, env, plan)
	}
	if err := o.check(explicit); err != nil {
		return stop(err)
	}
	if !explicit["file"] && env.StdinIsTerminal != nil && env.StdinIsTerminal() {
		code := stop(usageError("no --file given and standard input is a terminal: give --file PATH, or pipe the document in (--file - reads standard input)"))
		fmt.Fprintln(env.Stderr)
		fs.Usage()
		return code
	}
	pr, err := newPrinter(env.Stdout, o.output, plan)
	if err != nil {
		printError(env.Stderr, name, err)
		return errkind.ExitInvalid
	}
	cfg := job.Config{
		Options: job.Options{
			PasswordPolicy:    o.policy,
			SkipPasswordCheck: o.skipCheck,
			Plan:              plan,
			AllowSelfLockout:  o.allowSelfLockout,
		},
		Progress: pr.progress,
	}
	if o.ignoreList != "" {
		cfg.Ignore = strings.Split(o.ignoreList, ",")
	}
	if o.verbose {
		cfg.Log = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err := o.conn.resolve(fs, env, &cfg); err != nil {
		return stop(err)
	}
	cfg.Input, err = readInput(o.file, env.Stdin)
	if err == nil {
		err = noList(o.file, cfg.Input)
	}
	if err != nil {
		return stop(usageError("%w", err))
	}
	closeTrace, err := o.conn.openTrace(env, &cfg.Trace)
	if err != nil {
		return stop(err)
	}
	defer closeTrace()

	fc, err := o.fleet.resolve(fs, env, o.conn, &cfg)
	if err != nil {
		return stop(err)
	}
	if fc != nil {
		return runFleet(ctx, name, env, o.output, *fc)
	}
	report, err := job.Run(ctx, cfg)
	pr.finish(report, err)
	if err != nil {
		printError(env.Stderr, name, report.Error)
	}
	return errkind.ExitCode(err)
}

// failedReport writes, with --output json, the report of a run that failed
// before it started (msg says why): a fleet's for several targets, else one
// host's, with no results.
func (o *applyOptions) failedReport(env Env, plan bool, msg string) {
	if o.output != "json" {
		return
	}
	now := time.Now().UTC()
	if o.fleet.many() {
		writeJSON(env.Stdout, &fleet.Report{Plan: plan, Time: now, Error: msg, Hosts: []*fleet.HostReport{}})
		return
	}
	writeJSON(env.Stdout, &tasks.Report{Plan: plan, Time: now, Host: o.conn.displayHost(env), Error: msg, Results: []tasks.Result{}})
}

// noList refuses a document from --file (or standard input, "-") that
// holds no list at all: empty, comments only, or null (params.NoList).
// Decode would read it as a list with no entries, as DRP gives an unset
// Param; from a file or a pipe it is more likely a mistake — a truncated or
// wrong file, a command before the pipe that failed — than a list. A list
// with no entries is written [] and succeeds.
func noList(file string, input []byte) error {
	what, ok := params.NoList(input)
	if !ok {
		return nil
	}
	source := "--file " + quoteClip(file)
	if file == "-" {
		source = "standard input (--file -)"
	}
	if what == "null" {
		return usageError("%s holds null, not a list: nothing to apply (a list with no entries is written [])", source)
	}
	if file == "-" {
		return usageError("%s is empty: nothing to apply (did the command before the pipe fail? a list with no entries is written [])", source)
	}
	return usageError("%s is empty: nothing to apply (a list with no entries is written [])", source)
}

// readInput reads the document from a file or stdin ("-"), refusing more
// than params.MaxInputBytes.
func readInput(file string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read --file: %w", err)
		}
		defer f.Close()
		r = f
	}
	if r == nil {
		return nil, errors.New("no input: give --file")
	}
	b, err := io.ReadAll(io.LimitReader(r, params.MaxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read input: %w", err)
	}
	return b, nil
}

// openTrace opens --trace-soap, if given, into *w (nil otherwise); the
// func closes it. Its error is a usage error.
func (c *connFlags) openTrace(env Env, w *io.Writer) (func(), error) {
	switch c.trace {
	case "":
		return func() {}, nil
	case "-":
		*w = env.Stderr
		return func() {}, nil
	}
	f, err := os.OpenFile(c.trace, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, usageError("open --trace-soap file: %w", err)
	}
	*w = f
	return func() { f.Close() }, nil
}
