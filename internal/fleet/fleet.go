// Package fleet applies one esxi/manage-users list to many ESXi hosts in one
// run: the hosts a vCenter manages, selected with patterns (one vCenter
// session serves them all), or standalone hosts, each with its own session.
//
// A run has two phases. First every host is read and every entry checked
// against that host's own roles, password policy, self-lockout rules and the
// session's privileges (tasks.Prepare), Config.Parallel hosts at a time;
// nothing is written. If an entry is invalid for any host, nothing is
// written anywhere (exit 2). Then the hosts are applied to (tasks.Prepared
// Apply), Config.Parallel at a time, each in list order, each stopping at
// its own first failure; with Config.FailFast no host starts after one has
// failed, and the running ones stop after their current entry.
//
// A list with structural problems (tasks.Options.Invalid) is still checked
// against every host for its well-formed entries, as for one host (job.Run):
// the run reports the list's problems once and each host's own findings,
// and writes nothing anywhere.
//
// A host that cannot be reached or logged in to is reported as unreachable
// and not written; the others go on. A host that refuses the list whoever
// asks (lockdown mode, shell access: errkind.ErrRefused) is reported with
// its reasons after every host was checked, and nothing is written
// anywhere (exit 3).
//
// Read reads the same targets and writes nothing: the CLI's list.
package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/hostmatch"
	"github.com/esxi-users/esxi-users/internal/job"
	"github.com/esxi-users/esxi-users/internal/textsafe"
	"github.com/esxi-users/esxi-users/internal/tlspin"
	"github.com/esxi-users/esxi-users/tasks"
)

// DefaultParallel is how many hosts are read, checked and applied to at a
// time when Config.Parallel is zero.
const DefaultParallel = 8

// Config is one fleet run.
type Config struct {
	// Connection reaches every host: one credential source for all of
	// them. Server is the vCenter of ViHosts; Thumbprint (from
	// ThumbprintSource) pins it (or the one server of Servers), else the
	// known-hosts file if it lists it. Dial, if set, replaces the dialling
	// of each of Servers (tests).
	job.Connection
	// Options are the list and how it is applied, as for one host.
	job.Options
	// Servers are standalone ESXi hosts (host name, address or URL;
	// https only), each with its own session.
	Servers []string
	// ViHosts are host patterns (internal/hostmatch: globs on names,
	// short names and addresses, or on inventory paths) selecting hosts of
	// the vCenter Server; one session serves them all.
	ViHosts []string
	// KnownHosts pins each server's certificate by its fingerprint (govc's
	// known-hosts file, internal/tlspin). A server it does not list is
	// verified against the system's roots.
	KnownHosts *tlspin.KnownHosts
	// Parallel is how many hosts are read and applied to at a time
	// (DefaultParallel when zero; negative is invalid).
	Parallel int
	// FailFast: after a host fails (or cannot be reached or checked, or
	// the list is invalid for it), no host starts — in the read phase as in
	// the apply phase; running ones finish their current entry and stop.
	FailFast bool
	// HostProgress, if set, is called with each entry's result as soon as
	// it is known, with the host's name (calls for different hosts come
	// from different goroutines).
	HostProgress func(host string, r tasks.Result)
	// HostDone, if set, is called once per host with its final report.
	HostDone func(*HostReport)
}

// Report is a fleet run's report: the CLI's --output json document for more
// than one target.
type Report struct {
	OK   bool      `json:"ok"`
	Plan bool      `json:"plan,omitempty"`
	Time time.Time `json:"time"`
	// Error says why the run did not succeed: the invalid entries of each
	// host, or which hosts are failed, unreachable or not run.
	Error string `json:"error,omitempty"`
	// Hosts are the hosts' reports: the standalone hosts in the order
	// given, a vCenter's sorted by name.
	Hosts []*HostReport `json:"hosts"`
}

