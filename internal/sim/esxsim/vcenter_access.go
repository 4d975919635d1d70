package esxsim

import (
	"fmt"
	"slices"

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
//     SecurityError "if the host is in lockdown mode and 'principal' is not
//     in the exceptions list" (lockdown.go);
//   - lockdownMode, ChangeLockdownMode, QueryLockdownExceptions,
//     UpdateLockdownExceptions and QuerySystemUsers: lockdown.go.
//
// Assumed (not documented): an unknown principal or a group (no local
// groups, no domain) is answered with UserNotFound, as SetEntityPermissions
// does; accessNone for a principal without permissions succeeds.
//
// A standalone host has one too (HostSystem.configManager.hostAccessManager
// on ESXi); its caller is the session's user.
type hostAccessManager struct {
	mo.HostAccessManager
	st    *state
	authz *authorizationManager // the host's role table and permission rules
	name  string                // the host's name, for the trace
	host  types.ManagedObjectReference
	// viaVCenter: reached through a vCenter, whose calls act as vpxuser.
	viaVCenter bool
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
	body.Fault_ = a.st.answer(ctx, "ChangeAccessMode", func() (string, *soap.Fault) {
		a.st.mu.Lock()
		defer a.st.mu.Unlock()
		return fmt.Sprintf("%s %s %s", a.name, req.Principal, req.AccessMode), a.change(req.Principal, req.IsGroup, string(req.AccessMode))
	})
	if body.Fault_ == nil {
		body.Res = new(types.ChangeAccessModeResponse)
	}
	return body
}

// change applies an access mode. st.mu must be held.
func (a *hostAccessManager) change(principal string, group bool, mode string) *soap.Fault {
	st := a.st
	if _, ok := st.users[principal]; !ok || group {
		return userNotFound(principal)
	}
	if f := st.lockdownGuard(principal, group); f != nil {
		return f
	}
	if mode == string(types.HostAccessModeAccessNone) {
		return a.clear(principal, nil)
	}
	role, ok := accessRole(mode)
	if !ok {
		return invalidArgument("accessMode")
	}
	if f := a.authz.setOne(st.root, types.Permission{Principal: principal, RoleId: role, Propagate: true}); f != nil {
		return f
	}
	// "and no other role on any other object"
	return a.clear(principal, &st.root)
}

// clear removes principal's permissions on every entity but keep.
// st.mu must be held.
func (a *hostAccessManager) clear(principal string, keep *types.ManagedObjectReference) *soap.Fault {
	st := a.st
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
	st := a.st
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

// caller is the host user a call acts as: vpxuser through vCenter, the
// session's user on a direct connection.
func (a *hostAccessManager) caller(ctx *simulator.Context) string {
	if a.viaVCenter {
		return vcenterAgent
	}
	if ctx == nil || ctx.Session == nil {
		return ""
	}
	return ctx.Session.UserName
}

// ChangeLockdownMode changes the host's lockdown mode (lockdown.go):
// InvalidArgument for a mode that is not a HostLockdownMode,
// AuthMinimumAdminPermission for a caller that is not an exception user.
func (a *hostAccessManager) ChangeLockdownMode(ctx *simulator.Context, req *types.ChangeLockdownMode) soap.HasFault {
	body := new(methods.ChangeLockdownModeBody)
	body.Fault_ = a.st.answer(ctx, "ChangeLockdownMode", func() (string, *soap.Fault) {
		what := fmt.Sprintf("%s %s by %s", a.name, req.Mode, a.caller(ctx))
		if !validLockdownMode(req.Mode) {
			return what, invalidArgument("mode")
		}
		st := a.st
		st.mu.Lock()
		defer st.mu.Unlock()
		if u := a.caller(ctx); u != "" && !st.exempt(u, false) {
			return what, authMinimumAdmin()
		}
		st.setLockdown(req.Mode)
		return what, nil
	})
	if body.Fault_ == nil {
		a.LockdownMode = req.Mode
		a.syncHostConfig(ctx, req.Mode)
		body.Res = new(types.ChangeLockdownModeResponse)
	}
	return body
}

// syncHostConfig sets HostSystem.config.lockdownMode ("Since vSphere API
// 6.0", HostConfigInfo), which clients read with the host's other
// properties.
func (a *hostAccessManager) syncHostConfig(ctx *simulator.Context, mode types.HostLockdownMode) {
	hs, ok := ctx.Map.Get(a.host).(*simulator.HostSystem)
	if !ok {
		return
	}
	ctx.WithLock(hs, func() {
		if hs.Config != nil {
			hs.Config.LockdownMode = mode
		}
	})
}

// QueryLockdownExceptions lists the exception users.
func (a *hostAccessManager) QueryLockdownExceptions(ctx *simulator.Context, req *types.QueryLockdownExceptions) soap.HasFault {
	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	return &methods.QueryLockdownExceptionsBody{Res: &types.QueryLockdownExceptionsResponse{Returnval: slices.Clone(a.st.exceptions)}}
}

// QuerySystemUsers lists the system users.
func (a *hostAccessManager) QuerySystemUsers(ctx *simulator.Context, req *types.QuerySystemUsers) soap.HasFault {
	return &methods.QuerySystemUsersBody{Res: &types.QuerySystemUsersResponse{Returnval: slices.Clone(systemUsers)}}
}

// UpdateLockdownExceptions replaces the exception list (lockdown.go).
func (a *hostAccessManager) UpdateLockdownExceptions(ctx *simulator.Context, req *types.UpdateLockdownExceptions) soap.HasFault {
	body := new(methods.UpdateLockdownExceptionsBody)
	body.Fault_ = a.st.answer(ctx, "UpdateLockdownExceptions", func() (string, *soap.Fault) {
		a.st.mu.Lock()
		defer a.st.mu.Unlock()
		return fmt.Sprintf("%s %q", a.name, req.Users), a.st.setExceptions(req.Users, a.caller(ctx))
	})
	if body.Fault_ == nil {
		body.Res = new(types.UpdateLockdownExceptionsResponse)
	}
	return body
}
