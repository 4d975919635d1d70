package esxsim

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// hostAccessManager is a managed host's HostAccessManager
// (HostSystem.configManager.hostAccessManager), bound to the host's state.
//
// Source: vSphere API reference, HostAccessManager and HostAccessMode
// (https://developer.broadcom.com/xapis/vmware-storage-policy-api/8.0u2/vim.host.HostAccessManager.html,
// https://developer.broadcom.com/xapis/vsan-management-api/6.7U3/vim.host.HostAccessManager.AccessMode.html):
//
//   - accessAdmin / accessReadOnly / accessNoAccess: "a propagating Admin
//     [ReadOnly, NoAccess] role on the root inventory object (root folder)
//     on the host, and no other ... role on any other object";
//   - accessNone: "the user has no explicitly defined permissions or roles.
//     This is used when we want to remove all permissions for some user";
//   - accessOther: "a combination of one or more roles/permissions which are
//     none of the above"; passing it to ChangeAccessMode "is meaningless and
//     will result in InvalidArgument exception";
//   - ChangeAccessMode throws AuthMinimumAdminPermission ("the requested
//     change would result in a loss of full administrative privileges") and
//     SecurityError (lockdown mode, not simulated: lockdownMode is
//     lockdownDisabled).
//
// Assumed (not documented): an unknown principal or a group (no local
// groups, no domain) is answered with UserNotFound, as SetEntityPermissions
// does; accessNone for a principal without permissions succeeds.
type hostAccessManager struct {
	mo.HostAccessManager
	h *vcHost
}

func accessRole(mode string) (int32, bool) {
	switch types.HostAccessMode(mode) {
	case types.HostAccessModeAccessAdmin:
		return roleAdmin, true
	case types.HostAccessModeAccessReadOnly:
		return roleReadOnly, true
	case types.HostAccessModeAccessNoAccess:
		return roleNoAccess, true
	}
	return 0, false
}

// ChangeAccessMode sets or clears a principal's access to the host.
func (a *hostAccessManager) ChangeAccessMode(ctx *simulator.Context, req *types.ChangeAccessMode) soap.HasFault {
	body := new(methods.ChangeAccessModeBody)
	if f := injectedFault(ctx); f != nil {
		body.Fault_ = f
		return body
	}
	st := a.h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if f := a.change(req.Principal, req.IsGroup, string(req.AccessMode)); f != nil {
		st.tracef("ChangeAccessMode %s %q %s: fault %s", a.h.name, req.Principal, req.AccessMode, f.String)
		body.Fault_ = f
		return body
	}
	st.tracef("ChangeAccessMode %s %q %s: ok", a.h.name, req.Principal, req.AccessMode)
	body.Res = new(types.ChangeAccessModeResponse)
	return body
}

// change applies an access mode. st.mu must be held.
func (a *hostAccessManager) change(principal string, group bool, mode string) *soap.Fault {
	st := a.h.st
	if _, ok := st.users[principal]; !ok || group {
		return userNotFound(principal)
	}
	if mode == string(types.HostAccessModeAccessNone) {
		return a.clear(principal, nil)
	}
	role, ok := accessRole(mode)
	if !ok {
		return invalidArgument("accessMode")
	}
	if f := a.h.authz.setOne(st.root, types.Permission{Principal: principal, RoleId: role, Propagate: true}); f != nil {
		return f
	}
	// "and no other role on any other object"
	return a.clear(principal, &st.root)
}

// clear removes principal's permissions on every entity but keep.
// st.mu must be held.
func (a *hostAccessManager) clear(principal string, keep *types.ManagedObjectReference) *soap.Fault {
	st := a.h.st
	for _, ref := range st.sortedEntities() {
		if keep != nil && ref == *keep {
			continue
		}
		if indexPerm(st.perms[ref], principal, false) < 0 {
			continue
		}
		if f := st.removePermission(ref, principal, false); f != nil {
			return f
		}
	}
	return nil
}

// RetrieveHostAccessControlEntries lists every principal with a permission
// on the host and its access mode.
func (a *hostAccessManager) RetrieveHostAccessControlEntries(ctx *simulator.Context, req *types.RetrieveHostAccessControlEntries) soap.HasFault {
	st := a.h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	type key struct {
		principal string
		group     bool
	}
	var order []key
	all := map[key][]types.Permission{}
	for _, ref := range st.sortedEntities() {
		for _, p := range st.perms[ref] {
			k := key{p.Principal, p.Group}
			if _, seen := all[k]; !seen {
				order = append(order, k)
			}
			all[k] = append(all[k], p)
		}
	}
	res := &types.RetrieveHostAccessControlEntriesResponse{}
	for _, k := range order {
		mode := types.HostAccessModeAccessOther
		if ps := all[k]; len(ps) == 1 && ps[0].Entity != nil && *ps[0].Entity == st.root && ps[0].Propagate {
			switch ps[0].RoleId {
			case roleAdmin:
				mode = types.HostAccessModeAccessAdmin
			case roleReadOnly:
				mode = types.HostAccessModeAccessReadOnly
			case roleNoAccess:
				mode = types.HostAccessModeAccessNoAccess
			}
		}
		res.Returnval = append(res.Returnval, types.HostAccessControlEntry{Principal: k.principal, Group: k.group, AccessMode: mode})
	}
	return &methods.RetrieveHostAccessControlEntriesBody{Res: res}
}
