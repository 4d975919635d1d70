// Package job runs esxi/manage-users end to end: decode and validate the
// Param, connect, read the host, check, apply, log out. The CLI and the DRP
// plugin both call Run; they differ only in where the input comes from and
// how the report is shown.
package job

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/passwdqc"
	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/internal/textsafe"
	"github.com/esxi-users/esxi-users/internal/tlspin"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

// Config is one run on one host: how it connects (Connection), what it
// does (Options), and what only a run on one host has.
type Config struct {
	Connection
	Options
	// ViHost, when set, makes Server a vCenter and names the ESXi host it
	// manages whose accounts are changed (esxcli's --vihost).
	ViHost string
	// Simulator, when set, starts a fresh in-process target for the run
	// instead of connecting to Server: the CLI's --simulate sets it to the
	// faithful simulator (esxsim.StartForRun). job links no simulator; the
	// shipped task binaries (built with -tags nosim) have none.
	Simulator Simulator
	// Progress is called with each entry's result as it is known.
	Progress func(tasks.Result)
	// Connected, if set, is called once the run has logged in, before the
	// host is read: an error stops the run with nothing changed (the DRP
	// plugin records the run's destination here).
	Connected func(ctx context.Context) error
}

// Connection is how a run reaches and logs in to its server: the CLI's
// connection flags, a machine's Params in DRP. A fleet (internal/fleet)
// reaches every host with one.
type Connection struct {
	// Server is a host name, IP or URL.
	Server, Username string
	Password         params.Password
	Thumbprint       string
	// ThumbprintSource, if set, says where Thumbprint came from (a
	// known-hosts file and line), for the mismatch error.
	ThumbprintSource string
	Insecure         bool
	// VerifyPeer, if set, checks the server's certificate on every TLS
	// handshake, before anything is sent (esx.Config.VerifyPeer).
	VerifyPeer func(leaf *x509.Certificate) error
	// PassThrough, when set, logs in with SSPI pass-through
	// (SessionManager.LoginBySSPI with Kerberos or SPNEGO tokens from the
	// caller's credentials) instead of Username/Password. An empty SPN
	// means host/<server host name>.
	PassThrough *sspi.Config
	// Timeout bounds each vSphere call (esx.DefaultTimeout when zero).
	Timeout time.Duration
	// Retry bounds the recovery from transient faults, the session's and
	// the engine's (zero: the defaults, tasks.RetryPolicy).
	Retry tasks.RetryPolicy
	// Trace receives the SOAP conversation with secrets removed.
	Trace io.Writer
	// Dial, if set, connects instead of esx.Dial (SSPI, vCenter, tests).
	Dial func(ctx context.Context, cfg esx.Config) (tasks.Host, func() error, error)
}

// Options are what a run does and how: the list, its ignore list, the
// checks before the first write, plan or apply, the time a stopped run
// takes to end, and its log.
type Options struct {
	// Input is the esxi/manage-users document, YAML or JSON.
	Input []byte
	// Ignore is esxi/manage-users-ignore-list (root and dcui always added).
	Ignore []string
	// PasswordPolicy overrides the host's Security.PasswordQualityControl.
	PasswordPolicy string
	// SkipPasswordCheck lets the host decide on passwords (no pre-check).
	SkipPasswordCheck bool
	// Plan reads the host and reports what would happen; nothing is written.
	Plan bool
	// AllowSelfLockout lets the list demote (a role other than Admin) or
	// remove the user the run logs in as and, through vCenter (ViHost),
	// vpxuser, the account vCenter manages the host with. Without it such
	// an entry is invalid (exit 2, nothing changed): on a real host every
	// later entry, and the next run, would fail, or the host would be cut
	// off from vCenter. CLI: --allow-self-lockout.
	AllowSelfLockout bool
	// Grace is how long a run whose context is cancelled (SIGINT/SIGTERM)
	// takes at most to end: the call in flight, the read back of its entry
	// and the logout (tasks.DefaultGrace when zero).
	Grace time.Duration
	// Log receives progress messages; never a secret. nil discards. Its
	// handler gets every message and attribute with control and
	// bidi-override characters escaped (textsafe.NewLogger): they may carry
	// host text.
	Log *slog.Logger
}

// Simulator starts an in-process target for one run: an ESXi host or,
// with vcenter (Config.ViHost set), a vCenter managing ESXi hosts. It
// returns the URL to connect to, with the login user and password in it,
// the PEM of the certificate it serves and a func that stops it, and logs
// what it started to log.
type Simulator func(vcenter bool, log *slog.Logger) (u *url.URL, certPEM []byte, stop func(), err error)

