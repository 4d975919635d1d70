package esxsim

import (
	"reflect"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// lockdownView is what a client reads of a host's lockdown state: the
// HostAccessManager's lockdownMode, the HostSystem's config.lockdownMode
// and the exception and system users.
type lockdownView struct {
	mode, configMode types.HostLockdownMode
	exceptions       []string
	system           []string
}

func readLockdown(t *testing.T, c *vim25.Client, host, ham types.ManagedObjectReference) lockdownView {
	t.Helper()
	ctx := testContext(t)
	pc := property.DefaultCollector(c)
	var am mo.HostAccessManager
	if err := pc.RetrieveOne(ctx, ham, []string{"lockdownMode"}, &am); err != nil {
		t.Fatalf("lockdownMode: %v", err)
	}
	var hs mo.HostSystem
	if err := pc.RetrieveOne(ctx, host, []string{"config.lockdownMode"}, &hs); err != nil {
		t.Fatalf("config.lockdownMode: %v", err)
	}
	ex, err := methods.QueryLockdownExceptions(ctx, c, &types.QueryLockdownExceptions{This: ham})
	if err != nil {
		t.Fatalf("QueryLockdownExceptions: %v", err)
	}
	sys, err := methods.QuerySystemUsers(ctx, c, &types.QuerySystemUsers{This: ham})
	if err != nil {
		t.Fatalf("QuerySystemUsers: %v", err)
	}
	return lockdownView{mode: am.LockdownMode, configMode: hs.Config.LockdownMode, exceptions: ex.Returnval, system: sys.Returnval}
}

// A standalone host started in lockdown mode (a host vCenter locked down,
// HostAccessManager reference; vSphere Security "Lockdown Mode Behavior"):
// root, whose permission lockdown removed, cannot log in (NoPermission, as
// any user without a permission); an exception user can, and reads the
// mode, the exceptions and the system users; it may create users but not
// give a non-exception user a permission (SecurityError); it can change
// its own (an exception's) permission; the lockdown calls follow their
// documented AuthMinimumAdminPermission and UserNotFound rules.
func TestLockdownStandalone(t *testing.T) {
	s := start(t, Options{Common: Common{Username: "svc", Password: goodPassword}, Lockdown: "lockdownNormal", LockdownExceptions: []string{"svc"}})
	ctx := testContext(t)
	rootPW := goodPassword // Options.Password is root's too
	_, err := login(t, s, "root", rootPW)
	np := wantFault[*types.NoPermission](t, err)
	if np.PrivilegeId != PrivSystemView {
		t.Errorf("root's login: %v", err)
	}
	c := root(t, s) // svc
	host := types.ManagedObjectReference{Type: "HostSystem", Value: "ha-host"}
	var hs mo.HostSystem
	if err := property.DefaultCollector(c).RetrieveOne(ctx, host, []string{"configManager.hostAccessManager"}, &hs); err != nil {
		t.Fatal(err)
	}
	ham := *hs.ConfigManager.HostAccessManager
	got := readLockdown(t, c, host, ham)
	want := lockdownView{mode: "lockdownNormal", configMode: "lockdownNormal", exceptions: []string{"svc"}, system: []string{"dcui", "vpxuser"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lockdown %+v, want %+v", got, want)
	}
	// Permissions of root are gone; svc's, dcui's and vpxuser's are kept.
	perms := rootPerms(t, c)
	if _, ok := perms["root"]; ok || perms["svc"].RoleId != roleAdmin || perms["vpxuser"].RoleId != roleAdmin || perms["dcui"].RoleId != roleAdmin {
		t.Errorf("permissions in lockdown mode: %v", perms)
	}
	createUser(t, c, "op1", goodPassword, "")
	err = authz(c).SetEntityPermissions(ctx, rootFolder(c), []types.Permission{{Principal: "op1", RoleId: roleReadOnly, Propagate: true}})
	wantFault[*types.SecurityError](t, err)
	_, err = methods.ChangeAccessMode(ctx, c, &types.ChangeAccessMode{This: ham, Principal: "op1", AccessMode: types.HostAccessModeAccessReadOnly})
	wantFault[*types.SecurityError](t, err)
	err = authz(c).RemoveEntityPermission(ctx, rootFolder(c), "vpxuser", false)
	wantFault[*types.SecurityError](t, err)
	if err := authz(c).SetEntityPermissions(ctx, rootFolder(c), []types.Permission{{Principal: "svc", RoleId: roleAdmin, Propagate: true}}); err != nil {
		t.Errorf("an exception user's own permission: %v", err)
	}
	if _, ok := rootPerms(t, c)["op1"]; ok {
		t.Error("op1 got a permission")
	}
	// UpdateLockdownExceptions: the caller must stay on the list; unknown
	// users are UserNotFound.
	upd := func(users ...string) error {
		_, err := methods.UpdateLockdownExceptions(ctx, c, &types.UpdateLockdownExceptions{This: ham, Users: users})
		return err
	}
	wantFault[*types.AuthMinimumAdminPermission](t, upd("op1"))
	wantFault[*types.UserNotFound](t, upd("svc", "nobody"))
	wantFault[*types.UserNotFound](t, upd("svc", "+op1"))
	if err := upd("svc", "op1"); err != nil {
		t.Fatal(err)
	}
	if err := authz(c).SetEntityPermissions(ctx, rootFolder(c), []types.Permission{{Principal: "op1", RoleId: roleReadOnly, Propagate: true}}); err != nil {
		t.Errorf("an exception user's permission: %v", err)
	}
	_, err = methods.ChangeLockdownMode(ctx, c, &types.ChangeLockdownMode{This: ham, Mode: "lockdownLoose"})
	wantFault[*types.InvalidArgument](t, err)
	// Leaving lockdown mode restores root's permission.
	if _, err := methods.ChangeLockdownMode(ctx, c, &types.ChangeLockdownMode{This: ham, Mode: types.HostLockdownModeLockdownDisabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := login(t, s, "root", rootPW); err != nil {
		t.Errorf("root after lockdown: %v", err)
	}
	if got := readLockdown(t, c, host, ham); got.mode != "lockdownDisabled" || got.configMode != "lockdownDisabled" {
		t.Errorf("after ChangeLockdownMode: %+v", got)
	}
}

// A caller that is not an exception user cannot change the lockdown mode
// (ChangeLockdownMode: AuthMinimumAdminPermission "if the user invoking
// the operation is not in the exceptions list").
func TestLockdownCallerMustBeException(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	ham := types.ManagedObjectReference{Type: "HostAccessManager", Value: "ha-host-access-manager"}
	_, err := methods.ChangeLockdownMode(ctx, c, &types.ChangeLockdownMode{This: ham, Mode: types.HostLockdownModeLockdownNormal})
	wantFault[*types.AuthMinimumAdminPermission](t, err)
	if _, err := methods.UpdateLockdownExceptions(ctx, c, &types.UpdateLockdownExceptions{This: ham, Users: []string{"root"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := methods.ChangeLockdownMode(ctx, c, &types.ChangeLockdownMode{This: ham, Mode: types.HostLockdownModeLockdownStrict}); err != nil {
		t.Fatal(err)
	}
	if _, err := login(t, s, "root", passwordOf(s)); err != nil {
		t.Errorf("root, an exception user, in strict lockdown: %v", err)
	}
	if _, err := Start(Options{Lockdown: "closed"}); err == nil {
		t.Error("a mode that is not a HostLockdownMode is accepted")
	}
	if _, err := Start(Options{Lockdown: "lockdownNormal", LockdownExceptions: []string{"nobody"}}); err == nil {
		t.Error("an unknown exception user is accepted")
	}
}

func passwordOf(s *Server) string {
	pw, _ := s.URL.User.Password()
	return pw
}

// Through vCenter (HostLockdown): the host's lockdown mode is read with
// the host's properties; root cannot log in to it directly; vCenter may
// create users, but not give a non-exception user access
// (ChangeAccessMode: SecurityError); UpdateLockdownExceptions (as vpxuser,
// a system user) adds one, whose access then can be set, and removes it,
// which takes its permission away; ChangeLockdownMode ends lockdown mode
// and restores root's Admin. Other hosts are not affected.
func TestVCenterLockdown(t *testing.T) {
	v := startVC(t, VCenterOptions{Hosts: 2, HostLockdown: map[string]string{"DC0_H0": "lockdownNormal"}})
	c := vcAdmin(t, v)
	ctx := testContext(t)
	h := vcHostSystem(t, c, "DC0_H0")
	other := vcHostSystem(t, c, "DC0_C0_H0")
	ham := *h.ConfigManager.HostAccessManager
	if got := readLockdown(t, c, h.Self, ham); got.mode != "lockdownNormal" || got.configMode != "lockdownNormal" || len(got.exceptions) != 0 {
		t.Errorf("lockdown %+v", got)
	}
	if got := readLockdown(t, c, other.Self, *other.ConfigManager.HostAccessManager); got.mode != "lockdownDisabled" || got.configMode != "lockdownDisabled" {
		t.Errorf("other host %+v", got)
	}
	// Account changes are no lockdown condition: root's password is set,
	// and root still has no access.
	am := object.NewHostAccountManager(c, *h.ConfigManager.AccountManager)
	if err := am.Update(ctx, &types.HostAccountSpec{Id: "root", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	if valid, access, _ := v.CheckHostLogin("DC0_H0", "root", goodPassword); !valid || access {
		t.Errorf("root in lockdown mode: valid=%v access=%v, want valid without access", valid, access)
	}
	if err := am.Create(ctx, &types.HostAccountSpec{Id: "bob", Password: "Vc-Sim.Pass4ward"}); err != nil {
		t.Fatal(err)
	}
	change := func(user string, mode types.HostAccessMode) error {
		_, err := methods.ChangeAccessMode(ctx, c, &types.ChangeAccessMode{This: ham, Principal: user, AccessMode: mode})
		return err
	}
	w := v.HostWrites("DC0_H0")
	wantFault[*types.SecurityError](t, change("bob", types.HostAccessModeAccessReadOnly))
	if _, err := runCLI(t, executor(t, c, h), "system", "permission", "set", "-i", "bob", "-r", "ReadOnly"); err == nil {
		t.Error("esxcli system permission set in lockdown mode succeeded")
	}
	upd := func(users ...string) error {
		_, err := methods.UpdateLockdownExceptions(ctx, c, &types.UpdateLockdownExceptions{This: ham, Users: users})
		return err
	}
	wantFault[*types.UserNotFound](t, upd("nobody"))
	if err := upd("bob"); err != nil {
		t.Fatalf("UpdateLockdownExceptions through vCenter: %v", err)
	}
	if err := change("bob", types.HostAccessModeAccessAdmin); err != nil {
		t.Fatalf("an exception user's access: %v", err)
	}
	if _, access, _ := v.CheckHostLogin("DC0_H0", "bob", "Vc-Sim.Pass4ward"); !access {
		t.Error("bob, an exception user with Admin, has no access")
	}
	if err := upd(); err != nil {
		t.Fatal(err)
	}
	if _, access, _ := v.CheckHostLogin("DC0_H0", "bob", "Vc-Sim.Pass4ward"); access {
		t.Error("bob keeps access after leaving the exception list")
	}
	if v.HostWrites("DC0_H0") <= w {
		t.Error("lockdown calls are not counted as writes")
	}
	_, err := methods.ChangeLockdownMode(ctx, c, &types.ChangeLockdownMode{This: ham, Mode: types.HostLockdownModeLockdownDisabled})
	if err != nil {
		t.Fatal(err)
	}
	if got := readLockdown(t, c, h.Self, ham); got.mode != "lockdownDisabled" || got.configMode != "lockdownDisabled" {
		t.Errorf("after ChangeLockdownMode: %+v", got)
	}
	perms := cliPerms(t, executor(t, c, h))
	if perms["root"] != "Admin" || perms["bob"] != "Admin" {
		t.Errorf("permissions restored: %v", perms)
	}
	if _, err := StartVCenter(VCenterOptions{HostLockdown: map[string]string{"nohost": "lockdownNormal"}}); err == nil {
		t.Error("an unknown host is accepted")
	}
	if _, err := StartVCenter(VCenterOptions{HostLockdown: map[string]string{"DC0_H0": "normal"}}); err == nil {
		t.Error("a mode that is not a HostLockdownMode is accepted")
	}
}
