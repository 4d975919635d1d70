package esxsim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/passwdqc"
)

func createPosix(ctx context.Context, c *vim25.Client, spec *types.HostPosixAccountSpec) error {
	_, err := methods.CreateUser(ctx, c, &types.CreateUser{This: *c.ServiceContent.AccountManager, User: spec})
	return err
}

func updatePosix(ctx context.Context, c *vim25.Client, spec *types.HostPosixAccountSpec) error {
	_, err := methods.UpdateUser(ctx, c, &types.UpdateUser{This: *c.ServiceContent.AccountManager, User: spec})
	return err
}

// fakeClock is an injectable clock (Options.Clock).
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// ESXi 8.0 U3 by default, 7.0 U3 on request: about.version, apiVersion,
// build and fullName as the host reports them (KB 395110: "ESXi 8.0 Update
// 3e has a version string of 8.0.3-0.70.24674464"; 7.0.3 build 18644231).
func TestESXiVersion(t *testing.T) {
	for _, tc := range []struct {
		version                        string
		wantVersion, wantAPI, wantFull string
		wantBuild                      string
	}{
		{"", "8.0.3", "8.0.3.0", "VMware ESXi 8.0.3 build-24674464", "24674464"},
		{ESXi803, "8.0.3", "8.0.3.0", "VMware ESXi 8.0.3 build-24674464", "24674464"},
		{ESXi703, "7.0.3", "7.0.3.0", "VMware ESXi 7.0.3 build-18644231", "18644231"},
	} {
		t.Run("v"+tc.version, func(t *testing.T) {
			s := start(t, Options{Common: Common{ESXiVersion: tc.version}})
			c := dial(t, s)
			a := c.ServiceContent.About
			if a.Version != tc.wantVersion || a.ApiVersion != tc.wantAPI || a.FullName != tc.wantFull || a.Build != tc.wantBuild ||
				a.ApiType != "HostAgent" || a.ProductLineId != "embeddedEsx" {
				t.Errorf("about %+v", a)
			}
			var h mo.HostSystem
			rc := root(t, s)
			if err := property.DefaultCollector(rc).RetrieveOne(testContext(t), types.ManagedObjectReference{Type: "HostSystem", Value: "ha-host"}, []string{"config.product"}, &h); err != nil {
				t.Fatal(err)
			}
			if h.Config.Product.FullName != tc.wantFull {
				t.Errorf("host product %+v", h.Config.Product)
			}
		})
	}
	if _, err := Start(Options{Common: Common{ESXiVersion: "6.7.0"}}); err == nil {
		t.Error("an unknown version is accepted")
	}
}

