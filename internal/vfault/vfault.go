// Package vfault is the one table from vSphere faults to what they mean for
// esxi-users: for each fault type, its description and its kind (final, or
// the session is gone and the call was not applied), and the engine's
// sentinel it also means, if any. The vSphere adapter (internal/esx: its
// messages and its retries), the SSPI login (internal/sspi) and guest
// authentication (internal/guestauth) all read it.
//
// Each row is an error, a sentinel: the errors these packages return match
// it with errors.Is (errors.Is(err, vfault.InvalidLogin)).
package vfault

import (
	"errors"
	"fmt"
	"strings"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// Kind is what a fault means for the call that got it.
type Kind int

const (
	// Final: the server answered and refused the call; the same call gets
	// the same answer. Never retried.
	Final Kind = iota
	// Session: the session is not logged in (it expired, or the server
	// ended it: config.vmacore.soap.sessionTimeout, a hostd restart). The
	// call was not applied: log in again; a read is then repeated, a write
	// is reported as not applied (errkind.ErrNotApplied) for the engine to
	// repeat.
	Session
)

func (k Kind) String() string {
	if k == Session {
		return "session"
	}
	return "final"
}

// Fault is one row of the table: a vSphere fault type.
type Fault struct {
	// Name is the fault's type name, e.g. "InvalidLogin".
	Name string
	// Kind is what the fault means for the call.
	Kind Kind
	// Means is the engine's sentinel the fault also is (errors.Is), or nil:
	// AlreadyExists is errkind.ErrUserExists, UserNotFound errkind.ErrNoSuchUser.
	Means error

	desc   string                                        // what it means, "(Name)" at the end
	detail func(types.BaseMethodFault, error) string     // the description with the fault's details; nil: desc
	match  func(err error) (types.BaseMethodFault, bool) // nil: the exact type typ
	typ    types.BaseMethodFault                         // the fault type, for fault.Is
}

// Error is the row's description: a Fault is a sentinel.
func (f *Fault) Error() string { return f.desc }

// Describe is what err, a fault of this row, means: the description with
// the details the fault carries (the privilege, the host's reason, …).
func (f *Fault) Describe(err error) string {
	if f.detail == nil {
		return f.desc
	}
	bf, ok := f.find(err)
	if !ok {
		return f.desc
	}
	return f.detail(bf, err)
}

func (f *Fault) find(err error) (types.BaseMethodFault, bool) {
	if f.match != nil {
		return f.match(err)
	}
	if !fault.Is(err, f.typ) {
		return nil, false
	}
	var bf types.BaseMethodFault
	_, ok := fault.As(err, &bf)
	return bf, ok
}

func row(typ types.BaseMethodFault, desc string) *Fault {
	name := fmt.Sprintf("%T", typ)
	name = name[strings.LastIndex(name, ".")+1:]
	return &Fault{Name: name, typ: typ, desc: desc + " (" + name + ")"}
}

// The rows. fault.Is matches exact types: a subtype has its own row, and
// a fault type without one is not in the table (Lookup reports false).
var (
	NotAuthenticated = func() *Fault {
		f := row(&types.NotAuthenticated{}, "the session is not logged in")
		f.Kind = Session
		return f
	}()
	// WeakPassword is the SystemError with which ESXi refuses a password
	// its policy rejects (IsWeakPassword).
	WeakPassword = &Fault{Name: "SystemError", desc: "the host rejected the password: it does not meet the host's password policy (SystemError)",
		match: func(err error) (types.BaseMethodFault, bool) {
			var sys *types.SystemError
			if _, ok := fault.As(err, &sys); ok && IsWeakPassword(sys) {
				return sys, true
			}
			return nil, false
		},
		detail: func(f types.BaseMethodFault, _ error) string {
			return fmt.Sprintf("the host rejected the password: it does not meet the host's password policy (SystemError: %s)", reason(f.(*types.SystemError)))
		}}
	SystemError = func() *Fault {
		f := row(&types.SystemError{}, "the host reported a system error")
		f.detail = func(bf types.BaseMethodFault, _ error) string {
			if r := reason(bf.(*types.SystemError)); r != "" {
				return fmt.Sprintf("the host reported a system error: %s (SystemError)", r)
			}
			return f.desc
		}
		return f
	}()
	NoPermission = func() *Fault {
		f := row(&types.NoPermission{}, "the session's user lacks the privilege for this call")
		f.detail = func(bf types.BaseMethodFault, _ error) string {
			np := bf.(*types.NoPermission)
			if np.PrivilegeId == "" {
				return f.desc
			}
			desc := "the session's user lacks the privilege " + np.PrivilegeId
			if np.Object != nil {
				desc += " on " + np.Object.Type + ":" + np.Object.Value
			}
			return desc + " (NoPermission)"
		}
		return f
	}()
	InvalidArgument = func() *Fault {
		f := row(&types.InvalidArgument{}, "the server rejected an argument")
		f.detail = func(bf types.BaseMethodFault, _ error) string {
			if p := bf.(*types.InvalidArgument).InvalidProperty; p != "" {
				return "the server rejected an argument (" + p + ") (InvalidArgument)"
			}
			return f.desc
		}
		return f
	}()
	SecurityError = func() *Fault {
		f := row(&types.SecurityError{}, "the host refused the change for security reasons")
		f.detail = func(_ types.BaseMethodFault, err error) string {
			return "the host refused the change for security reasons (SecurityError: " + faultText(err) + ")"
		}
		return f
	}()
	InvalidLogin               = row(&types.InvalidLogin{}, "login failed: the server did not accept the user name and password or the credentials")
	UserNotFound               = means(row(&types.UserNotFound{}, "the user does not exist on the host"), errkind.ErrNoSuchUser)
	AlreadyExists              = means(row(&types.AlreadyExists{}, "the user already exists on the host"), errkind.ErrUserExists)
	NotFound                   = row(&types.NotFound{}, "the object does not exist on the host")
	AuthMinimumAdminPermission = row(&types.AuthMinimumAdminPermission{}, "the host must keep at least one Admin permission")
	NotSupported               = row(&types.NotSupported{}, "the server does not support this call")
	InvalidLocale              = row(&types.InvalidLocale{}, "the locale is not known to the server")
	HostConfigFault            = row(&types.HostConfigFault{}, "the host refused the configuration change")
	InvalidName                = row(&types.InvalidName{}, "the server knows no object or option of that name")
	ManagedObjectNotFound      = row(&types.ManagedObjectNotFound{}, "the managed object (a VM, a host) does not exist on the server")

	// Guest operations (GuestAuthManager, GuestOperationsManager), as the
	// AcquireCredentialsInGuest reference lists them.
	InvalidGuestLogin            = row(&types.InvalidGuestLogin{}, "the guest did not accept the credentials")
	GuestOperationsUnavailable   = row(&types.GuestOperationsUnavailable{}, "the guest operations agent (VMware Tools) is not running")
	TooManyGuestLogons           = row(&types.TooManyGuestLogons{}, "too many concurrent login sessions in the guest")
	GuestComponentsOutOfDate     = row(&types.GuestComponentsOutOfDate{}, "the guest agent is too old for this operation")
	OperationNotSupportedByGuest = row(&types.OperationNotSupportedByGuest{}, "the guest OS does not support the operation")
	OperationDisabledByGuest     = row(&types.OperationDisabledByGuest{}, "the guest agent's configuration disables the operation")
	InvalidPowerState            = row(&types.InvalidPowerState{}, "the VM is not powered on")
	TaskInProgress               = row(&types.TaskInProgress{}, "the VM is busy")
	InvalidState                 = row(&types.InvalidState{}, "the VM's current state does not allow the operation")
	// GuestOperationsFault is the guest operation fault family: its own
	// type and every subtype without a row (GuestPermissionDenied, …).
	GuestOperationsFault = func() *Fault {
		f := row(&types.GuestOperationsFault{}, "guest operation failed")
		f.match = func(err error) (types.BaseMethodFault, bool) {
			var gof types.BaseGuestOperationsFault
			if _, ok := fault.As(err, &gof); ok {
				return gof.(types.BaseMethodFault), true
			}
			return nil, false
		}
		return f
	}()
)

func means(f *Fault, sentinel error) *Fault {
	f.Means = sentinel
	return f
}

// table is searched in order: the predicate rows (WeakPassword before
// SystemError) and the family (GuestOperationsFault) after the exact types
// they contain.
var table = []*Fault{
	NotAuthenticated, WeakPassword, SystemError, NoPermission, InvalidArgument, SecurityError,
	InvalidLogin, UserNotFound, AlreadyExists, NotFound, AuthMinimumAdminPermission, NotSupported,
	InvalidLocale, HostConfigFault, InvalidName, ManagedObjectNotFound,
	InvalidGuestLogin, GuestOperationsUnavailable, TooManyGuestLogons, GuestComponentsOutOfDate,
	OperationNotSupportedByGuest, OperationDisabledByGuest, InvalidPowerState, TaskInProgress,
	InvalidState, GuestOperationsFault,
}

// Lookup finds the row of the fault err carries (through any wrapping, as
// govmomi's fault.Is and fault.As see it); false when err carries no fault
// of the table.
func Lookup(err error) (*Fault, bool) {
	if err == nil {
		return nil, false
	}
	for _, f := range table {
		if _, ok := f.find(err); ok {
			return f, true
		}
	}
	return nil, false
}

// KindOf is what a fault err carries means: the row's kind, Final for a
// fault the table does not list; ok is false when err carries no fault
// (the server did not answer: a transport error).
func KindOf(err error) (k Kind, ok bool) {
	if f, found := Lookup(err); found {
		return f.Kind, true
	}
	var bf types.BaseMethodFault
	if _, isFault := fault.As(err, &bf); isFault {
		return Final, true
	}
	return Final, false
}

// Error is a fault of the table with what it means: its message is the
// row's description (with the fault's details); errors.Is matches the row
// (and the engine's sentinel it means); Unwrap gives the original error,
// so govmomi's fault.Is and fault.As reach the fault.
type Error struct {
	Fault *Fault
	Err   error
}

func (e *Error) Error() string { return e.Fault.Describe(e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Is matches the row and its Means.
func (e *Error) Is(target error) bool {
	return target == e.Fault || (e.Fault.Means != nil && target == e.Fault.Means)
}

// Describe wraps err in an *Error when it carries a fault of the table;
// other errors (and nil) are returned as they are.
func Describe(err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	if f, ok := Lookup(err); ok {
		return &Error{Fault: f, Err: err}
	}
	return err
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
	// WeakPasswordKey is the faultMessage key of ESXi's weak-password fault.
	WeakPasswordKey = "com.vmware.vim.host.LocalAccountManager.weakPassword"
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
		if m.Key == WeakPasswordKey {
			return true
		}
	}
	return false
}

// faultText is a fault's message without the SOAP prefix.
func faultText(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "ServerFaultCode: "); i >= 0 {
		s = s[i+len("ServerFaultCode: "):]
	}
	return s
}

// reason is a SystemError's reason on one line.
func reason(f *types.SystemError) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(f.Reason, "\n", "; ")), " ")
}