// Run decodes and validates cfg.Input (nothing is contacted if it is
// invalid), connects, and runs the engine. The error classifies with
// errkind.ExitCode and errkind.HTTPStatus; the report is never nil.
func Run(ctx context.Context, cfg Config) (*tasks.Report, error) {
	log := textsafe.NewLogger(cfg.Log)
	in, err := ReadInputs(cfg.Options)
	if err != nil {
		return in.Report(err), err
	}
	// invalid is the report of a run that stops before the engine: with the
	// list's own problems, if any.
	invalid := func(err error) (*tasks.Report, error) {
		err = in.WithList(err)
		return in.Report(err), err
	}
	if err := checkServer(cfg); err != nil {
		return invalid(err)
	}

	ecfg, stopSim, err := connection(cfg, in.Entries, log)
	if err != nil {
		return invalid(err)
	}
	defer stopSim()
	host, closeHost, err := dial(ctx, cfg, ecfg, log)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w before anything was changed: %w", errkind.ErrInterrupted, err)
		}
		err = in.Unchecked(err)
		r := in.Report(err)
		r.Host = ReportHost(cfg, ecfg.Server)
		return r, err
	}
	defer esx.Logout(ctx, cfg.Grace, closeHost, log)
	if cfg.Connected != nil {
		if err := cfg.Connected(ctx); err != nil {
			err = in.Unchecked(err)
			r := in.Report(err)
			r.Host = ReportHost(cfg, ecfg.Server)
			return r, err
		}
	}

	opt := in.Options(cfg.Retry)
	opt.Progress, opt.Log = cfg.Progress, log
	report, err := tasks.Run(ctx, host, in.Entries, opt)
	report, err = in.checked(report, err)
	if report.Host == "" {
		report.Host = ReportHost(cfg, ecfg.Server) // the host could not be read
	}
	log.Info("done", "host", report.Host, "ok", report.OK)
	return report, err
}

// Inputs are what a run reads before it contacts anything: the list, the
// ignore list and the run's options. A fleet (internal/fleet) reads them
// once for all its hosts.
type Inputs struct {
	Entries []params.Entry
	Ignore  params.IgnoreList
	// ListErr holds the list's structural problems when at least one entry
	// is well-formed: the run still reads the host and checks those
	// entries against it (tasks.Options.Invalid), reports every problem
	// together and writes nothing (exit 2).
	ListErr *params.ListError
	opt     Options
}

// ReadInputs decodes and validates o's list (see parse), ignore list and
// password-policy override, as Run does before contacting anything. Its
// errors wrap errkind.ErrInvalid and include the list's own problems; the
// entries are returned as far as they decoded.
func ReadInputs(o Options) (Inputs, error) {
	in := Inputs{opt: o}
	var err error
	in.Entries, in.ListErr, err = parse(o.Input)
	if err != nil {
		return in, err
	}
	if in.Ignore, err = params.NewIgnoreList(o.Ignore); err != nil {
		return in, in.WithList(err)
	}
	if o.PasswordPolicy != "" {
		if _, err := passwdqc.ParseESXi(o.PasswordPolicy); err != nil {
			return in, in.WithList(fmt.Errorf("%w: password policy override: %w", errkind.ErrInvalid, err))
		}
	}
	return in, nil
}

// Options are the engine's options for the run (Progress and Log are the
// caller's), with retry, the connection's policy: the entries with
// structural problems are in Invalid.
func (in Inputs) Options(retry tasks.RetryPolicy) tasks.Options {
	o := in.opt
	opt := tasks.Options{Ignore: in.Ignore, PasswordPolicy: o.PasswordPolicy, Plan: o.Plan,
		AllowSelfLockout: o.AllowSelfLockout, Retry: retry, Grace: o.Grace}
	if in.ListErr != nil {
		opt.Invalid = map[int][]string{}
		for _, e := range in.ListErr.Errs {
			opt.Invalid[e.Index] = append(opt.Invalid[e.Index], e.Msg)
		}
	}
	if !o.SkipPasswordCheck {
		opt.Checker = Passwdqc{}
	}
	return opt
}

