package esxsim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Lockdown mode (HostAccessManager, vSphere API 6.0).
//
// Sources: the vSphere API reference for HostAccessManager
// (https://developer.broadcom.com/xapis/vsphere-web-services-api/9.1.1/vim.host.HostAccessManager.html;
// the same text as doc comments in noclue/vim_rs src/mo/host_access_manager.rs
// and govmomi's vim25/types ChangeLockdownModeRequestType and
// HostLockdownMode), and vSphere Security, "Lockdown Mode Behavior" and
// "Specify Lockdown Mode Exception Users" (6.0–8.0; e.g.
// https://docs.vmware.com/en/VMware-vSphere/6.7/com.vmware.vsphere.security.doc/GUID-F8F105F7-CF93-46DF-9319-F8991839D265.html):
//
//   - ChangeLockdownMode: "When the host is in lockdown mode it can be
//     managed only through vCenter and through DCUI ... This is achieved by
//     removing all permissions on the host, except those of the exception
//     users defined with UpdateLockdownExceptions. In addition, the
//     permissions for users 'dcui' and 'vpxuser' are always preserved.
//     When lockdown mode is disabled, the system will try to restore all
//     permissions that have been removed ... It is possible that not all
//     permissions may be restored and this is not an error, e.g. if in the
//     meantime some user or managed object was deleted ... the users in
//     the "DCUI.Access" list will be assigned Admin roles." "While the host
//     is in lockdown mode, some operations will fail with SecurityError.
//     This ensures that the conditions for lockdown mode cannot be changed.
//     For example it is allowed to change the access mode only for users in
//     the exceptions list." Faults: AuthMinimumAdminPermission "if the user
//     invoking the operation is not in the exceptions list"; "If this is
//     the same as the current lockdown mode state, the operation will
//     silently succeed".
//   - UpdateLockdownExceptions: "the new list of lockdown mode exceptions";
//     "Both local and domain users are supported. The format for domain
//     accounts is "DOMAIN\login""; in lockdown mode a user removed from the
//     list loses its permissions, one added gets them back; faults
//     AuthMinimumAdminPermission "if the user invoking the operation is not
//     present in the new list of exceptions", UserNotFound "if one of the
//     specified users is not found". (API 9.x adds "+user"/"-user" edits;
//     ESXi 8.0.3's reference has only the plain list, so a name with such a
//     prefix is an unknown user here.)
//   - QuerySystemUsers: "special users like 'vpxuser' and 'dcui'"; the
//     system users are dcui and vpxuser ("The special users 'dcui' and
//     'vpxuser' need not be specified. They are always reported in the
//     list of system users", UpdateSystemUsers, which is not simulated).
//   - Lockdown Mode Behavior: the vSphere Web Services API serves, in normal
//     and strict lockdown mode alike, "vCenter (vpxuser)" and "Exception
//     users, based on permissions"; strict mode stops the DCUI.
//
// Not documented, chosen here (each the reading least forgiving to a
// client):
//
//   - A direct login refused by lockdown mode is the refusal of a user
//     without permissions, NoPermission (login.go): lockdown works by
//     removing the permissions, and the vSphere Client shows "You do not
//     have permission to login to the server" for such a login
//     (https://vcdx133.com/2015/02/24/vsphere-6-0-esxi-strict-lockdown-mode/).
//     Nothing in the fault tells lockdown from a user who never had a role.
//   - Permission changes (SetEntityPermissions, RemoveEntityPermission,
//     ChangeAccessMode, esxcli system permission set|unset) for a principal
//     not on the exception list fail with SecurityError in either lockdown
//     mode; system users are not on the list, so theirs fail too. Account
//     changes (CreateUser, UpdateUser, RemoveUser) are not lockdown
//     conditions and are allowed: the reference expects users to be deleted
//     meanwhile ("if in the meantime some user ... was deleted").
//   - The AuthMinimumAdminPermission rules are read literally for a direct
//     caller: ChangeLockdownMode by a user not on the exception list, and
//     UpdateLockdownExceptions leaving the caller off the new list, fail
//     (so on a direct connection root cannot lock a host down unless it is
//     an exception user). Through vCenter the caller is vpxuser, a system
//     user whose permissions are always preserved: the rules do not apply
//     to it (otherwise no host with an empty exception list, the default,
//     could enter lockdown mode from vCenter, as vSphere Security and
//     Ansible's community.vmware.vmware_host_lockdown do).
//   - Strict mode differs from normal only in the DCUI, which is not
//     simulated: for the API both are the same.
//   - Domain users (ESX Admins, privileges.go) lose their implicit Admin
//     in lockdown mode unless they are on the exception list (exception
//     users "are not members of an Active Directory group", vSphere
//     Security).