// HostReport is one host's report, as a run on that host alone reports it,
// plus "unreachable": true for a host that could not be reached or logged
// in to (its entries are not-run).
type HostReport struct {
	*tasks.Report
	Unreachable bool `json:"unreachable,omitempty"`
	status      string
}

// Status is the host's final state in a word: "done"; "failed" (an entry
// failed, or the run was stopped, after the entries before it were
// applied; or the host could not be read or the session lacks privileges:
// nothing changed); "invalid" (an entry is invalid for this host: nothing
// changed anywhere); "unreachable"; "not-run" (checked, but not applied to:
// see its error).
func (h *HostReport) Status() string { return h.status }

// state is where a host's run ended.
type state int

const (
	pending     state = iota
	unreachable       // not reached or not logged in to
	unchecked         // reached, but could not be read or lacks privileges
	invalid           // an entry is invalid for this host
	prepared          // read and checked: ready to apply
	applied           // Apply returned (done or failed)
	notApplied        // checked but not applied to (see its error)
	notRead           // not read: FailFast stopped the read phase
	listed            // read by Read
	refused           // the host refuses the list (errkind.ErrRefused): no host is written
)

// host is one target of the run.
type host struct {
	name string
	// open reaches and logs in to the host (a close func: its logout).
	open  func(ctx context.Context) (tasks.Host, func() error, error)
	state state
	err   error
	rep   *HostReport
	prep  *tasks.Prepared
	snap  *tasks.Snapshot // Read's
	close func() error
}

// run is one fleet run.
type run struct {
	cfg  Config
	in   job.Inputs
	opt  tasks.Options
	log  *slog.Logger
	ecfg esx.Config
	// vc is the vCenter session of ViHosts, shared its hosts: one
	// privilege query for all of them.
	vc     *esx.VCenter
	shared []*esx.ViHost

	mu        sync.Mutex
	failed    string // the first host that failed (FailFast)
	failedHow string // what happened to it: "host esx01 could not be reached"
}

// Run reads and checks every host, then, if every entry is valid for every
// host, applies the list to them (see the package comment). The report is
// never nil. The error classifies with errkind.ExitCode: it wraps ErrInvalid
// when the list or the flags are invalid, or an entry is invalid for any
// host (nothing was written anywhere); ErrConnect when no host could be
// reached, logged in to, read or checked (nothing was written); any other
// error when some host is not done (exit 1: the report says which hosts
// are done, failed, unreachable or not run).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	rep := &Report{Plan: cfg.Plan, Time: time.Now().UTC(), Hosts: []*HostReport{}}
	fail := func(err error) (*Report, error) {
		rep.Error = err.Error()
		return rep, err
	}
	in, err := job.ReadInputs(cfg.Options)
	if err != nil {
		return fail(err)
	}
	r, err := start(cfg, in)
	if err != nil {
		return fail(in.WithList(err))
	}
	r.opt = in.Options(cfg.Retry)

	hosts, closeAll, err := r.targets(ctx)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w before anything was changed: %w", errkind.ErrInterrupted, err)
		}
		if errors.Is(err, errkind.ErrInvalid) {
			return fail(in.WithList(err))
		}
		return fail(in.Unchecked(err))
	}
	defer closeAll()
	r.checkShared(ctx)
	r.prepareAll(ctx, hosts)
	r.applyAll(ctx, hosts)
	for _, h := range hosts {
		rep.Hosts = append(rep.Hosts, h.rep)
	}
	err = r.verdict(ctx, hosts)
	rep.OK = err == nil
	if err != nil {
		rep.Error = err.Error()
	}
	return rep, err
}

// HostRead is what Read found on one host.
type HostRead struct {
	// Host is the host's name: as given with --server (host[:port]), or
	// as its vCenter names it.
	Host string
	// Snapshot is the host as read; nil when it could not be read.
	Snapshot *tasks.Snapshot
	// Err says why the host could not be read; Unreachable that it could
	// not be reached or logged in to.
	Err         error
	Unreachable bool
}

