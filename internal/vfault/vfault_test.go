package vfault

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

func soapFault(f types.BaseMethodFault, msg string) error {
	sf := &soap.Fault{Code: "ServerFaultCode", String: msg}
	sf.Detail.Fault = f
	return soap.WrapSoapFault(sf)
}

// Every documented form of ESXi's answer to a password its policy rejects
// is described as a rejected password, with the host's own text.
func TestDescribeWeakPasswordForms(t *testing.T) {
	weak := &types.SystemError{Reason: "Weak password: too short."}
	weak.FaultMessage = []types.LocalizableMessage{{Key: WeakPasswordKey, Message: "Weak password: too short."}}
	passwd := &types.SystemError{Reason: "passwd: Authentication token manipulation error"}
	both := &types.SystemError{Reason: "Weak password: not enough different characters or classes for this length.\npasswd: Authentication token manipulation error"}
	keyOnly := &types.SystemError{Reason: "something else"}
	keyOnly.FaultMessage = []types.LocalizableMessage{{Key: WeakPasswordKey}}
	for _, tc := range []struct {
		name   string
		f      *types.SystemError
		source string
		want   string
	}{
		{"KB 344647 (ESXi 5.x/6.0)", weak, "A general system error occurred: Weak password: too short.", "Weak password: too short."},
		{"vSphere 7.0 docs", passwd, "A general system error occurred: passwd: Authentication token manipulation error", "passwd: Authentication token manipulation error"},
		{"KB 307368 console (both lines)", both, "A general system error occurred", "not enough different characters or classes for this length.; passwd: Authentication token manipulation error"},
		{"faultMessage key only", keyOnly, "A general system error occurred: something else", "something else"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Describe(soapFault(tc.f, tc.source))
			msg := err.Error()
			if !strings.HasPrefix(msg, "the host rejected the password: it does not meet the host's password policy") || !strings.Contains(msg, tc.want) {
				t.Errorf("describe = %q", msg)
			}
			if !fault.Is(err, &types.SystemError{}) || !errors.Is(err, WeakPassword) {
				t.Error("the fault is not kept")
			}
		})
	}
	other := Describe(soapFault(&types.SystemError{Reason: "injected fault"}, "A general system error occurred: injected fault"))
	if strings.Contains(other.Error(), "password") {
		t.Errorf("an unrelated SystemError described as a password: %v", other)
	}
}

// NoPermission names the privilege and the object.
func TestDescribeNoPermission(t *testing.T) {
	obj := types.ManagedObjectReference{Type: "Folder", Value: "ha-folder-root"}
	err := Describe(soapFault(&types.NoPermission{Object: &obj, PrivilegeId: "Host.Local.ManageUserGroups"}, "Permission to perform this operation was denied."))
	if want := "the session's user lacks the privilege Host.Local.ManageUserGroups on Folder:ha-folder-root (NoPermission)"; err.Error() != want {
		t.Errorf("describe = %q, want %q", err, want)
	}
	na := Describe(soapFault(&types.NotAuthenticated{}, ""))
	if !strings.Contains(na.Error(), "NotAuthenticated") || !errors.Is(na, NotAuthenticated) || errors.Is(na, NoPermission) {
		t.Errorf("NotAuthenticated described as %q", na)
	}
}

// The table: each fault type finds its own row (exact types: a subtype
// without a row is not its parent's), whose description names it; only
// NotAuthenticated means the session is gone; AlreadyExists and UserNotFound
// are the engine's sentinels too; the wrapped error keeps the fault.
func TestTable(t *testing.T) {
	for _, f := range table {
		if f == WeakPassword {
			continue // a SystemError with ESXi's weak-password text (TestDescribeWeakPasswordForms)
		}
		t.Run(f.Name, func(t *testing.T) {
			err := Describe(soapFault(f.typ, "the server's text"))
			got, ok := Lookup(err)
			if !ok || got != f || !errors.Is(err, f) {
				t.Fatalf("Lookup = %v, %v", got, ok)
			}
			if !strings.HasSuffix(f.Error(), "("+f.Name+")") || !strings.Contains(err.Error(), f.Name) {
				t.Errorf("description %q (%q) does not name %s", f.Error(), err, f.Name)
			}
			if !fault.Is(err, f.typ) {
				t.Error("the fault is not kept")
			}
			wantKind := Final
			if f == NotAuthenticated {
				wantKind = Session
			}
			if k, ok := KindOf(err); !ok || k != wantKind {
				t.Errorf("KindOf = %v, %v; want %v", k, ok, wantKind)
			}
		})
	}
	if err := Describe(soapFault(&types.AlreadyExists{Name: "u1"}, "")); !errors.Is(err, errkind.ErrUserExists) || errors.Is(err, errkind.ErrNoSuchUser) {
		t.Errorf("AlreadyExists: %v", err)
	}
	if err := Describe(soapFault(&types.UserNotFound{}, "")); !errors.Is(err, errkind.ErrNoSuchUser) {
		t.Errorf("UserNotFound: %v", err)
	}
	// A guest operation fault without a row is the family's.
	if f, ok := Lookup(soapFault(&types.GuestPermissionDenied{}, "")); !ok || f != GuestOperationsFault {
		t.Errorf("GuestPermissionDenied: %v, %v", f, ok)
	}
	// A fault the table does not list is final and kept as it is; a
	// transport error is no fault at all.
	other := soapFault(&types.DuplicateName{}, "")
	if _, ok := Lookup(other); ok || Describe(other) != other {
		t.Error("DuplicateName is in the table")
	}
	if k, ok := KindOf(other); !ok || k != Final {
		t.Errorf("KindOf(DuplicateName) = %v, %v", k, ok)
	}
	if _, ok := KindOf(fmt.Errorf("read: %w", errors.New("connection reset"))); ok {
		t.Error("a transport error is a fault")
	}
	// Details from the fault: SecurityError's text, InvalidArgument's property.
	if got := Describe(soapFault(&types.SecurityError{}, "host is in lockdown mode")).Error(); got != "the host refused the change for security reasons (SecurityError: host is in lockdown mode)" {
		t.Errorf("SecurityError: %q", got)
	}
	if got := Describe(soapFault(&types.InvalidArgument{InvalidProperty: "spec.id"}, "")).Error(); got != "the server rejected an argument (spec.id) (InvalidArgument)" {
		t.Errorf("InvalidArgument: %q", got)
	}
}
