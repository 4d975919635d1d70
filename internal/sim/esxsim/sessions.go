package esxsim

// A gauge of the sessions open on simulated hosts, for tests and
// benchmarks that bound how many hosts a client talks to at once (the
// esxi-users plugin's max-parallel-runs): a session opens when a password
// Login to a host (Server) succeeds and closes at its Logout, or when the
// host ends it (ExpireSessionAt; inject.go cites when real hosts do).

import (
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// SessionGauge counts the sessions open on one or more simulated hosts
// (Options.Sessions shares one) and the most that were open at once. The
// zero value is ready to use.
type SessionGauge struct {
	mu   sync.Mutex
	open map[string]bool // session keys (UUIDs: unique across hosts)
	peak int
}

// Open returns the sessions open now.
func (g *SessionGauge) Open() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.open)
}

// Peak returns the most sessions open at once since the gauge was made or
// ResetPeak was called.
func (g *SessionGauge) Peak() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak
}

// ResetPeak starts a new peak from the sessions open now.
func (g *SessionGauge) ResetPeak() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.peak = len(g.open)
}

func (g *SessionGauge) opened(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil {
		g.open = map[string]bool{}
	}
	g.open[key] = true
	g.peak = max(g.peak, len(g.open))
}

func (g *SessionGauge) closed(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.open, key)
}

// Sessions returns the gauge the host counts its sessions in
// (Options.Sessions, or its own).
func (s *Server) Sessions() *SessionGauge { return s.sessions }

// countedLogin stands in for the SessionManager on a Login that
// checkLogin approved: vcsim's Login creates the session, which the gauge
// then counts.
type countedLogin struct {
	Self  types.ManagedObjectReference
	gauge *SessionGauge
}

func (c *countedLogin) Reference() types.ManagedObjectReference { return c.Self }

func (c *countedLogin) Login(ctx *simulator.Context, req *types.Login) soap.HasFault {
	res := ctx.Map.SessionManager().Login(ctx, req)
	if body, ok := res.(*methods.LoginBody); ok && body.Res != nil {
		c.gauge.opened(body.Res.Returnval.Key)
	}
	return res
}

// HoldLogin holds the first Login request the host receives from now on
// until release is called (entered is closed when it arrives); other
// requests, later Logins included, are served meanwhile. Tests use it to
// keep a client's run in progress without timing. It replaces the
// OnRequest hook; release may be called more than once.
func (e *endpoint) HoldLogin() (entered <-chan struct{}, release func()) {
	in, gate := make(chan struct{}), make(chan struct{})
	var first, rel sync.Once
	e.OnRequest(func(_ int, method string) {
		if method != "Login" {
			return
		}
		held := false
		first.Do(func() { held = true; close(in) })
		if held {
			<-gate
		}
	})
	return in, func() { rel.Do(func() { close(gate) }) }
}