// RetrieveUserGroups returns PosixUserSearchResult with the uid and
// shellAccess (vim.PosixUserSearchResult; Ansible's vmware_local_user_info
// reads shellAccess); CreateUser/UpdateUser honour
// HostPosixAccountSpec.shellAccess, and its default is the caller's shell
// access (HostPosixAccountSpec reference).
func TestPosixUsersAndShellAccess(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	yes, no := true, false
	if err := createPosix(ctx, c, &types.HostPosixAccountSpec{HostAccountSpec: types.HostAccountSpec{Id: "noshell", Password: goodPassword}, ShellAccess: &no}); err != nil {
		t.Fatal(err)
	}
	createUser(t, c, "inherit", goodPassword, "Inherits root's") // root has shell access
	// A caller without shell access creates users without it.
	um := userSession(t, s, c, "mgr", addRole(t, c, "Mgr", PrivManageUserGroups))
	if err := updatePosix(ctx, c, &types.HostPosixAccountSpec{HostAccountSpec: types.HostAccountSpec{Id: "mgr"}, ShellAccess: &no}); err != nil {
		t.Fatal(err)
	}
	createUser(t, um, "fromnoshell", goodPassword, "")

	res, err := methods.RetrieveUserGroups(ctx, c, &types.RetrieveUserGroups{This: *c.ServiceContent.UserDirectory, FindUsers: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*types.PosixUserSearchResult{}
	for _, r := range res.Returnval {
		p, ok := r.(*types.PosixUserSearchResult)
		if !ok {
			t.Fatalf("%T, want *types.PosixUserSearchResult", r)
		}
		if p.ShellAccess == nil {
			t.Fatalf("%s: no shellAccess", p.Principal)
		}
		got[p.Principal] = p
	}
	for id, want := range map[string]struct {
		uid   int32
		shell bool
	}{"root": {0, true}, "dcui": {100, false}, "vpxuser": {500, true}, "noshell": {1000, false}, "inherit": {1001, true}, "mgr": {1002, false}, "fromnoshell": {1003, false}} {
		p := got[id]
		if p == nil || p.Id != want.uid || *p.ShellAccess != want.shell {
			t.Errorf("%s: %+v, want uid %d shell %v", id, p, want.uid, want.shell)
		}
	}
	if err := updatePosix(ctx, c, &types.HostPosixAccountSpec{HostAccountSpec: types.HostAccountSpec{Id: "noshell"}, ShellAccess: &yes}); err != nil {
		t.Fatal(err)
	}
	// A plain HostAccountSpec leaves shell access alone.
	if err := accounts(c).Update(ctx, &types.HostAccountSpec{Id: "noshell", Description: "now with shell"}); err != nil {
		t.Fatal(err)
	}
	res, _ = methods.RetrieveUserGroups(ctx, c, &types.RetrieveUserGroups{This: *c.ServiceContent.UserDirectory, FindUsers: true, SearchStr: "noshell", ExactMatch: true})
	if len(res.Returnval) != 1 || !*res.Returnval[0].(*types.PosixUserSearchResult).ShellAccess || res.Returnval[0].GetUserSearchResult().FullName != "now with shell" {
		t.Errorf("after update: %+v", res.Returnval)
	}
}

// Account lockout: after Security.AccountLockFailures (default 5)
// consecutive failures the right password is refused until
// Security.AccountUnlockTime (default 900 s) has passed (vSphere Security
// "ESXi Passwords and Account Lockout"; KB 436299). The simulator's clock is
// advanced, not waited for.
func TestAccountLockout(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := start(t, Options{Clock: clock.Now})
	c := root(t, s)
	ctx := testContext(t)
	createUser(t, c, "alice", goodPassword, "")
	grant(t, c, "alice", roleReadOnly)
	try := func(pw string) error { _, err := login(t, s, "alice", pw); return err }

	q, err := hostOptionManager(t, c).Query(ctx, "Security.Account")
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	for _, o := range q {
		vals[o.GetOptionValue().Key] = o.GetOptionValue().Value
	}
	if vals[optAccountLockFailures] != int64(5) || vals[optAccountUnlockTime] != int64(900) {
		t.Fatalf("defaults %v", vals)
	}

	// Four failures, then success resets the count.
	for i := 0; i < 4; i++ {
		wantFault[*types.InvalidLogin](t, try("wrong"))
	}
	if err := try(goodPassword); err != nil {
		t.Fatalf("4 failures lock the account: %v", err)
	}
	// Five consecutive failures lock it: the right password is refused,
	// with the same fault and message as a wrong one.
	for i := 0; i < 5; i++ {
		wantFault[*types.InvalidLogin](t, try("wrong"))
	}
	err = try(goodPassword)
	wantFault[*types.InvalidLogin](t, err)
	if !strings.Contains(err.Error(), "Cannot complete login due to an incorrect user name or password.") {
		t.Errorf("message: %v", err)
	}
	if !s.Locked("alice") || s.Locked("root") {
		t.Error("Locked")
	}
	// Other accounts are not affected.
	root(t, s)

	clock.Advance(899 * time.Second)
	wantFault[*types.InvalidLogin](t, try(goodPassword))
	clock.Advance(time.Second)
	if err := try(goodPassword); err != nil {
		t.Fatalf("after AccountUnlockTime: %v", err)
	}

	// The options apply at once: 2 failures, 60 s.
	err = hostOptionManager(t, c).Update(ctx, []types.BaseOptionValue{
		&types.OptionValue{Key: optAccountLockFailures, Value: int64(2)},
		&types.OptionValue{Key: optAccountUnlockTime, Value: int64(60)},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantFault[*types.InvalidLogin](t, try("wrong"))
	wantFault[*types.InvalidLogin](t, try("wrong"))
	wantFault[*types.InvalidLogin](t, try(goodPassword))
	clock.Advance(time.Minute)
	if err := try(goodPassword); err != nil {
		t.Fatal(err)
	}
	// 0 disables lockout.
	if err := hostOptionManager(t, c).Update(ctx, []types.BaseOptionValue{&types.OptionValue{Key: optAccountLockFailures, Value: int64(0)}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		wantFault[*types.InvalidLogin](t, try("wrong"))
	}
	if err := try(goodPassword); err != nil {
		t.Fatal(err)
	}
}

// supportedOption describes every option the host serves, with its type and
// default, and UpdateOptions checks values against it (OptionManager
// reference; Ansible's vmware_host_config_manager reads supportedOption
// first).
func TestSupportedOptions(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	om := hostOptionManager(t, c)
	var m mo.OptionManager
	if err := property.DefaultCollector(c).RetrieveOne(ctx, om.Reference(), []string{"supportedOption", "setting"}, &m); err != nil {
		t.Fatal(err)
	}
	defs := map[string]types.BaseOptionType{}
	for _, d := range m.SupportedOption {
		defs[d.Key] = d.OptionType
	}
	for _, st := range m.Setting {
		if defs[st.GetOptionValue().Key] == nil {
			t.Errorf("setting %s has no supportedOption", st.GetOptionValue().Key)
		}
	}
	want := map[string]string{
		"Security.PasswordQualityControl": "string:" + passwdqc.ESXiDefault,
		"Security.PasswordHistory":        "long:0",
		"Security.AccountLockFailures":    "long:5",
		"Security.AccountUnlockTime":      "long:900",
		"DCUI.Access":                     "string:root",
	}
	for key, w := range want {
		var got string
		switch o := defs[key].(type) {
		case *types.StringOption:
			got = "string:" + o.DefaultValue
		case *types.LongOption:
			got = fmt.Sprintf("long:%d", o.DefaultValue)
			if o.Min != 0 || o.Max <= o.DefaultValue {
				t.Errorf("%s: min %d max %d", key, o.Min, o.Max)
			}
		default:
			got = "missing"
		}
		if got != w {
			t.Errorf("%s: %s, want %s", key, got, w)
		}
	}
	// Unknown keys: InvalidName; wrong types and ranges: InvalidArgument;
	// nothing applied from a refused batch.
	err := om.Update(ctx, []types.BaseOptionValue{&types.OptionValue{Key: "Security.NoSuchOption", Value: "x"}})
	wantFault[*types.InvalidName](t, err)
	for _, bad := range []types.BaseOptionValue{
		&types.OptionValue{Key: "Security.AccountLockFailures", Value: "five"},
		&types.OptionValue{Key: "Security.AccountUnlockTime", Value: int64(-1)},
		&types.OptionValue{Key: "DCUI.Access", Value: int64(3)},
	} {
		err := om.Update(ctx, []types.BaseOptionValue{&types.OptionValue{Key: "Security.PasswordHistory", Value: int64(3)}, bad})
		if f := wantFault[*types.InvalidArgument](t, err); f.InvalidProperty != bad.GetOptionValue().Key {
			t.Errorf("%v: %+v", bad, f)
		}
	}
	q, _ := om.Query(ctx, "Security.PasswordHistory")
	if q[0].GetOptionValue().Value != int64(0) {
		t.Errorf("a refused batch was applied: %v", q[0].GetOptionValue().Value)
	}
}

// A password the policy rejects is answered in the form ESXi 7.0/8.0
// documents, "A general system error occurred: passwd: Authentication
// token manipulation error" with "Failed to set the password. It is
// possible that your password does not meet the complexity criteria set by
// the system." (vSphere 7.0 troubleshooting), or the older forms on request.
func TestWeakPasswordForms(t *testing.T) {
	for _, tc := range []struct {
		form             WeakPasswordForm
		reason, included string
	}{
		{WeakPasswordPasswd, "passwd: Authentication token manipulation error", "Failed to set the password. It is possible that your password does not meet the complexity criteria set by the system."},
		{WeakPasswordReason, "Weak password: too short.", "Weak password: too short."},
		{WeakPasswordBoth, "Weak password: too short.\npasswd: Authentication token manipulation error", "Failed to set the password. It is possible that your password does not meet the complexity criteria set by the system."},
	} {
		s := start(t, Options{Common: Common{WeakPasswordFault: tc.form}})
		c := root(t, s)
		err := accounts(c).Create(testContext(t), &types.HostAccountSpec{Id: "weak", Password: "aB3$xy"})
		f := wantFault[*types.SystemError](t, err)
		if f.Reason != tc.reason || soap.ToSoapFault(err).String != "A general system error occurred: "+tc.reason {
			t.Errorf("form %d: %v", tc.form, err)
		}
		if len(f.FaultMessage) != 1 || f.FaultMessage[0].Message != tc.included {
			t.Errorf("form %d: faultMessage %+v", tc.form, f.FaultMessage)
		}
		if strings.Contains(err.Error(), "aB3$xy") {
			t.Error("the password is in the fault")
		}
	}
}

// A failed login says "Cannot complete login due to an incorrect user name
// or password." (ESXi's InvalidLogin message).
func TestInvalidLoginMessage(t *testing.T) {
	s := start(t, Options{})
	_, err := login(t, s, "root", "wrong")
	wantFault[*types.InvalidLogin](t, err)
	if soap.ToSoapFault(err).String != "Cannot complete login due to an incorrect user name or password." {
		t.Errorf("faultstring %q", soap.ToSoapFault(err).String)
	}
}

// Permissions cannot be set on the host itself (a HostSystem that is part
// of a ComputeResource), nor on a datacenter's child folders: InvalidArgument
// (SetEntityPermissions, AuthorizationManager reference).
func TestPermissionsOnInheritingEntities(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	createUser(t, c, "alice", goodPassword, "")
	host := types.ManagedObjectReference{Type: "HostSystem", Value: "ha-host"}
	err := authz(c).SetEntityPermissions(ctx, host, []types.Permission{{Principal: "alice", RoleId: roleReadOnly, Propagate: true}})
	if f := wantFault[*types.InvalidArgument](t, err); f.InvalidProperty != "entity" {
		t.Errorf("%+v", f)
	}
	dc, err := object.NewSearchIndex(c).FindByInventoryPath(ctx, "/ha-datacenter")
	if err != nil || dc == nil {
		t.Fatalf("datacenter: %v", err)
	}
	folders, err := dc.(*object.Datacenter).Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = authz(c).SetEntityPermissions(ctx, folders.VmFolder.Reference(), []types.Permission{{Principal: "alice", RoleId: roleReadOnly, Propagate: true}})
	wantFault[*types.InvalidArgument](t, err)
	// The datacenter itself takes permissions.
	if err := authz(c).SetEntityPermissions(ctx, dc.Reference(), []types.Permission{{Principal: "alice", RoleId: roleReadOnly, Propagate: true}}); err != nil {
		t.Fatal(err)
	}
	// ... which the host inherits (complex entity / propagation).
	if got := strings.Join(s.Privileges("alice", host), ","); got != "System.Anonymous,System.Read,System.View" {
		t.Errorf("alice on the host: %s", got)
	}
}
