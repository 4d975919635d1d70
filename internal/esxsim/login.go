package esxsim

import (
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
// entity grants access.
//
// vcsim's SessionManager cannot be wrapped (vcsim type-asserts it), so:
// validLogin is installed as its ValidLogin hook (false => InvalidLogin),
// and Server.handler answers a valid user without access with loginDenied.

// loginVerdict reports whether user/password are valid credentials and, if
// so, whether the user has access.
func (st *state) loginVerdict(user, password string) (valid, access bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.users[user]
	if !ok || !a.checkPassword(password) {
		return false, false
	}
	return true, st.hasAccess(user)
}

func (st *state) validLogin(req *types.Login) bool {
	valid, access := st.loginVerdict(req.UserName, req.Password)
	ok := valid && access
	if ok {
		st.srv.logins.Add(1)
	}
	st.tracef("Login %q: valid=%v access=%v", req.UserName, valid, access)
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

// checkLogin is called by Server.handler for Login: it returns a stand-in
// SessionManager answering NoPermission for a valid user without access,
// or nil to let vcsim's Login (with validLogin) proceed.
func (st *state) checkLogin(ctx *simulator.Context, m *simulator.Method) *loginDenied {
	req, ok := m.Body.(*types.Login)
	if !ok || ctx.Session != nil {
		return nil
	}
	if valid, access := st.loginVerdict(req.UserName, req.Password); valid && !access {
		st.tracef("Login %q: valid=true access=false: NoPermission", req.UserName)
		return &loginDenied{Self: m.This, root: st.root}
	}
	return nil
}

// loginDenied answers Login with NoPermission.
type loginDenied struct {
	Self types.ManagedObjectReference
	root types.ManagedObjectReference
}

func (d *loginDenied) Reference() types.ManagedObjectReference { return d.Self }

func (d *loginDenied) Login(*types.Login) soap.HasFault {
	root := d.root
	f := &types.NoPermission{Object: &root, PrivilegeId: "System.View"}
	return &methods.LoginBody{Fault_: simulator.Fault("Permission to perform this operation was denied.", f)}
}
