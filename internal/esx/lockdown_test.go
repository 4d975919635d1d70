package esx_test

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

// lockdownList needs a role for op1, who is on no exception list.
const lockdownList = `
- {id: op1, operation: add, password: 'S3cr3tP455!', role: ReadOnly}
- {id: gone, operation: remove}
`

// Through vCenter, a host in lockdown mode refuses a role for a user that
// is not on its exception list (ChangeAccessMode: SecurityError): the run
// stops before the first write, exit 3, naming the host, the lockdown mode,
// the entry and the way out; plan says the same, and the host is
// unchanged. Once the user is on the exception list, the run goes through.
func TestViHostLockdownStopsBeforeWriting(t *testing.T) {
	v := startVC(t, esxsim.VCenterOptions{Hosts: 2, HostLockdown: map[string]string{"DC0_H0": "lockdownNormal"}})
	s := dialVC(t, v)
	h, err := esx.NewViHost(vctx(t), s, "DC0_H0")
	if err != nil {
		t.Fatal(err)
	}
	for _, plan := range []bool{true, false} {
		w := v.HostWrites("DC0_H0")
		rep, err := tasks.Run(vctx(t), h, parse(t, lockdownList), tasks.Options{Checker: checker{}, Plan: plan})
		if !errors.Is(err, errkind.ErrRefused) || errkind.ExitCode(err) != errkind.ExitConnect {
			t.Fatalf("plan=%v: err %v, want ErrRefused (exit 3)", plan, err)
		}
		for _, want := range []string{"host DC0_H0 is in lockdown mode (normal)", "not on its lockdown exception list", `entry 1 (id "op1", add) would be refused`, "disable lockdown mode"} {
			if !strings.Contains(err.Error(), want) || !strings.Contains(rep.Error, want) {
				t.Errorf("plan=%v: %q lacks %q", plan, err, want)
			}
		}
		if strings.Contains(err.Error(), `"gone"`) {
			t.Errorf("plan=%v: a remove of a user without a role is named: %v", plan, err)
		}
		if n := v.HostWrites("DC0_H0") - w; n != 0 {
			t.Errorf("plan=%v: %d writes", plan, n)
		}
	}
	snap, err := h.Read(vctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Lockdown != "lockdownNormal" || snap.LockdownExceptions == nil || len(snap.LockdownExceptions) != 0 {
		t.Errorf("snapshot lockdown %q exceptions %#v", snap.Lockdown, snap.LockdownExceptions)
	}
	// Put op1 on the exception list (it must exist first).
	cm := managers(t, s, h)
	am := object.NewHostAccountManager(s.Client, *cm.AccountManager)
	if err := am.Create(vctx(t), &types.HostAccountSpec{Id: "op1", Password: "S3cr3tP455!"}); err != nil {
		t.Fatal(err)
	}
	if _, err := methods.UpdateLockdownExceptions(vctx(t), s.Client, &types.UpdateLockdownExceptions{This: *cm.HostAccessManager, Users: []string{"op1"}}); err != nil {
		t.Fatal(err)
	}
	rep, err := tasks.Run(vctx(t), h, parse(t, lockdownList), tasks.Options{Checker: checker{}})
	if err != nil {
		t.Fatalf("%v\n%+v", err, rep)
	}
	ref, _ := v.HostRef("DC0_H0")
	if got := readHost(t, s.Client, ref).Perms["op1"]; got != "ReadOnly" {
		t.Errorf("op1's role %q", got)
	}
}

// managers returns the host's configManager.
func managers(t *testing.T, s *esx.Session, h *esx.ViHost) types.HostConfigManager {
	t.Helper()
	var hs mo.HostSystem
	if err := property.DefaultCollector(s.Client).RetrieveOne(vctx(t), h.Reference(), []string{"configManager"}, &hs); err != nil {
		t.Fatal(err)
	}
	return hs.ConfigManager
}

// A direct login to a host in lockdown mode, as a user that is not an
// exception user, is refused with NoPermission, which the client explains:
// the host may be in lockdown mode, and the way out.
func TestDirectLoginRefusedInLockdown(t *testing.T) {
	sim, err := esxsim.Start(esxsim.Options{Lockdown: "lockdownStrict"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	pw, _ := sim.URL.User.Password()
	_, err = esx.Dial(vctx(t), esx.Config{Server: sim.URL.Host, Username: "root", Password: params.NewPassword(pw), RootCAs: poolOf(t, sim.CertPEM), Timeout: 20 * time.Second})
	var lr *esx.LoginRefusedError
	if !errors.As(err, &lr) || !esx.IsFault(err, &types.NoPermission{}) {
		t.Fatalf("err %v (%T), want a LoginRefusedError carrying NoPermission", err, err)
	}
	if !strings.Contains(err.Error(), esx.LockdownHint) || strings.Contains(err.Error(), pw) {
		t.Errorf("err %q", err)
	}
}

// On a direct connection the session is an exception user (no other can
// log in); the host read reports the mode and the list, and roles of other
// users are refused before the first write. A session without
// Global.Settings cannot read the list: only its own user is known to be
// on it, and the refusal says so.
func TestDirectLockdownExceptionUser(t *testing.T) {
	sim, err := esxsim.Start(esxsim.Options{Common: esxsim.Common{Username: "svc", Password: svcPassword}, Lockdown: "lockdownNormal", LockdownExceptions: []string{"svc"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	svc := dialSim(t, sim, "svc", svcPassword)
	w := sim.Writes()
	rep, err := runAs(t, svc, lockdownList, tasks.Options{})
	if !errors.Is(err, errkind.ErrRefused) || !strings.Contains(rep.Error, "is in lockdown mode (normal)") || !strings.Contains(rep.Error, `entry 1 (id "op1", add)`) {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(rep.Error, "could not be read") {
		t.Errorf("an Admin exception user reads the list: %v", err)
	}
	if sim.Writes() != w {
		t.Errorf("%d writes", sim.Writes()-w)
	}
	// svc itself may keep its role; removing a user without a role is fine.
	if rep, err := runAs(t, svc, "- {id: svc, operation: set, password: 'An0ther#P455', role: Admin}\n- {id: gone, operation: remove}\n", tasks.Options{}); err != nil {
		t.Fatalf("%v\n%+v", err, rep)
	}
	// lp: an exception user with a role of exactly the privileges a list
	// needs, without Global.Settings.
	ctx := vctx(t)
	c := svc.Client
	if err := object.NewHostAccountManager(c, *c.ServiceContent.AccountManager).Create(ctx, &types.HostAccountSpec{Id: "lp", Password: svcPassword}); err != nil {
		t.Fatal(err)
	}
	var hs mo.HostSystem
	if err := property.DefaultCollector(c).RetrieveOne(ctx, types.ManagedObjectReference{Type: "HostSystem", Value: "ha-host"}, []string{"configManager"}, &hs); err != nil {
		t.Fatal(err)
	}
	if _, err := methods.UpdateLockdownExceptions(ctx, c, &types.UpdateLockdownExceptions{This: *hs.ConfigManager.HostAccessManager, Users: []string{"svc", "lp"}}); err != nil {
		t.Fatal(err)
	}
	am := object.NewAuthorizationManager(c)
	role, err := am.AddRole(ctx, "UserManager", []string{"Host.Local.ManageUserGroups", "Authorization.ModifyPermissions"})
	if err != nil {
		t.Fatal(err)
	}
	if err := am.SetEntityPermissions(ctx, c.ServiceContent.RootFolder, []types.Permission{{Principal: "lp", RoleId: role, Propagate: true}}); err != nil {
		t.Fatal(err)
	}
	lp := dialSim(t, sim, "lp", svcPassword)
	rep, err = runAs(t, lp, lockdownList, tasks.Options{Plan: true})
	if !errors.Is(err, errkind.ErrRefused) || !strings.Contains(rep.Error, `its exception list could not be read: user "lp" lacks Global.Settings`) {
		t.Fatalf("err %v", err)
	}
}

func poolOf(t *testing.T, pem []byte) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("bad CertPEM")
	}
	return pool
}