// Read reads every host of cfg once (tasks.Host.Read: its local users,
// their roles, the roles and the password policy), Parallel at a time, and
// writes nothing: the CLI's list for many hosts. cfg's list and its
// options, FailFast, HostProgress and HostDone are not used.
//
// The hosts are in Run's order. The error classifies with errkind.ExitCode:
// ErrInvalid when the targets cannot be used (nothing contacted, or a
// pattern that selects nothing; no hosts are returned); ErrConnect when no
// host could be reached, logged in to or read; another error when some
// could not, or the run was stopped (the hosts say which).
func Read(ctx context.Context, cfg Config) ([]*HostRead, error) {
	r, err := start(cfg, job.Inputs{})
	if err != nil {
		return nil, err
	}
	hosts, closeAll, err := r.targets(ctx)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	pool(hosts, cfg.parallel(), func() bool { return ctx.Err() != nil }, func(h *host) {
		th, closeFn, err := h.open(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			h.state, h.err = notApplied, fmt.Errorf("%w: %w", errkind.ErrInterrupted, err)
		case err != nil:
			h.state, h.err = unreachable, fmt.Errorf("%w: %w", errkind.ErrConnect, err)
		default:
			h.close = closeFn
			if h.snap, err = th.Read(ctx); err != nil {
				h.state, h.err = unchecked, fmt.Errorf("%w: %w", errkind.ErrConnect, err)
			} else {
				h.state = listed
			}
			r.logout(ctx, h)
		}
	})
	reads := make([]*HostRead, len(hosts))
	for i, h := range hosts {
		if h.state == pending { // not started: stopped by a signal
			h.state, h.err = notApplied, fmt.Errorf("%w before this host was read", errkind.ErrInterrupted)
		}
		reads[i] = &HostRead{Host: h.name, Snapshot: h.snap, Err: h.err, Unreachable: h.state == unreachable}
	}
	return reads, r.verdict(ctx, hosts)
}

// start checks cfg's targets and builds the run's connection settings
// (the passwords of in's entries scrubbed from the trace and the log).
func start(cfg Config, in job.Inputs) (*run, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, in: in, log: textsafe.NewLogger(cfg.Log)}
	r.ecfg = cfg.ESXConfig(r.log, in.Entries)
	return r, nil
}

