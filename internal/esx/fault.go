package esx

import (
	"errors"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/vfault"
)

// FaultError is a vSphere fault with what it means for user management, from
// the project's one fault table (internal/vfault). Match the underlying
// fault with IsFault(err, &types.X{}), its row with errors.Is(err,
// vfault.X); the engine recognises the faults it converges from when another
// writer changed the host: errors.Is(err, errkind.ErrUserExists) for
// AlreadyExists, errkind.ErrNoSuchUser for UserNotFound.
type FaultError = vfault.Error

// IsFault reports whether err carries a vSphere fault of target's type.
func IsFault(err error, target types.BaseMethodFault) bool {
	var fe *FaultError
	if errors.As(err, &fe) {
		err = fe.Err
	}
	return fault.Is(err, target)
}
