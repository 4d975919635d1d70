// Package tasks is the esxi/manage-users engine: it reads a host once,
// checks every entry against it, and applies the entries in order, stopping
// at the first failure. It talks to the host through the Host interface and
// has no vSphere dependency. Its errors, and those a Host returns, wrap the
// kinds of internal/errkind, which maps them to exit codes and HTTP statuses.
package tasks

import (
	"context"

	"github.com/esxi-users/esxi-users/params"
)

// Account is a local user as the host reports it.
type Account struct {
	ID          string
	Description string // the account's full name / GECOS
	// Shell is the account's shell access (PosixUserSearchResult.
	// shellAccess), ShellUnknown when the host does not report it
	// (through vCenter). See shell.go for what it changes.
	Shell ShellAccess
}

// ShellAccess is an account's shell access as the host reports it.
type ShellAccess int8

// Shell access values; the zero value is unknown.
const (
	ShellUnknown ShellAccess = iota
	ShellNone
	ShellGranted
)

// ShellOf is the shell access a host reports (PosixUserSearchResult.
// shellAccess: nil unknown).
func ShellOf(p *bool) ShellAccess {
	switch {
	case p == nil:
		return ShellUnknown
	case *p:
		return ShellGranted
	}
	return ShellNone
}

// Snapshot is what the engine reads from a host before it changes anything.
type Snapshot struct {
	// Host names the host (its address or, through vCenter, its name).
	Host string
	// User is the session's user name, if known.
	User string
	// ViaVCenter is true when the host is reached through a vCenter
	// (--vihost): User is then a vCenter account, and the host's
	// VCenterUser is the account vCenter manages it with.
	ViaVCenter bool
	// Users are the host's local accounts, by id.
	Users map[string]Account
	// Permissions maps a user principal to the name of the role it holds
	// on the host's root folder (user permissions only, not groups).
	Permissions map[string]string
	// Roles is the set of role names the host defines.
	Roles map[string]bool
	// PasswordPolicy is the host's Security.PasswordQualityControl value
	// ("" if it could not be read).
	PasswordPolicy string
	// Lockdown is the host's lockdown mode (HostLockdownMode:
	// "lockdownDisabled", "lockdownNormal", "lockdownStrict"); "" when the
	// host does not say (an API before 6.0). See lockdown.go.
	Lockdown string
	// LockdownExceptions are the users on the host's lockdown exception
	// list (QueryLockdownExceptions), read when the host is in lockdown
	// mode.
	LockdownExceptions []string
	// LockdownExceptionsPartial: the list could not be read (the session
	// lacks Global.Settings); LockdownExceptions holds only the session's
	// own user, who is on it since it logged in directly.
	LockdownExceptionsPartial bool
}

// Host is the small surface of an ESXi host the engine needs. Implementations
// return the host's fault (wrapped) and add no policy of their own.
type Host interface {
	// Read returns the host's users, root-folder permissions, roles and
	// password policy.
	Read(ctx context.Context) (*Snapshot, error)
	CreateUser(ctx context.Context, id, description string, pw params.Password) error
	UpdateUser(ctx context.Context, id, description string, pw params.Password) error
	RemoveUser(ctx context.Context, id string) error
	// SetRole grants the user the named role on the host's root folder,
	// propagating, replacing any role it held there. The host adapter
	// resolves the name to the role id the host reported for it.
	SetRole(ctx context.Context, id, role string) error
	// RemoveRole removes the user's permission on the root folder.
	RemoveRole(ctx context.Context, id string) error
}

// PasswordChecker decides whether a password meets a host's policy.
type PasswordChecker interface {
	// CheckPassword returns "" if pw is acceptable under policy (an ESXi
	// Security.PasswordQualityControl string) for user id with the given
	// description, else the reason. err is for a policy that cannot be
	// parsed.
	CheckPassword(policy, id, description string, pw params.Password) (reason string, err error)
}
