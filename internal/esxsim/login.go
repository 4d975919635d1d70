package esxsim

import "github.com/vmware/govmomi/vim25/types"

// validLogin is installed as vcsim's SessionManager.ValidLogin: a false
// answer makes Login fail with InvalidLogin ("Cannot complete login due to
// an incorrect user name or password."), the fault ESXi gives for a wrong
// user name or password (SessionManager.Login reference: "InvalidLogin: if
// there is no user with the given name and password").
//
// ESXi also refuses users that have no permission: "vCenter Server and ESX
// hosts deny access under the following circumstances: A user not in the
// user list attempts to log in. A user enters the wrong password. A user is
// in the list but was not assigned permissions." (vSphere 4.1 ESX
// Configuration Guide, "About Users, Groups, Permissions, and Roles",
// https://pubs.vmware.com/vsphere-4-esx-vcenter/topic/com.vmware.vsphere.server_configclassic.doc_41/esx_server_config/authentication_and_user_management/c_about_users_groups_permissions_and_roles.html;
// Host Client "Managing permissions": all other users "initially have no
// permissions on any object"; No Access "is the default role"). The fault
// for that case is not documented; InvalidLogin is used, which is what users
// report seeing (github.com/nsidc/vagrant-vsphere issue #153). A permission
// with any role but NoAccess (-5) on any entity allows login.
func (st *state) validLogin(req *types.Login) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.users[req.UserName]
	ok = ok && a.checkPassword(req.Password) && st.hasAccess(req.UserName)
	if ok {
		st.srv.logins.Add(1)
	}
	st.tracef("Login %q: %v", req.UserName, ok)
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
