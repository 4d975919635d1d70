package esxsim

import (
	"fmt"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// weakPasswordKey is the faultMessage key ESXi puts on a rejected password.
//
// Source: Broadcom KB 344647 "Creating a new user on an ESXi 5.x or 6.0 host
// fails with the error: User name or password has an invalid format"
// (https://knowledge.broadcom.com/external/article/344647), which shows the
// fault of HostLocalAccountManager.CreateUser: type vmodl.fault.SystemError,
// message "A general system error occurred: Weak password: too short.",
// reason "Weak password: too short.", faultMessage key
// com.vmware.vim.host.LocalAccountManager.weakPassword with argument
// "reason"; and KB 323600 (https://knowledge.broadcom.com/external/article/323600)
// for "A general system error occurred: Weak password: based on a dictionary
// word and not a passphrase.".
const weakPasswordKey = "com.vmware.vim.host.LocalAccountManager.weakPassword"

// weakPassword is ESXi's fault for a password that passwdqc rejects.
// reason is passwdqc's reason ("too short"); the password is never part of it.
//
// Note: the KB's example shows the argument value "short" for the reason
// "too short"; no mapping for the other reasons is documented, so the
// argument here carries passwdqc's full reason.
func weakPassword(reason string) *soap.Fault {
	reason = strings.TrimSuffix(strings.TrimSpace(reason), ".")
	msg := "Weak password: " + reason + "."
	f := &types.SystemError{Reason: msg}
	f.FaultMessage = []types.LocalizableMessage{{
		Key:     weakPasswordKey,
		Arg:     []types.KeyAnyValue{{Key: "reason", Value: reason}},
		Message: msg,
	}}
	return simulator.Fault(systemErrorMessage(msg), f)
}

// systemErrorMessage is vmodl.fault.SystemError's localized message.
func systemErrorMessage(reason string) string {
	return "A general system error occurred: " + reason
}

// Localized messages of the other faults, in the wording ESXi uses for the
// vim/vmodl fault types (vimLocale "en" catalog).
func invalidArgument(prop string) *soap.Fault {
	return simulator.Fault("A specified parameter was not correct: "+prop,
		&types.InvalidArgument{InvalidProperty: prop})
}

func alreadyExists(name string) *soap.Fault {
	return simulator.Fault(fmt.Sprintf("The specified key, name, or identifier '%s' already exists.", name),
		&types.AlreadyExists{Name: name})
}

func userNotFound(principal string) *soap.Fault {
	return simulator.Fault(fmt.Sprintf("The user or group named '%s' does not exist.", principal),
		&types.UserNotFound{Principal: principal, Unresolved: false})
}

func notFound() *soap.Fault {
	return simulator.Fault("The object or item referred to could not be found.", &types.NotFound{})
}

func securityError(detail string) *soap.Fault {
	return simulator.Fault("A security error occurred: "+detail, &types.SecurityError{})
}

func authMinimumAdmin() *soap.Fault {
	return simulator.Fault("The requested change would leave no user or group with full administrative privileges on the host.",
		&types.AuthMinimumAdminPermission{})
}

func managedObjectNotFound(ref types.ManagedObjectReference) *soap.Fault {
	return simulator.Fault("The object '"+ref.Type+":"+ref.Value+"' has already been deleted or has not been completely created",
		&types.ManagedObjectNotFound{Obj: ref})
}

// faultMessage returns the SOAP fault for an injected fault, with the
// message a client would see for it.
func faultMessage(f types.BaseMethodFault) *soap.Fault {
	msg := fmt.Sprintf("%T", f)
	msg = msg[strings.LastIndex(msg, ".")+1:]
	if se, ok := f.(*types.SystemError); ok {
		msg = systemErrorMessage(se.Reason)
	}
	return simulator.Fault(msg, f)
}

// injectKey marks, in the request's context, the write call selected by
// SetFailWrite (see Server.handler).
type injectKey struct{}

// injectedFault returns the SOAP fault to answer instead of performing the
// call, or nil.
func injectedFault(ctx *simulator.Context) *soap.Fault {
	if ctx == nil || ctx.Context == nil {
		return nil
	}
	if f, ok := ctx.Value(injectKey{}).(types.BaseMethodFault); ok {
		return faultMessage(f)
	}
	return nil
}
