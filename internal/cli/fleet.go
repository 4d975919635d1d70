package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/fleet"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/textsafe"
	"github.com/esxi-users/esxi-users/internal/tlspin"
	"github.com/esxi-users/esxi-users/tasks"
)

// fleetFlags are the flags for many hosts (internal/fleet) of apply, plan
// and list: --server and --vihost repeatable, --vihost patterns,
// --known-hosts, --parallel, and apply's and plan's --fail-fast.
type fleetFlags struct {
	servers, vihosts []string
	knownHosts       string
	parallel         int
	failFast         bool
}

// register adds the flags to fs, after connFlags (--server, --vihost);
// failFast: --fail-fast too.
func (f *fleetFlags) register(fs *flag.FlagSet, failFast bool) {
	// --server and --vihost are registered by connFlags, which keeps the
	// last value; every value is kept here too.
	repeatable(fs, "server", &f.servers, "; repeat it for several standalone hosts (one credential source for all)")
	repeatable(fs, "vihost", &f.vihosts, "; repeatable, and a glob pattern on names and addresses ('esx-*') or on inventory paths ('/DC0/host/Cluster1/*') selects every host it matches")
	fs.StringVar(&f.knownHosts, "known-hosts", "", "pin each server's certificate from this govc known-hosts `FILE` (\"host[:port] fingerprint\" lines; env GOVC_TLS_KNOWN_HOSTS); a server not in it is verified against the system's roots")
	fs.IntVar(&f.parallel, "parallel", fleet.DefaultParallel, "with several hosts: how many are read, checked and applied to at a time (`N` >= 1)")
	if failFast {
		fs.BoolVar(&f.failFast, "fail-fast", false, "with several hosts: after one fails (or cannot be reached or checked), start no other; running ones stop after their current entry")
	}
}

// collect wraps a registered flag so that every occurrence is kept, the flag
// itself still taking the last value.
type collect struct {
	flag.Value
	all *[]string
}

func (c *collect) Set(s string) error {
	*c.all = append(*c.all, s)
	return c.Value.Set(s)
}

// String is the wrapped flag's value. flag.PrintDefaults calls it on a zero
// collect, to tell a default from none: that one has no flag and no value.
// (The help, printFlags, reads each flag's DefValue instead.)
func (c *collect) String() string {
	if c == nil || c.Value == nil {
		return ""
	}
	return c.Value.String()
}

func repeatable(fs *flag.FlagSet, name string, all *[]string, usage string) {
	f := fs.Lookup(name)
	f.Value = &collect{Value: f.Value, all: all}
	f.Usage += usage
}

