package esx

import (
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
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
	weak.FaultMessage = []types.LocalizableMessage{{Key: weakPasswordKey, Message: "Weak password: too short."}}
	passwd := &types.SystemError{Reason: "passwd: Authentication token manipulation error"}
	both := &types.SystemError{Reason: "Weak password: not enough different characters or classes for this length.\npasswd: Authentication token manipulation error"}
	keyOnly := &types.SystemError{Reason: "something else"}
	keyOnly.FaultMessage = []types.LocalizableMessage{{Key: weakPasswordKey}}
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
			err := describe(soapFault(tc.f, tc.source))
			msg := err.Error()
			if !strings.HasPrefix(msg, "the host rejected the password: it does not meet the host's password policy") || !strings.Contains(msg, tc.want) {
				t.Errorf("describe = %q", msg)
			}
			if !IsFault(err, &types.SystemError{}) {
				t.Error("the fault is not kept")
			}
		})
	}
	other := describe(soapFault(&types.SystemError{Reason: "injected fault"}, "A general system error occurred: injected fault"))
	if strings.Contains(other.Error(), "password") {
		t.Errorf("an unrelated SystemError described as a password: %v", other)
	}
}

// NoPermission names the privilege and the object.
func TestDescribeNoPermission(t *testing.T) {
	obj := types.ManagedObjectReference{Type: "Folder", Value: "ha-folder-root"}
	err := describe(soapFault(&types.NoPermission{Object: &obj, PrivilegeId: "Host.Local.ManageUserGroups"}, "Permission to perform this operation was denied."))
	if want := "the session's user lacks the privilege Host.Local.ManageUserGroups on Folder:ha-folder-root (NoPermission)"; err.Error() != want {
		t.Errorf("describe = %q, want %q", err, want)
	}
	na := describe(soapFault(&types.NotAuthenticated{}, ""))
	if !strings.Contains(na.Error(), "NotAuthenticated") {
		t.Errorf("NotAuthenticated described as %q", na)
	}
}
