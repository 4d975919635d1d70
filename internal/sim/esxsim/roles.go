package esxsim

import (
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Role management (AuthorizationManager.AddAuthorizationRole,
// UpdateAuthorizationRole, RemoveAuthorizationRole), as documented in the
// vSphere Web Services API reference (pyvmomi docs/vim/AuthorizationManager.rst):
//
//   - AddAuthorizationRole "will add a user-defined role with given list of
//     privileges and three system-defined privileges, System.Anonymous,
//     System.View, and System.Read"; AlreadyExists "if a role with the given
//     name already exists"; InvalidName "if the role name is empty";
//     InvalidArgument "if privIds contains an unknown privilege";
//   - UpdateAuthorizationRole: NotFound "if the role does not exist, or if a
//     privilege in the list cannot be found"; InvalidName "if the new role
//     name is empty"; AlreadyExists "if another role with the given name
//     already exists"; InvalidArgument "if the role is a system role";
//   - RemoveAuthorizationRole: NotFound "if the role does not exist";
//     RemoveFailed "if failIfUsed is true and the role has permissions";
//     InvalidArgument "if the role is a system role".
//
// vcsim's own versions accept empty names, update and remove system roles,
// and leave permissions pointing at a removed role. The privileges a
// session needs for these calls are checked in privileges.go. Role ids of
// user-defined roles are not documented; they are numbered from 10 here.

// roleDef is a role as the privilege checks see it.
type roleDef struct {
	name   string
	system bool
	privs  []string
}

// firstUserRoleID is the id of the first user-defined role.
const firstUserRoleID int32 = 10

// loadRoles copies the role table of am into st (at install). The
// privilege lists are shared with am's roles, not copied: both are replaced,
// never changed in place. known, when not nil, is the privileges of am's
// Admin role (adminPrivileges), shared read-only between the hosts of a
// simulated vCenter, which all start with ESXi's role table: 200 hosts
// would otherwise each hold their own copy.
func (st *state) loadRoles(am *simulator.AuthorizationManager, known map[string]bool) {
	st.roles = map[int32]*roleDef{}
	st.nextRole = firstUserRoleID
	for _, r := range am.RoleList {
		st.roles[r.RoleId] = &roleDef{name: r.Name, system: r.System, privs: r.Privilege}
		if r.RoleId >= st.nextRole {
			st.nextRole = r.RoleId + 1
		}
	}
	if known == nil {
		known = adminPrivileges(am.RoleList)
	}
	st.knownPrivs = known
}

// adminPrivileges returns the privileges of the Admin role of roles: every
// privilege the host knows. It is never changed.
func adminPrivileges(roles []types.AuthorizationRole) map[string]bool {
	known := map[string]bool{}
	for _, r := range roles {
		if r.Name == "Admin" {
			for _, p := range r.Privilege {
				known[p] = true
			}
		}
	}
	return known
}

// privilegeList is AuthorizationManager.privilegeList, "List of
// system-defined privileges" (vSphere Web Services API,
// AuthorizationManager), for the privileges known: one
// AuthorizationPrivilege per privilege, sorted by id. vcsim leaves the list
// empty. The reference says only "privId: Unique identifier", "name:
// Privilege name", "privGroupName: Group name" and "onParent: Determines
// whether or not the privilege is applied on the parent entity"
// (https://developer.broadcom.com/xapis/vsphere-web-services-api/8.0u3/vim.AuthorizationManager.Privilege.html):
// name and group are taken as the parts of the id after and before its last
// dot ("System.Anonymous": group "System", name "Anonymous"), and onParent
// as false, which privileges ESXi applies on the parent not being
// documented.
func privilegeList(known map[string]bool) []types.AuthorizationPrivilege {
	ids := make([]string, 0, len(known))
	for id := range known {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	list := make([]types.AuthorizationPrivilege, len(ids))
	for i, id := range ids {
		group, name := "", id
		if j := strings.LastIndexByte(id, '.'); j >= 0 {
			group, name = id[:j], id[j+1:]
		}
		list[i] = types.AuthorizationPrivilege{PrivId: id, Name: name, PrivGroupName: group}
	}
	return list
}

// withSystemPrivileges returns privs plus the three system privileges,
// sorted and without duplicates.
func withSystemPrivileges(privs []string) []string {
	set := map[string]bool{}
	for _, p := range append(append([]string(nil), privs...), systemPrivileges...) {
		set[p] = true
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func invalidName(name string) *soap.Fault {
	return simulator.Fault("Name '"+name+"' is invalid.", &types.InvalidName{Name: name})
}

// userRole is the user-defined role id, or ESXi's fault for changing it:
// NotFound for an unknown id, InvalidArgument (roleId) for a system role.
// st.mu must be held.
func (st *state) userRole(id int32) (*roleDef, *soap.Fault) {
	r, ok := st.roles[id]
	switch {
	case !ok:
		return nil, notFound()
	case r.system:
		return nil, invalidArgument("roleId")
	}
	return r, nil
}

// roleSpecFault is the fault for giving role id the name and privileges
// privIDs, as AddAuthorizationRole and UpdateAuthorizationRole check them
// (see the top of this file): InvalidName for an empty name, AlreadyExists
// for the name of another role, and unknownPriv for a privilege the host
// does not know (the two calls document different faults). nil when they
// are fine. st.mu must be held.
func (st *state) roleSpecFault(id int32, name string, privIDs []string, unknownPriv func() *soap.Fault) *soap.Fault {
	if strings.TrimSpace(name) == "" {
		return invalidName(name)
	}
	for other, r := range st.roles {
		if other != id && r.name == name {
			return alreadyExists(name)
		}
	}
	for _, p := range privIDs {
		if !st.knownPrivs[p] {
			return unknownPriv()
		}
	}
	return nil
}

// AddAuthorizationRole adds a user-defined role.
func (m *authorizationManager) AddAuthorizationRole(ctx *simulator.Context, req *types.AddAuthorizationRole) soap.HasFault {
	body := new(methods.AddAuthorizationRoleBody)
	st := m.st
	st.mu.Lock()
	defer st.mu.Unlock()
	// The new role's id (st.nextRole) is no other role's.
	if f := st.roleSpecFault(st.nextRole, req.Name, req.PrivIds, func() *soap.Fault { return invalidArgument("privIds") }); f != nil {
		body.Fault_ = f
		return body
	}
	id := st.nextRole
	st.nextRole++
	privs := withSystemPrivileges(req.PrivIds)
	st.roles[id] = &roleDef{name: req.Name, privs: privs}
	m.RoleList = append(m.RoleList, types.AuthorizationRole{
		RoleId: id, Name: req.Name, System: false, Privilege: privs,
		Info: &types.Description{Label: req.Name, Summary: req.Name},
	})
	st.tracef("AddAuthorizationRole %q: id %d", req.Name, id)
	body.Res = &types.AddAuthorizationRoleResponse{Returnval: id}
	return body
}

// UpdateAuthorizationRole renames a user-defined role and/or replaces its
// privileges.
func (m *authorizationManager) UpdateAuthorizationRole(ctx *simulator.Context, req *types.UpdateAuthorizationRole) soap.HasFault {
	body := new(methods.UpdateAuthorizationRoleBody)
	st := m.st
	st.mu.Lock()
	defer st.mu.Unlock()
	r, f := st.userRole(req.RoleId)
	if f == nil {
		f = st.roleSpecFault(req.RoleId, req.NewName, req.PrivIds, notFound)
	}
	if f != nil {
		body.Fault_ = f
		return body
	}
	r.name = req.NewName
	if len(req.PrivIds) > 0 {
		r.privs = withSystemPrivileges(req.PrivIds)
	}
	for i := range m.RoleList {
		if m.RoleList[i].RoleId == req.RoleId {
			m.RoleList[i].Name = r.name
			m.RoleList[i].Privilege = append([]string(nil), r.privs...)
			m.RoleList[i].Info = &types.Description{Label: r.name, Summary: r.name}
		}
	}
	st.tracef("UpdateAuthorizationRole %d: ok", req.RoleId)
	body.Res = new(types.UpdateAuthorizationRoleResponse)
	return body
}

// RemoveAuthorizationRole removes a user-defined role and, unless
// failIfUsed, the permissions that use it.
func (m *authorizationManager) RemoveAuthorizationRole(ctx *simulator.Context, req *types.RemoveAuthorizationRole) soap.HasFault {
	body := new(methods.RemoveAuthorizationRoleBody)
	st := m.st
	st.mu.Lock()
	defer st.mu.Unlock()
	_, f := st.userRole(req.RoleId)
	if f != nil {
		body.Fault_ = f
		return body
	}
	used := false
	for _, perms := range st.perms {
		for _, p := range perms {
			used = used || p.RoleId == req.RoleId
		}
	}
	if used && req.FailIfUsed {
		body.Fault_ = simulator.Fault("The object or item referred to could not be removed: the role is in use.",
			&types.RemoveFailed{})
		return body
	}
	for ref, perms := range st.perms {
		kept := perms[:0:0]
		for _, p := range perms {
			if p.RoleId != req.RoleId {
				kept = append(kept, p)
			}
		}
		if len(kept) == 0 {
			delete(st.perms, ref)
		} else {
			st.perms[ref] = kept
		}
	}
	delete(st.roles, req.RoleId)
	for i := range m.RoleList {
		if m.RoleList[i].RoleId == req.RoleId {
			m.RoleList = append(m.RoleList[:i:i], m.RoleList[i+1:]...)
			break
		}
	}
	st.tracef("RemoveAuthorizationRole %d: ok", req.RoleId)
	body.Res = new(types.RemoveAuthorizationRoleResponse)
	return body
}
