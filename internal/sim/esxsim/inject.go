package esxsim

// Fault injection that a network proxy cannot do (the tests put Toxiproxy
// between client and simulator for resets, lost answers and latency): the
// host ending a session, and a hook that sees every request.
//
// A session the host has ended is answered NotAuthenticated: "Thrown when
// an operation is denied because the session has not yet successfully
// logged in" (vim.fault.NotAuthenticated, extends NoPermission, vSphere Web
// Services API reference,
// https://developer.broadcom.com/xapis/vsphere-web-services-api/7.0u1/vim.fault.NotAuthenticated.html).
// Hosts end idle sessions (30 minutes by default, the vmacore SOAP
// sessionTimeout; VMware KB 2040626), and a hostd restart ends them all;
// clients then see NotAuthenticated on their next call (pyvmomi issue #347:
// "connection ... does not persist for longer than 15 min inactive time").
// The fault's faultstring is empty, as vcsim answers an unauthenticated
// call (simulator.Service.call).

import (
	"sync"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// injector holds an endpoint's request hook and session expiry.
type injector struct {
	mu     sync.Mutex
	hook   func(n int, method string)
	expire func(n int, method string) bool // guarded by mu while called

	logins  atomic.Int64 // Login and LoginBySSPI requests, refused ones too
	logouts atomic.Int64
	expired atomic.Int64
}

// ExpireSessionAt makes the host end the session of the first
// authenticated request numbered k or later (numbered as Requests counts,
// from 1), as if the session had timed out or hostd had restarted: that
// request is answered NotAuthenticated without effect, and so is every
// later one on that session, until the client logs in again. k <= 0 turns it
// off. (`esxi-manage-users simulate --expire-session-at K`.)
func (e *endpoint) ExpireSessionAt(k int) {
	if k <= 0 {
		e.ExpireSessionsWhen(nil)
		return
	}
	fired := false
	e.ExpireSessionsWhen(func(n int, _ string) bool {
		if fired || n < k {
			return false
		}
		fired = true
		return true
	})
}

// ExpireSessionsWhen generalises ExpireSessionAt: the session of every
// authenticated request for which f(n, method) is true is ended, and the
// request answered NotAuthenticated. f is called one request at a time.
// nil turns it off.
func (e *endpoint) ExpireSessionsWhen(f func(n int, method string) bool) {
	e.inj.mu.Lock()
	e.inj.expire = f
	e.inj.mu.Unlock()
}

// OnRequest sets a function called with every request's number and method
// before the request is handled (nil: none). It may block, e.g. to hold a
// call while a test stops the client; other requests are served meanwhile.
func (e *endpoint) OnRequest(f func(n int, method string)) {
	e.inj.mu.Lock()
	e.inj.hook = f
	e.inj.mu.Unlock()
}

// LoginRequests returns the number of Login and LoginBySSPI requests
// received, refused ones included (Logins counts the successful ones).
func (e *endpoint) LoginRequests() int { return int(e.inj.logins.Load()) }

// LogoutRequests returns the number of Logout requests received.
func (e *endpoint) LogoutRequests() int { return int(e.inj.logouts.Load()) }

// ExpiredSessions returns the number of sessions ended by ExpireSessionAt
// or ExpireSessionsWhen.
func (e *endpoint) ExpiredSessions() int { return int(e.inj.expired.Load()) }

// intercept is called by the request handlers (Server.handler,
// VCenter.handler) with the request's number: it counts logins, runs the
// hook and, if the session is to expire, ends it and returns the fault to
// answer.
func (e *endpoint) intercept(ctx *simulator.Context, m *simulator.Method, n int64) types.BaseMethodFault {
	switch m.Name {
	case "Login", "LoginBySSPI":
		e.inj.logins.Add(1)
	case "Logout":
		e.inj.logouts.Add(1)
		if ctx.Session != nil && e.sessions != nil {
			e.sessions.closed(ctx.Session.Key)
		}
	}
	e.inj.mu.Lock()
	hook := e.inj.hook
	e.inj.mu.Unlock()
	if hook != nil {
		hook(int(n), m.Name)
	}
	if ctx.Session == nil {
		return nil
	}
	e.inj.mu.Lock()
	end := e.inj.expire != nil && e.inj.expire(int(n), m.Name)
	e.inj.mu.Unlock()
	if !end {
		return nil
	}
	e.inj.expired.Add(1)
	if e.sessions != nil {
		e.sessions.closed(ctx.Session.Key)
	}
	// The host forgets the session: its cookie no longer maps to one.
	ctx.Map.SessionManager().Logout(ctx, &types.Logout{})
	this := m.This
	return &types.NotAuthenticated{NoPermission: types.NoPermission{Object: &this, PrivilegeId: "System.View"}}
}