// check refuses targets that cannot be used, before anything is contacted
// (errkind.ErrInvalid).
func (cfg Config) check() error {
	switch {
	case cfg.Parallel < 0:
		return errkind.Invalidf("--parallel %d: give a number of hosts of 1 or more", cfg.Parallel)
	case len(cfg.ViHosts) > 0 && len(cfg.Servers) > 0:
		return errkind.Invalidf("--vihost selects hosts of the vCenter given with one --server; give standalone hosts with --server and no --vihost")
	case len(cfg.ViHosts) == 0 && len(cfg.Servers) == 0:
		return errkind.Invalidf("no host: give --server (repeatable), or --server VCENTER with --vihost PATTERN (repeatable)")
	case len(cfg.Servers) > 1 && cfg.Thumbprint != "":
		return errkind.Invalidf("a thumbprint pins one certificate: with several --server give their fingerprints in a known-hosts file (--known-hosts FILE, GOVC_TLS_KNOWN_HOSTS)")
	}
	if len(cfg.ViHosts) > 0 {
		if err := hostmatch.Validate(cfg.ViHosts); err != nil {
			return err
		}
		_, err := esx.ServerURL(cfg.Server)
		return err
	}
	seen := map[string]string{}
	var errs []error
	for _, s := range cfg.Servers {
		u, err := esx.ServerURL(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		key, err := tlspin.ServerKey(u.Host)
		if err != nil {
			errs = append(errs, errkind.Invalidf("server %q: %w", esx.DisplayServer(s), err))
			continue
		}
		if first, dup := seen[key]; dup {
			errs = append(errs, errkind.Invalidf("server %q is given twice (as %q too)", esx.DisplayServer(s), first))
		}
		seen[key] = esx.DisplayServer(s)
	}
	return errors.Join(errs...)
}

// parallel is the number of hosts worked on at a time.
func (cfg Config) parallel() int {
	if cfg.Parallel <= 0 {
		return DefaultParallel
	}
	return cfg.Parallel
}

// targets are the run's hosts, sorted by name; closeAll logs out of the
// vCenter. Its errors: the vCenter could not be reached (ErrConnect), a
// pattern selects nothing, two servers are one host (ErrInvalid).
func (r *run) targets(ctx context.Context) ([]*host, func(), error) {
	if len(r.cfg.ViHosts) > 0 {
		return r.vcenterTargets(ctx)
	}
	if err := r.oneHostTwice(ctx); err != nil {
		return nil, nil, err
	}
	var hosts []*host
	for _, s := range r.cfg.Servers {
		hosts = append(hosts, r.standalone(s))
	}
	return hosts, func() {}, nil
}

// oneHostTwice refuses, before any host is contacted, standalone servers
// that are one host under two names: names that resolve to the same
// address, with the same port (127.0.0.1:19001 and localhost:19001; a name
// and its address). Each would be read, checked and written as a host of
// its own, at the same time, and counted twice. A name that does not
// resolve is left to its dial to report. The check is by address only: a
// certificate is no proof of identity here, since hosts may share one (a
// wildcard certificate), and a host that is reached through two addresses
// (two VMkernel interfaces, a NAT) is not caught. With Config.Dial set
// (tests) the servers are not dialled, nor resolved.
func (r *run) oneHostTwice(ctx context.Context) error {
	if r.cfg.Dial != nil {
		return nil
	}
	timeout := r.cfg.Timeout
	if timeout <= 0 {
		timeout = esx.DefaultTimeout
	}
	first := map[string]string{} // address:port -> the first server there
	var errs []error
	for _, s := range r.cfg.Servers {
		u, err := esx.ServerURL(s)
		if err != nil {
			continue // check refused it
		}
		port := u.Port()
		if port == "" {
			port = "443"
		}
		lctx, cancel := context.WithTimeout(ctx, timeout)
		addrs, err := net.DefaultResolver.LookupIPAddr(lctx, u.Hostname())
		cancel()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			at := net.JoinHostPort(a.IP.String(), port)
			if f, ok := first[at]; ok && f != u.Host {
				errs = append(errs, errkind.Invalidf("servers %q and %q are one host: both are %s; give each host once (it would be written twice at once, and counted twice)", f, u.Host, at))
				break
			}
			first[at] = u.Host
		}
	}
	return errors.Join(errs...)
}

// standalone is a host of its own session: its certificate pinned by the
// known-hosts file if listed there.
func (r *run) standalone(server string) *host {
	ecfg := r.ecfg
	ecfg.Server = server
	u, _ := esx.ServerURL(server) // checked
	h := &host{name: u.Host}
	r.pin(&ecfg, h.name)
	dial := r.cfg.Dial
	if dial == nil {
		dial = job.DialHost
	}
	h.open = func(ctx context.Context) (tasks.Host, func() error, error) {
		r.log.Info("connecting", "server", h.name, "user", ecfg.Username)
		th, closeFn, err := dial(ctx, ecfg)
		if err != nil {
			return nil, nil, r.certHint(ecfg, h.name, err)
		}
		return th, closeFn, nil
	}
	return h
}

// pin pins the certificate of server name in ecfg by the known-hosts file,
// if it lists the server and no thumbprint was given: a mismatch then
// names the file and line (esx.Config.ThumbprintSource).
func (r *run) pin(ecfg *esx.Config, name string) {
	if r.cfg.KnownHosts == nil || ecfg.Thumbprint != "" {
		return
	}
	if k, ok := r.cfg.KnownHosts.Lookup(name); ok {
		ecfg.Thumbprint, ecfg.ThumbprintSource = k.Fingerprint.String(), KnownHostsSource(k)
	}
}

