package esxsim

import (
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Login as documented for SessionManager.Login (vSphere Web Services API
// reference; pyvmomi docs/vim/SessionManager.rst): "InvalidLogin: if the
// user and password combination is invalid", "NoPermission: if the user is
// valid, but has no access granted" (and "Login will fail if the user name
// and password are incorrect, or if the user is valid but has no permissions
// granted"). On ESXi a local user starts with no permission: "All other users
// initially have no permissions on any object" and No Access "is the default
// role" (Host Client "Managing permissions", vSphere Security "ESXi Users
// and Permissions"). A permission with any role but NoAccess (-5) on any
// entity grants access. A failed login is answered with ESXi's message
// (invalidLogin, faults.go), and counts towards the account lockout
// (lockout.go).
//
// vcsim's SessionManager cannot be wrapped (vcsim type-asserts it), so
// Server.handler decides every password login before vcsim sees it
// (checkLogin): a refused login is answered by loginDenied, an accepted one
// is approved for vcsim's Login, which asks validLogin (its ValidLogin hook)
// and creates the session. The login is decided once, so a failure is
// counted once.

// approvals are the Login requests checkLogin accepted, by request.
type approvals struct {
	mu sync.Mutex
	ok map[*types.Login]bool
}

func (a *approvals) approve(req *types.Login) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ok == nil {
		a.ok = map[*types.Login]bool{}
	}
	a.ok[req] = true
}

func (a *approvals) take(req *types.Login) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	ok := a.ok[req]
	delete(a.ok, req)
	return ok
}

// loginVerdict reports whether user/password are valid credentials and, if
// so, whether the user has access. It neither counts nor checks lockout.
func (st *state) loginVerdict(user, password string) (valid, access bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.users[user]
	if !ok || !a.checkPassword(password) {
		return false, false
	}
	return true, st.hasAccess(user)
}

// validLogin is vcsim's ValidLogin hook: true only for a login checkLogin
// approved.
func (st *state) validLogin(req *types.Login) bool {
	ok := st.approved.take(req)
	if ok {
		st.srv.logins.Add(1)
	}
	return ok
}

// hasAccess reports whether user has a permission other than NoAccess.
// st.mu must be held.
func (st *state) hasAccess(user string) bool {
	for _, perms := range st.perms {
		for _, p := range perms {
			if !p.Group && p.Principal == user && p.RoleId != roleNoAccess {
				return true
			}
		}
	}
	return false
}

// checkLogin is called by Server.handler for Login: it decides the login
// (password, lockout, access) and returns a stand-in SessionManager
// answering the fault, or nil (approved) to let vcsim's Login proceed.
func (st *state) checkLogin(ctx *simulator.Context, m *simulator.Method) *loginDenied {
	req, ok := m.Body.(*types.Login)
	if !ok || ctx.Session != nil {
		return nil // vcsim answers a second Login on a session itself
	}
	if f := st.attemptLogin(req.UserName, req.Password); f != nil {
		st.tracef("Login %q: %s", req.UserName, f.String)
		return &loginDenied{Self: m.This, fault: f}
	}
	st.tracef("Login %q: ok", req.UserName)
	st.approved.approve(req)
	return nil
}

// loginDenied answers Login with a fault.
type loginDenied struct {
	Self  types.ManagedObjectReference
	fault *soap.Fault
}

func (d *loginDenied) Reference() types.ManagedObjectReference { return d.Self }

func (d *loginDenied) Login(*types.Login) soap.HasFault {
	return &methods.LoginBody{Fault_: d.fault}
}

// loginNoAccess is the fault for valid credentials without access.
func loginNoAccess(root types.ManagedObjectReference) *soap.Fault {
	return noPermission(root, PrivSystemView)
}
