package esx

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/tasks"
)

// FaultError is a vSphere fault with a readable description. Match the
// underlying fault with fault.Is(err, &types.X{}).
type FaultError struct {
	Desc string
	Err  error
}

func (e *FaultError) Error() string { return e.Desc }
func (e *FaultError) Unwrap() error { return e.Err }

// Is lets the engine recognise the faults it converges from when another
// writer changed the host: errors.Is(err, tasks.ErrUserExists) for
// AlreadyExists, tasks.ErrNoSuchUser for UserNotFound.
func (e *FaultError) Is(target error) bool {
	switch target {
	case tasks.ErrUserExists:
		return fault.Is(e.Err, &types.AlreadyExists{})
	case tasks.ErrNoSuchUser:
		return fault.Is(e.Err, &types.UserNotFound{})
	}
	return false
}

// describe wraps known vSphere faults in a FaultError saying what they mean
// for user management. Other errors are returned as they are.
func describe(err error) error {
	if err == nil {
		return nil
	}
	var sys *types.SystemError
	if _, ok := fault.As(err, &sys); ok && sys != nil {
		reason := strings.Join(strings.Fields(strings.ReplaceAll(sys.Reason, "\n", "; ")), " ")
		if IsWeakPassword(sys) {
			return &FaultError{Desc: fmt.Sprintf("the host rejected the password: it does not meet the host's password policy (SystemError: %s)", reason), Err: err}
		}
		return &FaultError{Desc: fmt.Sprintf("the host reported a system error: %s (SystemError)", reason), Err: err}
	}
	var np *types.NoPermission
	if _, ok := fault.As(err, &np); ok && np != nil && !fault.Is(err, &types.NotAuthenticated{}) {
		desc := "the session's user lacks the privilege for this call"
		if np.PrivilegeId != "" {
			desc = "the session's user lacks the privilege " + np.PrivilegeId
			if np.Object != nil {
				desc += " on " + np.Object.Type + ":" + np.Object.Value
			}
		}
		return &FaultError{Desc: desc + " (NoPermission)", Err: err}
	}
	var arg *types.InvalidArgument
	if _, ok := fault.As(err, &arg); ok && arg != nil {
		desc := "the host rejected an argument"
		if arg.InvalidProperty != "" {
			desc += " (" + arg.InvalidProperty + ")"
		}
		return &FaultError{Desc: desc + " (InvalidArgument)", Err: err}
	}
	for _, k := range known {
		if fault.Is(err, k.fault) {
			return &FaultError{Desc: k.desc, Err: err}
		}
	}
	return err
}

var known = []struct {
	fault types.BaseMethodFault
	desc  string
}{
	{&types.InvalidLogin{}, "login failed: the user name or password is incorrect (InvalidLogin)"},
	{&types.NoPermission{}, "the session's user lacks the privilege for this call (NoPermission)"},
	{&types.UserNotFound{}, "the user does not exist on the host (UserNotFound)"},
	{&types.AlreadyExists{}, "the user already exists on the host (AlreadyExists)"},
	{&types.NotFound{}, "the object does not exist on the host (NotFound)"},
	{&types.AuthMinimumAdminPermission{}, "the host must keep at least one Admin permission (AuthMinimumAdminPermission)"},
	{&types.NotSupported{}, "the host does not support this call (NotSupported)"},
	{&types.NotAuthenticated{}, "the session is not logged in (NotAuthenticated)"},
	{&types.InvalidLocale{}, "the locale is not known to the server (InvalidLocale)"},
	{&types.HostConfigFault{}, "the host refused the configuration change (HostConfigFault)"},
}

// Forms of ESXi's fault for a password its policy rejects (all are a
// SystemError): "Weak password: <passwdqc reason>." (KB 344647, ESXi
// 5.x/6.0; faultMessage key com.vmware.vim.host.LocalAccountManager.weakPassword),
// "passwd: Authentication token manipulation error" (vSphere 7.0 "vCenter
// Server and Host Management", troubleshooting: "A general system error
// occurred: passwd: Authentication token manipulation error"), and both
// lines together, as on ESXi's console (KB 307368).
const (
	weakPasswordText = "Weak password"
	passwdErrorText  = "Authentication token manipulation error"
	weakPasswordKey  = "com.vmware.vim.host.LocalAccountManager.weakPassword"
)

// IsWeakPassword reports whether a SystemError is the host's refusal of a
// password under its policy, in any documented form.
func IsWeakPassword(f *types.SystemError) bool {
	if f == nil {
		return false
	}
	if strings.Contains(f.Reason, weakPasswordText) || strings.Contains(f.Reason, passwdErrorText) {
		return true
	}
	for _, m := range f.FaultMessage {
		if m.Key == weakPasswordKey {
			return true
		}
	}
	return false
}

// IsFault reports whether err carries a vSphere fault of target's type.
func IsFault(err error, target types.BaseMethodFault) bool {
	var fe *FaultError
	if errors.As(err, &fe) {
		err = fe.Err
	}
	return fault.Is(err, target)
}
