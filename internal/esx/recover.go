package esx

// How a Session survives transient faults. Real host networks drop
// connections, hostd restarts, and sessions expire (vim.fault.NotAuthenticated:
// "the session has not yet successfully logged in" — also after the host
// ended it: config.vmacore.soap.sessionTimeout, or hostd restarting). So:
//
//   - reads (and connecting, logging in, logging out) are retried: at most
//     RetryPolicy.Attempts attempts per call, with backoff, never past its
//     deadline. Before a retry the idle connections are closed (the next
//     attempt dials a new TCP and TLS connection) and, after NotAuthenticated,
//     the session logs in again with the same credential source (password,
//     or Config.Login: SSPI pass-through from a Kerberos cache or keytab);
//   - writes are made once: an expired session is renewed and the error
//     wraps errkind.ErrNotApplied (the host did not act: the engine repeats
//     the call); a lost answer wraps errkind.ErrUncertain (the engine reads the
//     host before it writes anything again);
//   - a refused login (InvalidLogin, NoPermission, any fault answering a
//     login) is final: never retried, and after one the session makes no
//     more calls. A retry loop must never be what locks an account out
//     (ESXi locks an account after Security.AccountLockFailures failed
//     logins, 5 by default).
//
// Each retry is one line in Config.Log.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/tlspin"
	"github.com/esxi-users/esxi-users/internal/vfault"
	"github.com/esxi-users/esxi-users/tasks"
)

// errKind is what a failed call's error means for recovery.
type errKind int

const (
	// kindFinal: the host answered with a fault, or the problem is one a
	// retry cannot cure (a certificate mismatch, a bad argument).
	kindFinal errKind = iota
	// kindSession: NotAuthenticated, the session expired or was ended.
	kindSession
	// kindTransport: the connection failed, or the answer was lost or late.
	kindTransport
)

func (k errKind) String() string {
	switch k {
	case kindSession:
		return "the session expired (NotAuthenticated): logging in again"
	case kindTransport:
		return "the connection failed or the answer was lost: reconnecting"
	}
	return "final"
}

// httpStatusLine is the text of govmomi's error for an HTTP answer that is
// not SOAP.
var httpStatusLine = regexp.MustCompile(`^([1-5][0-9][0-9]) `)

// classify tells faults (the host answered) from transport errors.
func classify(err error) errKind {
	if err == nil {
		return kindFinal
	}
	// The server answered with a fault: what it means is the fault
	// table's (internal/vfault).
	if k, ok := vfault.KindOf(err); ok {
		if k == vfault.Session {
			return kindSession
		}
		return kindFinal
	}
	var (
		thumb *tlspin.MismatchError
		cve   *tls.CertificateVerificationError
		ua    x509.UnknownAuthorityError
		hn    x509.HostnameError
		ci    x509.CertificateInvalidError
	)
	if errors.As(err, &thumb) || errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) {
		return kindFinal
	}
	if code, ok := httpStatus(err); ok {
		// A proxy's or a restarting host's answer that is not SOAP:
		// 502, 503, 504 pass; 4xx do not.
		if code >= 500 {
			return kindTransport
		}
		return kindFinal
	}
	var (
		ne  net.Error
		rhe tls.RecordHeaderError
		ae  tls.AlertError
		se  *xml.SyntaxError
	)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return kindTransport
	case errors.As(err, &ne), errors.As(err, &rhe), errors.As(err, &ae):
		return kindTransport
	case errors.As(err, &se) && se.Msg == "unexpected EOF":
		return kindTransport
	}
	return kindFinal
}

// httpStatus finds govmomi's error for an HTTP answer that is not SOAP (its
// type is unexported: an error with Temporary but no Timeout, whose text
// is the status line) and returns the status code.
func httpStatus(err error) (int, bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if _, isNet := e.(net.Error); isNet {
			continue
		}
		if _, ok := e.(interface{ Temporary() bool }); !ok {
			continue
		}
		if m := httpStatusLine.FindStringSubmatch(e.Error()); m != nil {
			var code int
			fmt.Sscan(m[1], &code)
			return code, true
		}
	}
	return 0, false
}