// KnownHostsSource is how a mismatch names the known-hosts line that
// pinned the certificate: "known-hosts FILE:LINE".
func KnownHostsSource(k tlspin.KnownHost) string { return "known-hosts " + k.Source() }

// certHint adds to a certificate error of server name, when a known-hosts
// file is given but does not list it, that its certificate was verified
// against the system's roots.
func (r *run) certHint(ecfg esx.Config, name string, err error) error {
	var (
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
	)
	if r.cfg.KnownHosts != nil && ecfg.ThumbprintSource == "" && (errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &hn)) {
		return fmt.Errorf("%w (%s is not in the known-hosts file, so its certificate was verified against the system's roots; add a line \"%s FINGERPRINT\", e.g. from govc about.cert -k -thumbprint)", err, name, name)
	}
	return err
}

// vcenterTargets logs in to the vCenter, lists its hosts once and selects
// them with the patterns; every selected host shares the session.
func (r *run) vcenterTargets(ctx context.Context) ([]*host, func(), error) {
	ecfg := r.ecfg
	name := esx.DisplayServer(ecfg.Server)
	if u, err := esx.ServerURL(ecfg.Server); err == nil {
		name = u.Host
	}
	r.pin(&ecfg, name)
	r.log.Info("connecting", "server", name, "user", ecfg.Username)
	vc, err := esx.DialVCenter(ctx, ecfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: vCenter %s: %w", errkind.ErrConnect, name, r.certHint(ecfg, name, err))
	}
	r.vc = vc
	closeVC := func() { esx.Logout(ctx, r.cfg.Grace, vc.Close, r.log) }
	listed, err := vc.Hosts(ctx)
	if err != nil {
		closeVC()
		return nil, nil, fmt.Errorf("%w: %w", errkind.ErrConnect, err)
	}
	byKey := map[string]esx.ManagedHost{}
	cands := make([]hostmatch.Host, len(listed))
	for i, mh := range listed {
		cands[i] = hostmatch.Host{Name: mh.Name, Path: mh.Path, Addresses: mh.Addresses}
		byKey[mh.Name+"\x00"+mh.Path] = mh
	}
	selected, err := hostmatch.Match(cands, r.cfg.ViHosts)
	if err != nil {
		closeVC()
		return nil, nil, fmt.Errorf("vCenter %s: %w", name, err)
	}
	var hosts []*host
	for _, c := range selected {
		vh, err := vc.ViHost(byKey[c.Name+"\x00"+c.Path])
		if err == nil {
			r.shared = append(r.shared, vh)
		}
		hosts = append(hosts, &host{name: c.Name, open: func(context.Context) (tasks.Host, func() error, error) {
			if err != nil {
				return nil, nil, err
			}
			return vh, func() error { return nil }, nil // the session is the vCenter's
		}})
	}
	r.log.Info("hosts selected", "vcenter", name, "user", vc.User(), "hosts", len(hosts), "of", len(listed))
	return hosts, closeVC, nil
}

// checkShared asks vCenter once for the session's privileges on all its
// hosts (esx.VCenter.CheckPrivileges), before they are checked.
func (r *run) checkShared(ctx context.Context) {
	if r.vc == nil {
		return
	}
	if err := r.vc.CheckPrivileges(ctx, r.shared); err != nil {
		// Each host then asks for itself.
		r.log.Warn("could not read the session's privileges on the hosts at once", "error", err.Error())
	}
}

// pool runs f on each host, at most n at a time, in order; it starts no
// host once stop says so (f is then not called for it).
func pool(hosts []*host, n int, stop func() bool, f func(*host)) {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, h := range hosts {
		sem <- struct{}{}
		if stop() {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(h)
		}()
	}
	wg.Wait()
}

// options are the engine's options for host h.
func (r *run) options(h *host) tasks.Options {
	opt := r.opt
	opt.Log = r.log.With("host", h.name)
	if r.cfg.HostProgress != nil {
		opt.Progress = func(res tasks.Result) { r.cfg.HostProgress(h.name, res) }
	}
	if r.cfg.FailFast {
		opt.Halt = func() error {
			if f := r.firstFailure(); f != "" {
				return fmt.Errorf("host %s failed (--fail-fast)", f)
			}
			return nil
		}
	}
	return opt
}