// systemUsers are the host's system users (QuerySystemUsers).
var systemUsers = []string{"dcui", "vpxuser"}

// lockedDown reports whether the host is in lockdown mode. st.mu must be
// held.
func (st *state) lockedDown() bool {
	return st.lockdown != "" && st.lockdown != types.HostLockdownModeLockdownDisabled
}

// exempt reports whether principal keeps its permissions in lockdown mode:
// an exception user or a system user. st.mu must be held.
func (st *state) exempt(principal string, group bool) bool {
	return !group && (slices.Contains(st.exceptions, principal) || slices.Contains(systemUsers, principal))
}

// lockdownGuard is the SecurityError of a permission change for a
// principal not on the exception list while the host is in lockdown mode.
// st.mu must be held.
func (st *state) lockdownGuard(principal string, group bool) *soap.Fault {
	if !st.lockedDown() || (!group && slices.Contains(st.exceptions, principal)) {
		return nil
	}
	return securityError("the host is in lockdown mode and '" + principal + "' is not on its lockdown exception list") // wording assumed
}

// validLockdownMode reports whether mode is a HostLockdownMode.
func validLockdownMode(mode types.HostLockdownMode) bool {
	switch mode {
	case types.HostLockdownModeLockdownDisabled, types.HostLockdownModeLockdownNormal, types.HostLockdownModeLockdownStrict:
		return true
	}
	return false
}

// setLockdown changes the lockdown mode: entering it removes (keeps aside)
// every permission of a principal that is not exempt; leaving it restores
// them (not those of local users deleted meanwhile) and gives the
// DCUI.Access users Admin on the root folder. st.mu must be held.
func (st *state) setLockdown(mode types.HostLockdownMode) {
	was := st.lockedDown()
	st.lockdown = mode
	switch now := st.lockedDown(); {
	case !was && now:
		for ref, perms := range st.perms {
			for _, p := range perms {
				if !st.exempt(p.Principal, p.Group) {
					st.suspend(ref, p)
				}
			}
		}
	case was && !now:
		for ref, perms := range st.suspended {
			for _, p := range perms {
				st.restore(ref, p)
			}
		}
		st.suspended = nil
		for _, u := range st.dcuiUsers() {
			if _, ok := st.users[u]; ok {
				st.putPermission(st.root, types.Permission{Principal: u, RoleId: roleAdmin, Propagate: true})
			}
		}
	}
}

// suspend moves p (on ref) aside. st.mu must be held.
func (st *state) suspend(ref types.ManagedObjectReference, p types.Permission) {
	if st.suspended == nil {
		st.suspended = map[types.ManagedObjectReference][]types.Permission{}
	}
	st.suspended[ref] = append(st.suspended[ref], p)
	perms := st.perms[ref]
	if i := indexPerm(perms, p.Principal, p.Group); i >= 0 {
		kept := append(append([]types.Permission(nil), perms[:i]...), perms[i+1:]...)
		if len(kept) == 0 {
			delete(st.perms, ref)
		} else {
			st.perms[ref] = kept
		}
	}
}

// restore puts a suspended permission back, unless its local user is gone
// or the principal has a permission there by now. st.mu must be held.
func (st *state) restore(ref types.ManagedObjectReference, p types.Permission) {
	if _, ok := st.users[p.Principal]; !ok && !p.Group && !st.isDomain(p.Principal) {
		return
	}
	if indexPerm(st.perms[ref], p.Principal, p.Group) < 0 {
		st.putPermission(ref, p)
	}
}

