// Package tasks is the esxi/manage-users engine: it reads a host once,
// checks every entry against it, and applies the entries in order, stopping
// at the first failure. It talks to the host through the Host interface and
// has no vSphere dependency.
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
	// shellAccess), nil when the host does not report it (through
	// vCenter). See shell.go for what it changes.
	Shell *bool
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