// failure records that host h failed, how says how ("host %s failed"; the
// first one is named by Halt and by the hosts FailFast does not read).
func (r *run) failure(h *host, how string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed == "" {
		r.failed, r.failedHow = h.name, fmt.Sprintf(how, h.name)
	}
}

func (r *run) firstFailure() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// prepareAll reads and checks every host, Parallel at a time; with
// FailFast none is started after one could not be reached or checked, or
// the list is invalid for it (nothing will be written anywhere then).
func (r *run) prepareAll(ctx context.Context, hosts []*host) {
	stop := func() bool { return ctx.Err() != nil || (r.cfg.FailFast && r.firstFailure() != "") }
	pool(hosts, r.cfg.parallel(), stop, func(h *host) {
		r.prepare(ctx, h)
		if how, stop := map[state]string{unreachable: "host %s could not be reached", unchecked: "host %s could not be read or checked", invalid: "the list is invalid for host %s", refused: "host %s refuses the list"}[h.state]; stop && r.cfg.FailFast {
			r.failure(h, how)
		}
	})
	for _, h := range hosts {
		if h.state != pending {
			continue
		}
		// Not started: stopped by a signal, or FailFast.
		why := fmt.Errorf("%w before this host was read: nothing was changed on it", errkind.ErrInterrupted)
		if ctx.Err() == nil {
			r.mu.Lock()
			how := r.failedHow
			r.mu.Unlock()
			r.end(h, notRead, fmt.Errorf("not read: %s (--fail-fast): nothing was changed on any host", how), nil)
			continue
		}
		r.end(h, notApplied, why, nil)
	}
}

// prepare reaches host h, reads it and checks every entry against it.
func (r *run) prepare(ctx context.Context, h *host) {
	th, closeFn, err := h.open(ctx)
	if err != nil {
		if ctx.Err() != nil {
			r.end(h, notApplied, fmt.Errorf("%w before anything was changed: %w", errkind.ErrInterrupted, err), nil)
			return
		}
		r.end(h, unreachable, fmt.Errorf("%w: %w", errkind.ErrConnect, err), nil)
		return
	}
	h.close = closeFn
	p, rep, err := tasks.Prepare(ctx, th, r.in.Entries, r.options(h))
	if rep.Host == "" {
		rep.Host = h.name
	}
	switch {
	case err == nil:
		h.state, h.prep, h.rep = prepared, p, &HostReport{Report: rep}
		return
	case errors.Is(err, errkind.ErrInvalid):
		r.end(h, invalid, err, rep)
	case errors.Is(err, errkind.ErrRefused):
		r.end(h, refused, err, rep)
	case errors.Is(err, errkind.ErrConnect):
		r.end(h, unchecked, err, rep)
	default: // interrupted
		r.end(h, notApplied, err, rep)
	}
	r.logout(ctx, h)
}