// putPermission sets p on ref, replacing principal's own. st.mu must be
// held.
func (st *state) putPermission(ref types.ManagedObjectReference, p types.Permission) {
	e := ref
	p.Entity = &e
	perms := append([]types.Permission(nil), st.perms[ref]...)
	if i := indexPerm(perms, p.Principal, p.Group); i >= 0 {
		perms[i] = p
	} else {
		perms = append(perms, p)
	}
	st.perms[ref] = perms
}

// setExceptions replaces the exception list; in lockdown mode a principal
// leaving it loses its permissions, one joining it gets its suspended ones
// back. caller is the host user invoking the change ("" or a system user:
// not checked). Unknown users are UserNotFound; a caller that is not on
// the new list is AuthMinimumAdminPermission. st.mu must be held.
func (st *state) setExceptions(users []string, caller string) *soap.Fault {
	var list []string
	for _, u := range users {
		if _, local := st.users[u]; !local && !(strings.Contains(u, `\`) && st.isDomain(u)) {
			return userNotFound(u)
		}
		if !slices.Contains(list, u) {
			list = append(list, u)
		}
	}
	if caller != "" && !slices.Contains(systemUsers, caller) && !slices.Contains(list, caller) {
		return authMinimumAdmin()
	}
	old := st.exceptions
	st.exceptions = list
	if !st.lockedDown() {
		return nil
	}
	for _, u := range old {
		if !slices.Contains(list, u) && !slices.Contains(systemUsers, u) {
			for ref, perms := range st.perms {
				if i := indexPerm(perms, u, false); i >= 0 {
					st.suspend(ref, perms[i])
				}
			}
		}
	}
	for _, u := range list {
		if slices.Contains(old, u) {
			continue
		}
		for ref, perms := range st.suspended {
			var rest []types.Permission
			for _, p := range perms {
				if !p.Group && p.Principal == u {
					st.restore(ref, p)
				} else {
					rest = append(rest, p)
				}
			}
			st.suspended[ref] = rest
		}
	}
	return nil
}

// dropSuspended forgets the permissions kept aside for a removed user.
// st.mu must be held.
func (st *state) dropSuspended(user string) {
	for ref, perms := range st.suspended {
		var rest []types.Permission
		for _, p := range perms {
			if p.Group || p.Principal != user {
				rest = append(rest, p)
			}
		}
		st.suspended[ref] = rest
	}
}

// ParseLockdownMode reads a lockdown mode as the simulate flags give it:
// "disabled", "normal", "strict" or a HostLockdownMode value
// ("lockdownNormal"), in any case.
func ParseLockdownMode(s string) (string, error) {
	for _, m := range []types.HostLockdownMode{types.HostLockdownModeLockdownDisabled, types.HostLockdownModeLockdownNormal, types.HostLockdownModeLockdownStrict} {
		if strings.EqualFold(s, string(m)) || strings.EqualFold(s, strings.TrimPrefix(string(m), "lockdown")) {
			return string(m), nil
		}
	}
	return "", fmt.Errorf("%q is not a lockdown mode: disabled, normal or strict", s)
}

// installLockdown registers a standalone host's HostAccessManager
// (HostSystem.configManager.hostAccessManager) and puts the host in the
// lockdown mode of its options, with their exception users.
func (st *state) installLockdown(m *simulator.Registry, authz *authorizationManager) error {
	hs, ok := m.Any("HostSystem").(*simulator.HostSystem)
	if !ok || hs.ConfigManager.HostAccessManager == nil {
		return fmt.Errorf("esxsim: no HostSystem access manager in model")
	}
	mode := types.HostLockdownMode(st.opt.Lockdown)
	if mode == "" {
		mode = types.HostLockdownModeLockdownDisabled
	}
	for _, u := range st.opt.LockdownExceptions {
		if _, ok := st.users[u]; !ok {
			return fmt.Errorf("esxsim: LockdownExceptions: no user %q", u)
		}
	}
	st.exceptions = slices.Clone(st.opt.LockdownExceptions)
	st.setLockdown(mode)
	if hs.Config != nil {
		hs.Config.LockdownMode = mode
	}
	m.Put(&hostAccessManager{
		HostAccessManager: mo.HostAccessManager{Self: *hs.ConfigManager.HostAccessManager, LockdownMode: mode},
		st:                st, authz: authz, name: hs.Name, host: hs.Self,
	})
	return nil
}
