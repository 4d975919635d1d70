package esx

import (
	"context"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/vfault"
	"github.com/esxi-users/esxi-users/tasks"
)

// LockdownHint is what a direct login refused with NoPermission adds: on
// a host in lockdown mode only its exception users may log in directly
// ("When a host is in normal or strict lockdown mode, you cannot run
// vSphere CLI commands against the host directly. Instead, you target the
// vCenter Server system that manages the host with the --server option and
// specify the ESXi host with the --vihost option", vSphere CLI "Lockdown
// Mode"), and ESXi refuses the others as users without a permission: the
// fault does not tell the two apart.
const LockdownHint = "host is in lockdown mode: connect through vCenter with --vihost, or log in as an exception user"

// readLockdown puts the host's lockdown mode (HostConfigInfo.lockdownMode,
// read with the host's other properties) into snap and, when the host is
// in lockdown mode, its exception list (HostAccessManager.
// QueryLockdownExceptions, which needs Global.Settings; vSphere API 6.0).
// On a direct connection (self: the session's user) a session without
// Global.Settings cannot read the list; its own user is on it, since it
// logged in, and the rest is unknown (Snapshot.LockdownExceptionsPartial).
func (s *Session) readLockdown(ctx context.Context, snap *tasks.Snapshot, ham types.ManagedObjectReference, mode types.HostLockdownMode, self string) error {
	snap.Lockdown = string(mode)
	if mode == "" || mode == types.HostLockdownModeLockdownDisabled {
		return nil
	}
	var users []string
	err := s.read(ctx, "QueryLockdownExceptions", func(ctx context.Context) error {
		res, err := methods.QueryLockdownExceptions(ctx, s.Client, &types.QueryLockdownExceptions{This: ham})
		if err != nil {
			return err
		}
		users = res.Returnval
		return nil
	})
	switch {
	case err == nil:
		snap.LockdownExceptions = append([]string{}, users...)
	case self != "" && IsFault(err, &types.NoPermission{}):
		snap.LockdownExceptions, snap.LockdownExceptionsPartial = []string{self}, true
	default:
		return vfault.Describe(err)
	}
	return nil
}
