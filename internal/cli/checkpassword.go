package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/passwdqc"
	"github.com/esxi-users/esxi-users/internal/textsafe"
)

// runCheckPassword checks candidate passwords read from stdin against a
// policy: --policy, else the connected host's (given connection flags), else
// ESXi's default. Exit 0 if all pass, 1 if any fails, 2 for a malformed
// policy, input or connection settings, 3 if the host could not be read.
func runCheckPassword(ctx context.Context, c *command, args []string, env Env) int {
	fs := flag.NewFlagSet("check-password", flag.ContinueOnError)
	fs.SetOutput(textsafe.NewWriter(env.Stderr))
	policy := fs.String("policy", "", "Security.PasswordQualityControl value (default: the connected host's, else ESXi's default)")
	user := fs.String("user", "", "the user id the passwords are for (checked as personal information)")
	desc := fs.String("description", "", "the account description (GECOS), also checked as personal information")
	jsonl := fs.Bool("jsonl", false, `read {"user","password","policy","description"} objects, one per line; write {"ok","reason"} lines`)
	var conn connFlags
	conn.register(fs)
	fs.Usage = func() { c.printHelp(fs.Output(), fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return errkind.ExitInvalid
	}
	if fs.NArg() > 0 {
		printError(env.Stderr, "check-password", fmt.Sprintf("unexpected argument %s (passwords are read from standard input, one per line)", quoteClip(fs.Arg(0))))
		return errkind.ExitInvalid
	}
	explicit := explicitFlags(fs)
	if err := conn.check(explicit); err != nil {
		printError(env.Stderr, "check-password", err)
		return errkind.ExitInvalid
	}
	if explicit["policy"] {
		var hostFlags []string
		for _, name := range []string{"server", "simulate", "vihost", "passthroughauth"} {
			if explicit[name] {
				hostFlags = append(hostFlags, "--"+name)
			}
		}
		if len(hostFlags) > 0 {
			printError(env.Stderr, "check-password", fmt.Sprintf("--policy and %s conflict: the host is read only for its policy; give one of them", strings.Join(hostFlags, ", ")))
			return errkind.ExitInvalid
		}
	}
	opt := pwcheckOptions{Policy: *policy, ESXi: true, User: *user, Gecos: *desc, JSONL: *jsonl}
	if opt.Policy == "" && conn.given(env) {
		var cfg job.Config
		if err := conn.resolve(fs, env, &cfg); err != nil {
			printError(env.Stderr, "check-password", err)
			return connectExit(err)
		}
		closeTrace, err := conn.openTrace(env, &cfg.Trace)
		if err != nil {
			printError(env.Stderr, "check-password", err)
			return errkind.ExitInvalid
		}
		defer closeTrace()
		p, err := job.HostPasswordPolicy(ctx, cfg)
		if err != nil {
			printError(env.Stderr, "check-password", err)
			return connectExit(err)
		}
		opt.Policy = p
	}
	if opt.Policy == "" {
		opt.Policy = passwdqc.ESXiDefault
	}
	allOK, err := checkPasswords(env.Stdin, env.Stdout, opt)
	if err != nil {
		printError(env.Stderr, "check-password", err)
		return errkind.ExitInvalid
	}
	if !allOK {
		return 1
	}
	return 0
}