// checked is the outcome of the engine on one host (tasks.Run or
// tasks.Prepare) for a list with structural problems: if the engine
// stopped before its checks (the host could not be read, a signal), the
// list's problems and that, exit 2 (the report already has the entries
// with structural problems invalid: tasks.Options.Invalid). Otherwise, and
// for a list without them, report and err are returned as they are.
func (in Inputs) checked(report *tasks.Report, err error) (*tasks.Report, error) {
	if in.ListErr == nil || errors.Is(err, errkind.ErrInvalid) {
		return report, err
	}
	if err == nil {
		err = errors.New("the list's other entries were not checked")
	}
	err = in.Unchecked(err)
	report.OK, report.Error = false, err.Error()
	return report, err
}

// Unchecked is err, why the host could not be read, for a run whose list
// has structural problems: those problems, then that the other entries
// were not checked against the host (notChecked) — exit 2. For a list
// without them it is err.
func (in Inputs) Unchecked(err error) error {
	if in.ListErr == nil {
		return err
	}
	return in.WithList(notChecked(err))
}

// notChecked is why a host's entries were not checked against it: err, the
// reason it could not be read.
func notChecked(err error) error {
	return fmt.Errorf("the host could not be read, so the other entries were not checked against it (roles, password policy, self-lockout, privileges): %w", err)
}

// WithList is err after the list's own problems, if any.
func (in Inputs) WithList(err error) error {
	if in.ListErr == nil {
		return err
	}
	return fmt.Errorf("%w\n%w", in.ListErr, err)
}