// applyAll applies the list to every prepared host, Parallel at a time —
// unless an entry is invalid for some host, the run was stopped, or, with
// FailFast, a host could not be reached or checked: then none is applied
// to.
func (r *run) applyAll(ctx context.Context, hosts []*host) {
	var ready []*host
	var bad, down, refusing []string
	for _, h := range hosts {
		switch h.state {
		case prepared:
			ready = append(ready, h)
		case invalid:
			bad = append(bad, h.name)
		case unreachable, unchecked:
			down = append(down, h.name)
		case refused:
			refusing = append(refusing, h.name)
		}
	}
	// Each message names the first host and counts the others: the run's
	// error lists them all, once.
	var why error
	switch {
	case len(bad) > 0:
		why = fmt.Errorf("not applied: the list is invalid for host %s: nothing was changed on any host", firstOf(bad))
	case len(refusing) > 0:
		why = fmt.Errorf("not applied: host %s refuses the list: nothing was changed on any host", firstOf(refusing))
	case ctx.Err() != nil:
		why = fmt.Errorf("%w before anything was changed: not applied", errkind.ErrInterrupted)
	case r.cfg.FailFast && len(down) > 0:
		why = fmt.Errorf("not applied: host %s could not be reached or checked (--fail-fast): nothing was changed on any host", firstOf(down))
	}
	if why != nil {
		for _, h := range ready {
			r.end(h, notApplied, why, h.rep.Report)
			r.logout(ctx, h)
		}
		return
	}
	stop := func() bool { return ctx.Err() != nil || (r.cfg.FailFast && r.firstFailure() != "") }
	pool(ready, r.cfg.parallel(), stop, func(h *host) {
		rep, err := h.prep.Apply(ctx)
		if err != nil && r.cfg.FailFast {
			r.failure(h, "host %s failed")
		}
		r.end(h, applied, err, rep)
		r.logout(ctx, h)
	})
	for _, h := range ready {
		if h.state != prepared {
			continue
		}
		// Not started: stopped by a signal, or FailFast.
		why := fmt.Errorf("%w before this host was applied to: nothing was changed on it", errkind.ErrInterrupted)
		if ctx.Err() == nil {
			why = fmt.Errorf("not applied: host %s failed (--fail-fast): nothing was changed on this host", r.firstFailure())
		}
		r.end(h, notApplied, why, h.rep.Report)
		r.logout(ctx, h)
	}
}

// firstOf names the first of names, and how many others there are:
// "esx01", "esx01 (and 2 others)".
func firstOf(names []string) string {
	switch len(names) {
	case 1:
		return names[0]
	case 2:
		return names[0] + " (and 1 other)"
	}
	return fmt.Sprintf("%s (and %d others)", names[0], len(names)-1)
}

// end records host h's final state and report (rep nil: the entries with
// structural problems invalid, the others not-run) and tells HostDone.
func (r *run) end(h *host, s state, err error, rep *tasks.Report) {
	if rep == nil {
		rep = r.in.Report(err)
		rep.Host = h.name
	}
	h.state, h.err = s, err
	rep.OK = err == nil
	if err != nil {
		rep.Error = err.Error()
	}
	status := map[state]string{unreachable: "unreachable", unchecked: "failed", invalid: "invalid", applied: "failed", notApplied: "not-run", notRead: "not-run", refused: "failed"}[s]
	if err == nil {
		status = "done"
	}
	h.rep = &HostReport{Report: rep, Unreachable: s == unreachable, status: status}
	r.log.Info("host done", "host", h.name, "ok", rep.OK)
	if r.cfg.HostDone != nil {
		r.cfg.HostDone(h.rep)
	}
}

// logout closes host h's session, if it has one of its own.
func (r *run) logout(ctx context.Context, h *host) {
	if h.close != nil {
		esx.Logout(ctx, r.cfg.Grace, h.close, r.log.With("host", h.name))
		h.close = nil
	}
}

