// Package esx is the vSphere side of esxi-manage-users: it connects to an
// ESXi host with govmomi and implements tasks.Host with one vSphere call per
// method. It adds no policy; faults are returned typed and described.
package esx

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/tlspin"
	"github.com/esxi-users/esxi-users/internal/vfault"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

// DefaultTimeout bounds every vSphere call when Config.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// maxIdleConns is the most idle connections a session keeps to its server:
// at least a fleet's largest sensible --parallel.
const maxIdleConns = 64

// Config says how to reach and log in to a host.
type Config struct {
	// Server is a host name, an IP address or a URL
	// (https://host[:port][/sdk]). Only https is accepted (ServerURL).
	// User information in a URL is ignored: use Username and Password.
	Server string
	// Username defaults to "root".
	Username string
	// Password is the login password.
	Password params.Password
	// Thumbprint pins the server certificate: a SHA-1 or SHA-256
	// fingerprint in any form tlspin.Parse accepts.
	Thumbprint string
	// ThumbprintSource, if set, says where Thumbprint came from (a
	// known-hosts file and line), for the mismatch error.
	ThumbprintSource string
	// Insecure skips certificate verification. It must be asked for.
	Insecure bool
	// VerifyPeer, if set, is called with the leaf certificate of every TLS
	// handshake with the server, after the pin or chain check passed; an
	// error fails the handshake, so nothing, not even the first request, is
	// sent over that connection. The DRP plugin records with it which
	// certificate a run logged in to (internal/destination).
	VerifyPeer func(leaf *x509.Certificate) error
	// RootCAs adds trusted roots (e.g. the simulator's certificate).
	RootCAs *x509.CertPool
	// Timeout bounds each vSphere call (DefaultTimeout when zero).
	Timeout time.Duration
	// Trace, if set, receives every SOAP request and response with
	// passwords and tokens removed. Sessions may share one: each request
	// and response is written whole.
	Trace io.Writer
	// TraceSecrets are more strings the trace and the log must never show (the
	// passwords being set), on top of secret SOAP elements.
	TraceSecrets []string
	// Login, if set, replaces user/password login (e.g. SSPI pass-through).
	// It must log the client in and return the session (its user name and
	// key are kept).
	Login func(ctx context.Context, c *vim25.Client) (*types.UserSession, error)
	// Retry bounds the recovery from transient faults (recover.go); the
	// zero value means tasks' defaults.
	Retry tasks.RetryPolicy
	// Log receives one line per retry and re-login; never a secret.
	Log *slog.Logger
	// WrapTransport, if set, wraps the HTTP transport (after Trace): tests
	// put network fault injection here.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Session is a logged-in vSphere connection that reconnects and logs in
// again after transient faults (recover.go). Close logs it out.
type Session struct {
	Client  *vim25.Client
	User    string // the session's user name
	Server  string // the server's host[:port]
	timeout time.Duration
	rec     *recovery
}

// Dial connects and logs in. The caller must Close the session. A Dial
// that fails closes what it opened.
func Dial(ctx context.Context, cfg Config) (_ *Session, err error) {
	u, err := ServerURL(cfg.Server)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	sc := soap.NewClient(u, cfg.Insecure)
	defer func() {
		if err != nil {
			sc.CloseIdleConnections()
		}
	}()
	if cfg.Thumbprint != "" {
		pin, err := tlspin.Parse(cfg.Thumbprint)
		if err != nil {
			return nil, fmt.Errorf("thumbprint: %w", err)
		}
		if err := tlspin.Pin(sc.DefaultTransport().TLSClientConfig, pin, cfg.ThumbprintSource); err != nil {
			return nil, err
		}
	}
	// The hosts of a fleet share a vCenter session and call it at the same
	// time: keep a connection for each (net/http keeps 2 by default, and
	// each one more would be a new TCP and TLS handshake per call).
	sc.DefaultTransport().MaxIdleConnsPerHost = maxIdleConns
	if cfg.RootCAs != nil {
		sc.DefaultTransport().TLSClientConfig.RootCAs = cfg.RootCAs
	}
	if cfg.VerifyPeer != nil {
		verifyPeer(sc.DefaultTransport().TLSClientConfig, cfg.VerifyPeer)
	}
	if cfg.Trace != nil {
		sc.Client.Transport = &traceTransport{next: sc.Client.Transport, w: cfg.Trace, secrets: append([]string{cfg.Password.Reveal()}, cfg.TraceSecrets...)}
	}
	if cfg.WrapTransport != nil {
		sc.Client.Transport = cfg.WrapTransport(sc.Client.Transport)
	}
	s := &Session{Server: u.Host, timeout: timeout, rec: newRecovery(cfg)}
	err = s.retrying(ctx, "RetrieveServiceContent", false, func(ctx context.Context) error {
		vc, err := vim25.NewClient(ctx, sc)
		s.Client = vc
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", u.Host, vfault.Describe(err))
	}
	vc := s.Client
	if cfg.Login != nil {
		s.rec.login = func(ctx context.Context) (*types.UserSession, error) { return cfg.Login(ctx, vc) }
		if err := s.retrying(ctx, "login", false, s.logIn); err != nil {
			return nil, fmt.Errorf("log in to %s: %w", u.Host, err)
		}
		return s, nil
	}
	user := cfg.Username
	if user == "" {
		user = "root"
	}
	if cfg.Password.IsZero() {
		return nil, fmt.Errorf("log in to %s as %s: no password given", u.Host, user)
	}
	s.rec.login = func(ctx context.Context) (*types.UserSession, error) {
		res, err := methods.Login(ctx, vc, &types.Login{
			This: *vc.ServiceContent.SessionManager, UserName: user, Password: cfg.Password.Reveal(), Locale: session.Locale,
		})
		if err != nil {
			return nil, err
		}
		us := res.Returnval
		us.UserName = user // as logged in with (vCenter may answer DOMAIN\\user)
		return &us, nil
	}
	// Only a lost answer is retried: a refusal (InvalidLogin, NoPermission)
	// is final, so a wrong password costs exactly one Login.
	if err := s.retrying(ctx, "login", false, s.logIn); err != nil {
		if IsFault(err, &types.NoPermission{}) {
			err = &LoginRefusedError{User: user, Err: vfault.Describe(err)}
		}
		return nil, fmt.Errorf("log in to %s as %s: %w", u.Host, user, vfault.Describe(err))
	}
	return s, nil
}

// verifyPeer makes tc call verify with the leaf certificate of every
// handshake, after its own VerifyConnection (a pin), if any.
func verifyPeer(tc *tls.Config, verify func(*x509.Certificate) error) {
	before := tc.VerifyConnection
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if before != nil {
			if err := before(cs); err != nil {
				return err
			}
		}
		if len(cs.PeerCertificates) == 0 {
			return tlspin.ErrNoCertificate
		}
		return verify(cs.PeerCertificates[0])
	}
}

// LoginRefusedError is a login the host refused with NoPermission: the
// credentials are right, but the user holds no permission on the host,
// which is also how ESXi refuses a user that is not an exception user while
// the host is in lockdown mode (the two cannot be told apart; see
// LockdownHint and internal/sim/esxsim/lockdown.go).
type LoginRefusedError struct {
	User string
	Err  error // the NoPermission fault, described
}

func (e *LoginRefusedError) Error() string {
	return fmt.Sprintf("the host refused the login (NoPermission): %s holds no permission on it, or the %s", e.User, LockdownHint)
}

func (e *LoginRefusedError) Unwrap() error { return e.Err }

// Close logs the session out and closes its idle connections: a closed
// session keeps no connection, and no goroutine, to its server (the
// transport would keep them for its idle timeout, 90 s: one per host of a
// rack). It uses its own timeout so that it also runs after the caller's
// context is done. A session the host already ended (NotAuthenticated), or
// whose login was refused, needs no logout.
func (s *Session) Close() error {
	defer s.Client.CloseIdleConnections()
	s.rec.mu.Lock()
	gone := s.rec.lost || s.rec.refused != nil
	s.rec.mu.Unlock()
	if gone {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	err := s.retrying(ctx, "Logout", false, func(ctx context.Context) error { return session.NewManager(s.Client).Logout(ctx) })
	if err != nil && !IsFault(err, &types.NotAuthenticated{}) {
		return fmt.Errorf("log out of %s: %w", s.Server, vfault.Describe(err))
	}
	return nil
}

// Logout runs closeSession (Session.Close, VCenter.Close, or the close
// func of a Dial) and logs its outcome. After ctx is done (a signal) it
// waits at most a fifth of grace (tasks.DefaultGrace when zero: the run has
// used the rest), so that the process ends in time even if the host does
// not answer; the host then ends the session when it times out.
func Logout(ctx context.Context, grace time.Duration, closeSession func() error, log *slog.Logger) {
	done := make(chan error, 1)
	go func() { done <- closeSession() }()
	var wait <-chan time.Time
	if ctx.Err() != nil {
		if grace <= 0 {
			grace = tasks.DefaultGrace
		}
		t := time.NewTimer(grace / 5)
		defer t.Stop()
		wait = t.C
	}
	select {
	case err := <-done:
		if err != nil {
			log.Warn("logout failed", "error", err.Error())
		} else {
			log.Info("logged out")
		}
	case <-wait:
		log.Warn("logout did not finish in time; the host ends the session when it times out")
	}
}

// logIn logs the client in (Config.Login, or the user and password) and
// keeps the session's user name and key.
func (s *Session) logIn(ctx context.Context) error {
	us, err := s.rec.login(ctx)
	if err != nil {
		return err
	}
	s.User = us.UserName
	s.rec.mu.Lock()
	s.rec.key = us.Key
	s.rec.gen++
	s.rec.mu.Unlock()
	return nil
}

// key is the current session's key ("" if unknown).
func (s *Session) key() string {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.key
}

// ServerURL turns a host name, address or URL into the SDK URL
// (https://host[:port]/sdk), without user information. Every connection
// (Dial: direct, through vCenter, guest-auth; job.Run checks it before
// anything else is done) goes through it. Its errors wrap errkind.ErrInvalid
// (exit 2): the input is wrong and nothing was contacted.
//
// Only https is accepted, whatever Config.Insecure says: ESXi and vCenter
// serve the vSphere API only over HTTPS (their reverse proxy's
// endpoints.conf maps /sdk with HTTP access "redirect"), and over
// http:// the login password and the passwords being set would cross the
// network in clear. Insecure skips certificate checks; it does not allow
// plaintext.
func ServerURL(server string) (*url.URL, error) {
	server = strings.TrimSpace(server)
	if server == "" {
		return nil, errkind.Invalidf("no server given")
	}
	// The scheme is read from the text, before parsing: a URL that does not
	// parse (a "#" in a password) must not slip through as scheme-less.
	if m := schemeRe.FindStringSubmatch(server); m != nil {
		switch scheme := strings.ToLower(m[1]); scheme {
		case "https":
		case "http":
			return nil, errkind.Invalidf("server %q: plain http:// is refused: ESXi serves its API only over HTTPS, and over http:// the login password and the new users' passwords would cross the network in clear (use https:// or no scheme; --insecure skips certificate checks, it does not allow plaintext)", DisplayServer(server))
		default:
			return nil, errkind.Invalidf("server %q: scheme %q is not supported: ESXi serves its API only over HTTPS (use https:// or no scheme)", DisplayServer(server), scheme)
		}
	}
	u, err := soap.ParseURL(server)
	if err != nil || u == nil || u.Host == "" || u.Scheme != "https" {
		return nil, errkind.Invalidf("server %q is not a host name, address or URL", DisplayServer(server))
	}
	u.User = nil
	return u, nil
}

// schemeRe matches a URL's scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" /
// "-" / "." )) followed by "://".
var schemeRe = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// DisplayServer is server as it may be shown in logs and reports: any
// "user:password@" is dropped.
func DisplayServer(server string) string { return redactUserinfo(strings.TrimSpace(server)) }

// redactUserinfo drops "user:password@" from a URL-ish string: everything
// up to the last "@", since a password may hold "@" (and "/", "#", "?").
func redactUserinfo(s string) string {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			return s[:j+3] + s[i+1:]
		}
		return s[i+1:]
	}
	return s
}
