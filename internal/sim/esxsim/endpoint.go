package esxsim

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// endpoint is what Server and VCenter share: a vcsim model served over
// HTTPS with its own self-signed certificate, request counters, and
// injection of a fault at the k-th write.
type endpoint struct {
	// URL is https://<user>:<password>@127.0.0.1:PORT/sdk (govc GOVC_URL form).
	URL *url.URL
	// Thumbprint is the SHA-1 fingerprint of the TLS certificate in govc's
	// form "AA:BB:...".
	Thumbprint string
	// SHA256 is the certificate's SHA-256 fingerprint in the same form
	// (what govc about.cert -thumbprint prints).
	SHA256 string
	// CertPEM is the self-signed certificate, to verify TLS without
	// --insecure (add it to a root CA pool).
	CertPEM []byte

	cert  tls.Certificate
	model *simulator.Model
	srv   *simulator.Server

	requests atomic.Int64
	writes   atomic.Int64
	logins   atomic.Int64

	failMu    sync.Mutex
	failWrite int64
	failFault types.BaseMethodFault

	inj injector // session expiry and a request hook (inject.go)

	// sessions counts the host's open sessions (sessions.go); nil for a
	// vCenter, whose sessions are not counted.
	sessions *SessionGauge

	closeOnce sync.Once
}

// newEndpoint makes the certificate for listen's host and sets up fault
// injection.
func newEndpoint(listen string, failWrite int, failFault types.BaseMethodFault) (*endpoint, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("esxsim: Listen %q: %w", listen, err)
	}
	cert, certPEM, err := selfSignedCert(host)
	if err != nil {
		return nil, err
	}
	e := &endpoint{CertPEM: certPEM, cert: cert}
	fingerprint := func(sum []byte) string {
		hexes := make([]string, len(sum))
		for i, b := range sum {
			hexes[i] = fmt.Sprintf("%02X", b)
		}
		return strings.Join(hexes, ":")
	}
	sum1, sum256 := sha1.Sum(cert.Certificate[0]), sha256.Sum256(cert.Certificate[0])
	e.Thumbprint, e.SHA256 = fingerprint(sum1[:]), fingerprint(sum256[:])
	e.SetFailWrite(failWrite, failFault)
	return e, nil
}

// start creates the model (create: build and Create it), lets install
// patch it and serves it over HTTPS on listen, with user/password as the
// login put in URL; the model is removed again if anything fails. vcsim's
// model construction and teardown touch package-level state (e.g.
// LicenseManager.init appends to a global slice), so servers are created
// and removed one at a time (vcsimMu); once running they are independent.
func (e *endpoint) start(create func() (*simulator.Model, error), install func(*simulator.Model) error, listen, user, password string) (err error) {
	vcsimMu.Lock()
	defer vcsimMu.Unlock()
	model, err := create()
	if err != nil {
		return fmt.Errorf("esxsim: model: %w", err)
	}
	e.model = model
	defer func() {
		if err != nil {
			model.Remove()
		}
	}()
	if err := install(model); err != nil {
		return err
	}
	// API versions (apiversion.go), routed before NewServer registers
	// vcsim's handlers.
	api, err := newAPIService(model)
	if err != nil {
		return err
	}
	if model.Service.ServeMux == nil {
		model.Service.ServeMux = http.NewServeMux()
	}
	api.install(model.Service.ServeMux, model.Map().Path)
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{e.cert}}
	model.Service.Listen = &url.URL{Host: listen, User: url.UserPassword(user, password)}
	// simulator's NewServer panics when it cannot listen.
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("esxsim: listen on %s: %v", listen, r)
			}
		}()
		e.srv = model.Service.NewServer()
	}()
	if err != nil {
		return err
	}
	addr := e.srv.Listener.Addr().(*net.TCPAddr)
	e.URL = &url.URL{
		Scheme: "https",
		User:   url.UserPassword(user, password),
		Host:   net.JoinHostPort(addr.IP.String(), fmt.Sprint(addr.Port)),
		Path:   "/sdk",
	}
	return nil
}

// Client is an independent vSphere client of the simulator (govmomi's own,
// not the code under test) that trusts its certificate and is logged in as
// URL's user; logout ends the session. Tests of other packages read the
// simulator's state through it.
func (e *endpoint) Client(ctx context.Context) (c *vim25.Client, logout func(), err error) {
	sc := soap.NewClient(&url.URL{Scheme: "https", Host: e.URL.Host, Path: "/sdk"}, false)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CertPEM)
	sc.DefaultTransport().TLSClientConfig.RootCAs = pool
	if c, err = vim25.NewClient(ctx, sc); err != nil {
		return nil, nil, err
	}
	m := session.NewManager(c)
	if err := m.Login(ctx, e.URL.User); err != nil {
		return nil, nil, err
	}
	return c, func() { m.Logout(context.Background()) }, nil
}

// created returns a func that builds model and creates it (for start).
func created(model *simulator.Model) func() (*simulator.Model, error) {
	return func() (*simulator.Model, error) { return model, model.Create() }
}

// Close stops the server and releases the model.
func (e *endpoint) Close() {
	e.closeOnce.Do(func() {
		if e.srv != nil {
			e.srv.Close()
		}
		if e.model != nil {
			vcsimMu.Lock()
			e.model.Remove()
			vcsimMu.Unlock()
		}
	})
}

// Writes returns the number of write calls received so far. Every write is
// counted when it arrives, whatever its outcome: calls that are then
// rejected (validation faults, injected faults, even unauthenticated ones)
// count too. Which calls are writes: see Server and VCenter.
func (e *endpoint) Writes() int { return int(e.writes.Load()) }

// Requests returns the number of SOAP requests received so far.
func (e *endpoint) Requests() int { return int(e.requests.Load()) }

// Logins returns the number of successful logins.
func (e *endpoint) Logins() int { return int(e.logins.Load()) }

// SetFailWrite makes the k-th write call fail with fault f (nil: a
// SystemError "injected fault"). k is an absolute count from server start,
// as reported by Writes: SetFailWrite(s.Writes()+1, f) fails the next write.
// Only one write fails; k <= 0 disables injection. A failed write has no
// effect on the simulated host. The fault is answered after authentication:
// if the k-th write is an unauthenticated call, it gets NotAuthenticated and
// nothing is injected; if the session lacks the privilege for it, it gets
// NoPermission (privileges.go) and nothing is injected either.
func (e *endpoint) SetFailWrite(k int, f types.BaseMethodFault) {
	if f == nil {
		f = &types.SystemError{Reason: "injected fault"}
	}
	e.failMu.Lock()
	e.failWrite = int64(k)
	e.failFault = f
	e.failMu.Unlock()
}

// countWrite counts a write and, if it is the k-th, marks the request for
// the injected fault and returns its number and fault (nil otherwise). The
// fault is answered by the account or authorization manager itself
// (injectedFault), after authentication, with a proper fault message:
// returned from the registry handler it would leave the SOAP faultstring
// empty, and vcsim ignores a handler override for authenticated sessions.
func (e *endpoint) countWrite(ctx *simulator.Context) (int64, types.BaseMethodFault) {
	n := e.writes.Add(1)
	e.failMu.Lock()
	k, f := e.failWrite, e.failFault
	e.failMu.Unlock()
	if n != k {
		return n, nil
	}
	injectFault(ctx, f)
	return n, f
}

// injectFault marks the request for the injected fault f (see countWrite).
func injectFault(ctx *simulator.Context, f types.BaseMethodFault) {
	parent := ctx.Context
	if parent == nil {
		parent = context.Background()
	}
	ctx.Context = context.WithValue(parent, injectKey{}, f)
}