// verdict is the run's error (see Run).
func (r *run) verdict(ctx context.Context, hosts []*host) error {
	by := map[state][]*host{}
	done := 0
	for _, h := range hosts {
		by[h.state] = append(by[h.state], h)
		if h.err == nil {
			done++
		}
	}
	lines := func(hs []*host) string {
		var b strings.Builder
		for _, h := range hs {
			for _, l := range r.problems(h) {
				fmt.Fprintf(&b, "\nhost %s: %s", h.name, l)
			}
		}
		return b.String()
	}
	if r.in.ListErr != nil {
		return r.listVerdict(hosts, by, lines)
	}
	switch {
	case len(by[invalid]) > 0:
		refusing := ""
		if n := len(by[refused]); n > 0 {
			refusing = fmt.Sprintf("\nand %d of %d hosts refuse it:%s", n, len(hosts), lines(by[refused]))
		}
		return fmt.Errorf("%w: nothing was changed on any host: the list is invalid for %d of %d hosts:%s%s", errkind.ErrInvalid, len(by[invalid]), len(hosts), lines(by[invalid]), refusing)
	case len(by[refused]) > 0:
		return fmt.Errorf("%w (%d of %d hosts): nothing was changed on any host:%s", errkind.ErrRefused, len(by[refused]), len(hosts), lines(by[refused]))
	case len(by[unreachable])+len(by[unchecked]) == len(hosts):
		return fmt.Errorf("%w: no host could be reached, logged in to, read or checked: nothing was changed:%s", errkind.ErrConnect, lines(hosts))
	case len(by[unreachable])+len(by[unchecked])+len(by[notRead]) == len(hosts):
		// FailFast stopped the read phase: the hosts read could not be.
		return fmt.Errorf("%w: no host could be reached, logged in to, read or checked, and --fail-fast read no other (%d not read): nothing was changed:%s", errkind.ErrConnect, len(by[notRead]), lines(slices.Concat(by[unreachable], by[unchecked])))
	case done == len(hosts):
		return nil
	}
	groups := []struct {
		what string
		hs   []*host
	}{{what: "failed"}, {what: "unreachable"}, {what: "could not be read or checked"}, {what: "not run"}}
	var listed []*host
	for _, h := range hosts {
		g := 0
		switch {
		case h.err == nil:
			continue
		case h.state == unreachable:
			g = 1
		case h.state == unchecked:
			g = 2
		case h.state == notApplied || h.state == notRead:
			g = 3
		}
		groups[g].hs = append(groups[g].hs, h)
	}
	msg := fmt.Sprintf("%d of %d hosts done", done, len(hosts))
	for _, g := range groups {
		if len(g.hs) > 0 {
			msg += fmt.Sprintf("; %d %s", len(g.hs), g.what)
			listed = append(listed, g.hs...)
		}
	}
	err := errors.New(msg + ":" + lines(listed))
	if ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", errkind.ErrInterrupted, err)
	}
	return err
}

// problems are host h's own findings, one a line: for a host the list is
// invalid for, what its check found (tasks.CheckError) without the engine's
// heading and without the list's structural problems, which the run
// reports once; else its error's lines.
func (r *run) problems(h *host) []string {
	var ce *tasks.CheckError
	if h.state != invalid || !errors.As(h.err, &ce) {
		return strings.Split(h.err.Error(), "\n")
	}
	var own []string
	for _, p := range ce.Problems {
		if _, structural := r.opt.Invalid[p.Index]; !structural {
			own = append(own, p.Msg)
		}
	}
	return own
}

// listVerdict is the run's error when the list has structural problems:
// they are reported once, then what each host read found wrong with the
// other entries, then the hosts that could not be read; exit 2, nothing
// was changed on any host.
func (r *run) listVerdict(hosts []*host, by map[state][]*host, lines func([]*host) string) error {
	var b strings.Builder
	var own []*host
	for _, h := range by[invalid] {
		if len(r.problems(h)) > 0 {
			own = append(own, h)
		}
	}
	switch {
	case len(own) > 0:
		fmt.Fprintf(&b, "\nthe other entries are invalid for %d of %d hosts:%s", len(own), len(hosts), lines(own))
	case len(by[invalid]) > 0:
		fmt.Fprintf(&b, "\nthe other entries are valid for the %d of %d hosts read", len(by[invalid]), len(hosts))
	}
	// Every host read ends invalid (the list is); the others were not
	// read: unreachable, unreadable, or not started (a signal).
	if down := slices.Concat(by[unreachable], by[unchecked], by[notApplied], by[notRead]); len(down) > 0 {
		fmt.Fprintf(&b, "\n%d of %d hosts could not be read, so the other entries were not checked against them:%s", len(down), len(hosts), lines(down))
	}
	return fmt.Errorf("%w: nothing was changed on any host:\n%w%s", errkind.ErrInvalid, r.in.ListErr, b.String())
}