// many reports whether the targets are a fleet: several --server or
// --vihost values, or a --vihost pattern (glob characters, or an inventory
// path). One plain --vihost name or one --server is today's single-host run,
// with its report.
func (f *fleetFlags) many() bool {
	if len(f.servers) > 1 || len(f.vihosts) > 1 {
		return true
	}
	for _, v := range f.vihosts {
		if v = strings.TrimSpace(v); strings.ContainsAny(v, `*?[\`) || strings.HasPrefix(v, "/") {
			return true
		}
	}
	return false
}

// knownHostsFile loads --known-hosts, else GOVC_TLS_KNOWN_HOSTS (nil when
// neither is given). Its errors are usage errors naming the flag or the
// variable.
func (f *fleetFlags) knownHostsFile(env Env) (*tlspin.KnownHosts, error) {
	var (
		k      tlspin.KnownHosts
		err    error
		source = "--known-hosts"
	)
	switch {
	case f.knownHosts != "":
		k, err = tlspin.LoadKnownHosts(f.knownHosts)
	case env.Getenv("GOVC_TLS_KNOWN_HOSTS") != "":
		source = "GOVC_TLS_KNOWN_HOSTS"
		k, err = tlspin.LoadKnownHostsList(env.Getenv("GOVC_TLS_KNOWN_HOSTS"))
	default:
		return nil, nil
	}
	if err != nil {
		return nil, usageError("%s: %w", source, err)
	}
	return &k, nil
}

// resolve reads the targets: for one host it returns nil, having pinned
// cfg's certificate from the known-hosts file if that lists the server; for
// many, the fleet's configuration. cfg has been resolved from conn (the
// last --server and --vihost). Its errors are usage errors.
func (f *fleetFlags) resolve(fs *flag.FlagSet, env Env, conn connFlags, cfg *job.Config) (*fleet.Config, error) {
	if f.parallel < 1 {
		return nil, usageError("--parallel %d: give a number of hosts of 1 or more", f.parallel)
	}
	known, err := f.knownHostsFile(env)
	if err != nil {
		return nil, err
	}
	if !f.many() {
		if known != nil && cfg.Thumbprint == "" && !conn.simulate {
			if k, ok := known.Lookup(cfg.Server); ok {
				cfg.Thumbprint, cfg.ThumbprintSource = k.Fingerprint.String(), fleet.KnownHostsSource(k)
			}
		}
		return nil, nil
	}
	if conn.simulate {
		return nil, usageError("--simulate serves one host: for several, start `esxi-manage-users simulate --vcenter --hosts N` and give its address with --server and the hosts with --vihost")
	}
	fc := &fleet.Config{Connection: cfg.Connection, Options: cfg.Options, KnownHosts: known, Parallel: f.parallel, FailFast: f.failFast}
	if len(f.vihosts) > 0 {
		if len(f.servers) > 1 {
			return nil, usageError("--vihost selects hosts of one vCenter: give it with one --server")
		}
		for _, v := range f.vihosts {
			fc.ViHosts = append(fc.ViHosts, strings.TrimSpace(v))
		}
		return fc, nil
	}
	// Each server as --server alone would be read: user@host allowed, a
	// password refused; one user for all.
	for _, s := range f.servers {
		c := conn
		c.server = s
		var one job.Config
		if err := c.resolve(fs, env, &one); err != nil {
			return nil, err
		}
		if one.Username != cfg.Username {
			return nil, usageError("the servers name different users (%q, %q): every host of a run logs in with one user and password; give it with --username", cfg.Username, one.Username)
		}
		fc.Servers = append(fc.Servers, one.Server)
	}
	fc.Server = ""
	return fc, nil
}

// runFleet runs apply or plan (name) on the fleet fc, showing it in format
// (text or json), and returns the exit code.
func runFleet(ctx context.Context, name string, env Env, format string, fc fleet.Config) int {
	pr, err := newFleetPrinter(env.Stdout, format, fc.Plan)
	if err != nil {
		printError(env.Stderr, name, err)
		return errkind.ExitInvalid
	}
	fc.HostProgress, fc.HostDone = pr.progress, pr.hostDone
	rep, err := fleet.Run(ctx, fc)
	pr.finish(rep)
	if err != nil {
		printError(env.Stderr, name, rep.Error)
	}
	return errkind.ExitCode(err)
}

// fleetPrinter shows a fleet run: in text, one line per entry as it is
// known, prefixed by its host, and a final line per host, then one for the
// run; in json, the fleet report at the end.
type fleetPrinter struct {
	w     io.Writer
	json  bool
	plan  bool
	mu    sync.Mutex // one line at a time, whichever host writes it
	hosts map[string]*printer
}

// hostColumn is the width of the host column.
const hostColumn = 16

func newFleetPrinter(w io.Writer, format string, plan bool) (*fleetPrinter, error) {
	if _, err := newPrinter(w, format, plan); err != nil {
		return nil, err
	}
	return &fleetPrinter{w: w, json: format == "json", plan: plan, hosts: map[string]*printer{}}, nil
}

// host is host's printer: the single-host printer writing lines prefixed
// by the host (escaped). The header is the fleet's, printed once.
func (p *fleetPrinter) host(name string) *printer {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.hosts) == 0 {
		if p.plan {
			fmt.Fprintln(p.w, "PLAN: nothing is written; outcomes are what apply would do")
		}
		fmt.Fprintf(p.w, "%-*s "+rowFormat, hostColumn, "HOST", "#", "ID", "OPERATION", "ROLE", "OUTCOME", "ERROR")
	}
	hp, ok := p.hosts[name]
	if !ok {
		hp = &printer{w: &prefixWriter{mu: &p.mu, w: p.w, prefix: fmt.Sprintf("%-*s ", hostColumn, textsafe.Escape(name))}, plan: p.plan, printed: map[int]bool{}, header: true}
		p.hosts[name] = hp
	}
	return hp
}

func (p *fleetPrinter) progress(host string, r tasks.Result) {
	if !p.json {
		p.host(host).progress(r)
	}
}

// hostDone prints the host's remaining rows and its summary line, and why
// it was not done.
func (p *fleetPrinter) hostDone(r *fleet.HostReport) {
	if p.json {
		return
	}
	hp := p.host(r.Host)
	// A host none of whose entries was run (unreachable, not checked, not
	// applied) gets no rows: its summary and why.
	none := !r.OK
	for _, res := range r.Results {
		none = none && res.Outcome == tasks.NotRun
	}
	if none {
		hp.mu.Lock()
		for _, res := range r.Results {
			hp.printed[res.Index] = true
		}
		hp.mu.Unlock()
	}
	hp.finish(r.Report, nil)
	// Why, for a host without rows, or unreachable (its rows are then the
	// list's invalid entries).
	if (none || r.Unreachable) && r.Error != "" {
		first, _, _ := strings.Cut(r.Error, "\n")
		fmt.Fprintf(hp.w, "%s: %s\n", strings.ToUpper(r.Status()), textsafe.Escape(first))
	}
}

// finish prints the run's last line (text) or the report (json).
func (p *fleetPrinter) finish(rep *fleet.Report) {
	if p.json {
		writeJSON(p.w, rep)
		return
	}
	counts := map[string]int{}
	for _, h := range rep.Hosts {
		counts[h.Status()]++
	}
	var parts []string
	for _, s := range []string{"done", "failed", "invalid", "unreachable", "not-run"} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	status := "ok"
	if !rep.OK {
		status = "FAILED"
	}
	line := fmt.Sprintf("%s: %d %s", status, len(rep.Hosts), plural(len(rep.Hosts), "host", "hosts"))
	if len(parts) > 0 {
		line += ": " + strings.Join(parts, ", ")
	} else {
		line += ": nothing was changed"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, line)
}

// prefixWriter writes each line with a prefix, one write at a time for all
// the hosts sharing mu.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
}

func (pw *prefixWriter) Write(b []byte) (int, error) {
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			out.WriteString(pw.prefix + line)
		}
	}
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if _, err := io.WriteString(pw.w, out.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}