// recovery is the state a Session keeps to recover.
type recovery struct {
	retry tasks.RetryPolicy
	log   *slog.Logger
	// login logs the session's client in (again); it returns the session.
	login func(ctx context.Context) (*types.UserSession, error)
	// secrets are never logged (the login password, the list's passwords).
	secrets []string

	mu      sync.Mutex
	key     string // the current session's key (UserSession.key)
	lost    bool   // NotAuthenticated was seen: log in before the next call
	refused error  // a login was refused: final
	// gen counts the logins. Callers share a session (the hosts of a fleet
	// through one vCenter): a NotAuthenticated answering a call sent before
	// another caller logged in again is about the old session, and does
	// not make the new one lost (which would log in once per caller).
	gen uint64
}

// generation is the number of the current login.
func (s *Session) generation() uint64 {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return s.rec.gen
}

func newRecovery(cfg Config) *recovery {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &recovery{retry: cfg.Retry.WithDefaults(), log: log, secrets: append([]string{cfg.Password.Reveal()}, cfg.TraceSecrets...)}
}

// once makes one attempt of f with the per-call timeout; gen is the login
// it was made with.
func (s *Session) once(ctx context.Context, f func(context.Context) error) (gen uint64, err error) {
	gen = s.generation()
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return gen, f(cctx)
}

// failed notes what err, the answer to a call made with login gen, means
// for the session and returns its kind.
func (s *Session) failed(err error, gen uint64) errKind {
	k := classify(err)
	switch k {
	case kindSession:
		s.rec.mu.Lock()
		if s.rec.gen == gen {
			s.rec.lost = true
		}
		s.rec.mu.Unlock()
	case kindTransport:
		if s.Client != nil {
			s.Client.CloseIdleConnections() // the next call dials anew
		}
	}
	return k
}

// renew logs in again if the session was lost. A refused login is kept and
// returned from then on: no second Login is ever sent after a refusal.
func (s *Session) renew(ctx context.Context) error {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if s.rec.refused != nil {
		return s.rec.refused
	}
	if !s.rec.lost || s.rec.login == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	us, err := s.rec.login(cctx)
	if err != nil {
		err = fmt.Errorf("log in again to %s: %w", s.Server, vfault.Describe(err))
		if k := classify(err); k == kindFinal && ctx.Err() == nil {
			s.rec.refused = err
		}
		return err
	}
	s.rec.lost = false
	s.rec.key = us.Key
	s.rec.gen++
	s.rec.log.Info("logged in again", "server", s.Server, "user", us.UserName)
	return nil
}

// retrying runs f, a call that does not change the host, retrying
// transport failures and (with relogin) an expired session.
func (s *Session) retrying(ctx context.Context, what string, relogin bool, f func(context.Context) error) error {
	first := time.Now()
	for failures := 0; ; {
		var err error
		gen := s.generation()
		if relogin {
			err = s.renew(ctx)
		}
		if err == nil {
			if gen, err = s.once(ctx, f); err == nil {
				return nil
			}
		}
		k := s.failed(err, gen)
		if k == kindSession && !relogin {
			k = kindFinal // nothing to renew (logging in, logging out)
		}
		failures++
		if k == kindFinal || ctx.Err() != nil {
			return err
		}
		wait, again := s.rec.retry.Retry(failures, first)
		if !again {
			return fmt.Errorf("%w (gave up after %d attempts)", err, failures)
		}
		s.rec.log.Warn("retrying", "server", s.Server, "call", what, "attempt", failures+1, "of", s.rec.retry.Attempts,
			"after", wait, "reason", k.String(), "error", string(Redact([]byte(err.Error()), s.rec.secrets...)))
		if tasks.Sleep(ctx, wait) != nil {
			return err
		}
	}
}

// read runs an idempotent call with retries (see the top of this file).
func (s *Session) read(ctx context.Context, what string, f func(context.Context) error) error {
	return s.retrying(ctx, what, true, f)
}

// write runs a call that changes the host once. Its error wraps
// errkind.ErrNotApplied when the host did not act on it (the session had
// expired: it is renewed before the next call) and errkind.ErrUncertain when
// its answer was lost.
func (s *Session) write(ctx context.Context, what string, f func(context.Context) error) error {
	if err := s.renew(ctx); err != nil {
		if classify(err) == kindTransport && ctx.Err() == nil {
			return fmt.Errorf("%s: %w: %w", what, errkind.ErrNotApplied, err)
		}
		return err
	}
	gen, err := s.once(ctx, f)
	if err == nil {
		return nil
	}
	switch s.failed(err, gen) {
	case kindSession:
		return fmt.Errorf("%w: %w", errkind.ErrNotApplied, err)
	case kindTransport:
		return fmt.Errorf("%w: %w", errkind.ErrUncertain, err)
	}
	return err
}
