package tasks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/esxi-users/esxi-users/params"
)

// Lockdown mode. "If the host is in lockdown mode, [ChangeAccessMode] is
// allowed only on users in the exceptions list ... and trying to change
// the access mode of other users or groups will fail with SecurityError"
// (HostAccessManager, vSphere API reference); lockdown mode works by
// removing the permissions of every user that is neither a system user nor
// an exception user ("This is achieved by removing all permissions on the
// host, except those of the exception users", ChangeLockdownMode), so such
// a user holds no role on the host while it lasts, and a role for it can be
// neither granted nor removed, directly or through vCenter.
// The host read learns the mode (Snapshot.Lockdown) and the exception list
//(Snapshot.LockdownExceptions). On a host in lockdown mode, a list with an
//entry that would write a role for a user not on the list is refused before
//the first write (errkind.ErrRefused, exit 3), naming the host, the entries
//and the way out. Creating, updating and removing accounts are not lockdown
//conditions; an add or set always writes a role (it is required),
// so in practice any add or set of a non-exception user is refused.

// locked reports whether mode is a lockdown mode in force.
func locked(mode string) bool {
	return mode != "" && mode != "lockdownDisabled"
}

// LockdownModeName is a HostLockdownMode as people say it: "normal",
// "strict", "disabled" ("" stays "").
func LockdownModeName(mode string) string {
	if m := strings.TrimPrefix(mode, "lockdown"); m != mode {
		return strings.ToLower(m)
	}
	return mode
}

// lockdownRefusal names the entries the host would refuse because of its
// lockdown mode, and the way out ("" if none).
func (r *run) lockdownRefusal() string {
	if !locked(r.state.Lockdown) {
		return ""
	}
	var refused []string
	r.eachRoleWrite(func(i int, e params.Entry, _ string) {
		if !slices.Contains(r.state.LockdownExceptions, e.ID) {
			refused = append(refused, params.EntryLabel(i, e.ID, e.Operation))
		}
	})
	if len(refused) == 0 {
		return ""
	}
	known := ""
	if r.state.LockdownExceptionsPartial {
		known = fmt.Sprintf(" (its exception list could not be read: %s lacks Global.Settings; only %s is known to be on it)", r.who(), r.who())
	}
	return fmt.Sprintf("host %s is in lockdown mode (%s): it refuses to grant or remove a role of a user that is not on its lockdown exception list%s: %s would be refused; put the users on the host's lockdown exception list (vSphere Client: the host, Configure, Security Profile, Lockdown Mode, Exception Users) or disable lockdown mode through vCenter, then run again (through vCenter with --vihost)",
		r.state.Host, LockdownModeName(r.state.Lockdown), known, strings.Join(refused, ", "))
}
