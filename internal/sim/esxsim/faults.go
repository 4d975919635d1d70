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

// WeakPasswordForm selects how a password rejected by the policy is
// answered. Every form is a vmodl.fault.SystemError; they differ in its
// reason (and so in the message "A general system error occurred: <reason>").
type WeakPasswordForm int

const (
	// WeakPasswordPasswd (the default) is the reason ESXi 7.0 documents:
	// "When you create a password on the host, the following fault message
	// appears: A general system error occurred: passwd: Authentication token
	// manipulation error. The following message is included: Failed to set
	// the password. It is possible that your password does not meet the
	// complexity criteria set by the system." (vSphere 7.0 "vCenter Server
	// and Host Management", troubleshooting, GUID-730BC171-4BED-4975-84A1-BC40C071D4F3;
	// the same text in the 6.5 Troubleshooting guide). The faultMessage
	// carries the included message; its key is not documented.
	WeakPasswordPasswd WeakPasswordForm = iota
	// WeakPasswordReason is the older form with passwdqc's reason,
	// "Weak password: too short." and faultMessage key
	// com.vmware.vim.host.LocalAccountManager.weakPassword (KB 344647,
	// ESXi 5.x/6.0; KB 323600).
	WeakPasswordReason
	// WeakPasswordBoth is passwdqc's line followed by passwd's, as ESXi
	// prints them on its console: "Weak password: not enough different
	// characters or classes for this length." and "passwd: Authentication
	// token manipulation error" (KB 307368).
	WeakPasswordBoth
)

// passwdError is passwd(1)'s message when PAM refuses the new password.
const passwdError = "passwd: Authentication token manipulation error"

// passwdIncluded is the message ESXi 7.0 includes with passwdError.
const passwdIncluded = "Failed to set the password. It is possible that your password does not meet the complexity criteria set by the system."

// passwdErrorKey is the faultMessage key used with passwdIncluded
// (assumed: the documentation shows the message, not the key).
const passwdErrorKey = "com.vmware.vim.host.LocalAccountManager.passwordPolicy"

// weakPassword is ESXi's fault for a password that passwdqc rejects, in
// the given form. reason is passwdqc's reason ("too short"); the password
// is never part of it.
//
// Note: KB 344647's example shows the argument value "short" for the
// reason "too short"; no mapping for the other reasons is documented, so
// the argument here carries passwdqc's full reason.
func weakPassword(form WeakPasswordForm, reason string) *soap.Fault {
	reason = strings.TrimSuffix(strings.TrimSpace(reason), ".")
	weak := "Weak password: " + reason + "."
	var f *types.SystemError
	switch form {
	case WeakPasswordReason:
		f = &types.SystemError{Reason: weak}
		f.FaultMessage = []types.LocalizableMessage{{
			Key:     weakPasswordKey,
			Arg:     []types.KeyAnyValue{{Key: "reason", Value: reason}},
			Message: weak,
		}}
	case WeakPasswordBoth:
		f = &types.SystemError{Reason: weak + "\n" + passwdError}
		f.FaultMessage = []types.LocalizableMessage{{Key: passwdErrorKey, Message: passwdIncluded}}
	default:
		f = &types.SystemError{Reason: passwdError}
		f.FaultMessage = []types.LocalizableMessage{{Key: passwdErrorKey, Message: passwdIncluded}}
	}
	return simulator.Fault(systemErrorMessage(f.Reason), f)
}

// invalidLoginMessage is InvalidLogin's faultstring on ESXi: "Cannot
// complete login due to an incorrect user name or password." (govc against
// ESXi 6.0/6.5 hosts in vmware/vic issue #5280; ESXi 5.5 in
// ITRS-Group/system-addons-plugins-op5-check_vmware_api issue #22;
// rbvmomi's "InvalidLogin: Cannot complete login due to an incorrect user
// name or password." in chef/knife-vsphere issue #269).
const invalidLoginMessage = "Cannot complete login due to an incorrect user name or password."

func invalidLogin() *soap.Fault {
	return simulator.Fault(invalidLoginMessage, &types.InvalidLogin{})
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