// Report is the report of a run that stops before the engine (err says
// why): each entry with a structural problem is invalid with its errors
// (from ListErr, or a *params.ListError in err), the others are not run.
func (in Inputs) Report(err error) *tasks.Report {
	r := &tasks.Report{Plan: in.opt.Plan, Time: time.Now().UTC(), Error: err.Error(), Results: []tasks.Result{}}
	le := in.ListErr
	if le == nil {
		errors.As(err, &le)
	}
	for i, e := range in.Entries {
		res := tasks.Result{Index: i, ID: e.ID, Operation: string(e.Operation), Outcome: tasks.NotRun}
		if e.Operation != params.OpRemove {
			res.Role = string(e.Role)
		}
		if le != nil {
			if errs := le.ByIndex(i); len(errs) > 0 {
				res.Outcome = tasks.Invalid
				msgs := make([]string, len(errs))
				for k, ee := range errs {
					msgs[k] = ee.Msg
				}
				res.Error = strings.Join(msgs, "; ")
			}
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// parse decodes and validates the list. A list whose entries are readable
// but some of them wrong (a *params.ListError) with at least one
// well-formed entry is returned with that error as listErr: the run goes
// on to check the other entries against the host, and writes nothing. err
// is a list that cannot be used at all (a syntax error, not an array, too
// large) or whose every entry is wrong: nothing is contacted.
func parse(input []byte) (entries []params.Entry, listErr *params.ListError, err error) {
	entries, err = params.Parse(input)
	if err == nil {
		return entries, nil, nil
	}
	if !errors.As(err, &listErr) {
		return entries, nil, err
	}
	for i := range entries {
		if len(listErr.ByIndex(i)) == 0 {
			return entries, listErr, nil
		}
	}
	return entries, nil, err
}

// ReportHost is how the report names the host when the run did not get
// to read it: the host given with --vihost, else the server's host[:port],
// without scheme, user information or path — as the report names it after
// reading the host (tasks.Snapshot.Host).
func ReportHost(cfg Config, server string) string {
	if cfg.ViHost != "" {
		return cfg.ViHost
	}
	if u, err := esx.ServerURL(server); err == nil {
		return u.Host
	}
	return esx.DisplayServer(server)
}

// checkServer refuses, before anything is contacted, a thumbprint that is
// not one (tlspin.Parse) and a server that is not https (esx.ServerURL: the one check every connection goes through, here
// run first so that nothing, not even the simulator, is started). The error
// wraps errkind.ErrInvalid (exit 2).
func checkServer(cfg Config) error {
	if cfg.Simulator != nil {
		return nil
	}
	if _, err := esx.ServerURL(cfg.Server); err != nil {
		return err
	}
	if cfg.Thumbprint != "" {
		if _, err := tlspin.Parse(cfg.Thumbprint); err != nil {
			return fmt.Errorf("thumbprint: %w", err)
		}
	}
	return nil
}

// ESXConfig is the esx.Config c connects with: server, credentials (a
// password, or SSPI pass-through), certificate checks, timeouts, retries,
// trace and log, with the passwords of entries (being set) among the
// strings the SOAP trace and the log's retry lines scrub.
func (c Connection) ESXConfig(log *slog.Logger, entries []params.Entry) esx.Config {
	ecfg := esx.Config{
		Server: c.Server, Username: c.Username, Password: c.Password,
		Thumbprint: c.Thumbprint, ThumbprintSource: c.ThumbprintSource, Insecure: c.Insecure,
		VerifyPeer: c.VerifyPeer, Timeout: c.Timeout, Trace: c.Trace, Retry: c.Retry, Log: log,
	}
	for _, e := range entries {
		ecfg.TraceSecrets = append(ecfg.TraceSecrets, e.Password.Reveal())
	}
	if c.PassThrough != nil {
		ecfg.Login = passThroughLogin(*c.PassThrough, log)
	}
	return ecfg
}

// connection builds the esx.Config of a run (Connection.ESXConfig),
// starting the simulator when asked (stop it with the returned func).
func connection(cfg Config, entries []params.Entry, log *slog.Logger) (esx.Config, func(), error) {
	ecfg := cfg.ESXConfig(log, entries)
	if cfg.Simulator == nil {
		return ecfg, func() {}, nil
	}
	u, certPEM, stop, err := cfg.Simulator(cfg.ViHost != "", log)
	if err != nil {
		return ecfg, nil, fmt.Errorf("%w: %w", errkind.ErrConnect, err)
	}
	pw, _ := u.User.Password()
	ecfg.Server, ecfg.Username, ecfg.Password = u.Host, u.User.Username(), params.NewPassword(pw)
	ecfg.RootCAs = x509.NewCertPool()
	ecfg.RootCAs.AppendCertsFromPEM(certPEM)
	return ecfg, stop, nil
}

// passThroughLogin logs a client in with LoginBySSPI, answering every
// SSPIChallenge, and returns the session.
func passThroughLogin(sc sspi.Config, log *slog.Logger) func(context.Context, *vim25.Client) (*types.UserSession, error) {
	return func(ctx context.Context, c *vim25.Client) (*types.UserSession, error) {
		us, err := sc.LoginClient(ctx, c)
		if err != nil {
			return nil, err
		}
		sc := sc.For(c.URL().Hostname())
		log.Info("logged in with SSPI pass-through", "user", us.UserName, "package", string(sc.Package), "spn", sc.SPN)
		return us, nil
	}
}

// dial connects with cfg.Dial or DialHost; errors wrap errkind.ErrConnect,
// except input the server refuted (errkind.ErrInvalid: a --vihost name that
// selects no host of the vCenter), which is invalid input, exit 2.
func dial(ctx context.Context, cfg Config, ecfg esx.Config, log *slog.Logger) (tasks.Host, func() error, error) {
	d := cfg.Dial
	if d == nil {
		d = DialHost
	}
	if cfg.ViHost != "" && cfg.Dial == nil {
		d = func(ctx context.Context, ec esx.Config) (tasks.Host, func() error, error) {
			h, closeFn, err := esx.DialViHost(ctx, ec, cfg.ViHost)
			if err != nil {
				return nil, nil, err
			}
			return h, closeFn, nil
		}
	}
	if ecfg.Login != nil {
		log.Info("connecting", "server", esx.DisplayServer(ecfg.Server), "login", "SSPI pass-through")
	} else {
		log.Info("connecting", "server", esx.DisplayServer(ecfg.Server), "user", ecfg.Username)
	}
	host, closeHost, err := d(ctx, ecfg)
	if errors.Is(err, errkind.ErrInvalid) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errkind.ErrConnect, err)
	}
	return host, closeHost, nil
}

// HostPasswordPolicy connects as cfg says and returns the host's
// Security.PasswordQualityControl ("" if the host has none).
func HostPasswordPolicy(ctx context.Context, cfg Config) (string, error) {
	snap, err := ReadHost(ctx, cfg)
	if err != nil {
		return "", err
	}
	return snap.PasswordPolicy, nil
}

// DialHost connects straight to an ESXi host with esx.Dial.
func DialHost(ctx context.Context, cfg esx.Config) (tasks.Host, func() error, error) {
	s, err := esx.Dial(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	h, err := esx.NewHost(s)
	if err != nil {
		return nil, nil, errors.Join(err, s.Close())
	}
	return h, s.Close, nil
}

// Passwdqc checks passwords with the project's pam_passwdqc port, reading
// the policy as ESXi does (default max=40).
type Passwdqc struct{}

// CheckPassword implements tasks.PasswordChecker.
func (Passwdqc) CheckPassword(policy, id, description string, pw params.Password) (string, error) {
	return passwdqc.CheckESXi(policy, id, description, pw.Reveal())
}
