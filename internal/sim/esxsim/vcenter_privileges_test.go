package esxsim

import (
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Through vCenter, the calls on a host's managers are authorized with the
// vCenter session's privileges on the HostSystem: Host.Local.
// ManageUserGroups for HostLocalAccountManager, Global.Settings for
// HostAccessManager (pyVmomi ServerObjects.py; HostAccessManager reference),
// and the esxcli commands as the calls they stand for.
func TestVCenterPrivilegesOnHosts(t *testing.T) {
	v := startVC(t, VCenterOptions{Hosts: 2})
	admin := vcAdmin(t, v)
	ctx := testContext(t)
	const svc, pw = "svc@vsphere.local", "Svc#Acct-2291x"
	if err := v.AddUser(svc, pw); err != nil {
		t.Fatal(err)
	}
	// No permission: no login.
	if _, err := vcLogin(t, v, svc, pw); err == nil {
		t.Fatal("a user without permissions logged in to vCenter")
	}
	am := object.NewAuthorizationManager(admin)
	setPerm := func(entity types.ManagedObjectReference, role int32) {
		t.Helper()
		if err := am.SetEntityPermissions(ctx, entity, []types.Permission{{Principal: svc, RoleId: role, Propagate: true}}); err != nil {
			t.Fatal(err)
		}
	}
	// vCenter's AuthorizationManager knows vCenter's users only.
	err := am.SetEntityPermissions(ctx, admin.ServiceContent.RootFolder, []types.Permission{{Principal: "root", RoleId: -2, Propagate: true}})
	wantFault[*types.UserNotFound](t, err)

	setPerm(admin.ServiceContent.RootFolder, roleReadOnly)
	c, err := vcLogin(t, v, svc, pw)
	if err != nil {
		t.Fatal(err)
	}
	// h0: the standalone host (DC0_H0), h1: the cluster's (DC0_C0_H0).
	h0 := vcHostSystem(t, c, "DC0_H0")
	h1 := vcHostSystem(t, c, "DC0_C0_H0")
	lam := object.NewHostAccountManager(c, *h0.ConfigManager.AccountManager)
	np := wantFault[*types.NoPermission](t, lam.Create(ctx, &types.HostAccountSpec{Id: "x1", Password: goodPassword}))
	if np.PrivilegeId != PrivManageUserGroups || np.Object == nil || *np.Object != h0.Self {
		t.Errorf("CreateUser: %+v", np)
	}
	_, err = methods.ChangeAccessMode(ctx, c, &types.ChangeAccessMode{This: *h0.ConfigManager.HostAccessManager, Principal: "dcui", AccessMode: types.HostAccessModeAccessReadOnly})
	if np := wantFault[*types.NoPermission](t, err); np.PrivilegeId != PrivGlobalSettings {
		t.Errorf("ChangeAccessMode: %+v", np)
	}
	_, err = methods.RetrieveHostAccessControlEntries(ctx, c, &types.RetrieveHostAccessControlEntries{This: *h0.ConfigManager.HostAccessManager})
	wantFault[*types.NoPermission](t, err)
	// esxcli: reading is System.Read, writing is the account privilege.
	e := executor(t, c, h0)
	if _, err := runCLI(t, e, "system", "account", "list"); err != nil {
		t.Errorf("esxcli account list as ReadOnly: %v", err)
	}
	if _, err := runCLI(t, e, "system", "account", "add", "--id=x2", "--password=S3cr3tP455!", "--password-confirmation=S3cr3tP455!"); err == nil {
		t.Error("esxcli account add as ReadOnly succeeded")
	}

	// A role with the two privileges on host 0's ComputeResource (the
	// standalone HostSystem takes no permissions of its own): host 0 only.
	role, err := am.AddRole(ctx, "HostUserManager", []string{PrivManageUserGroups, PrivGlobalSettings})
	if err != nil {
		t.Fatal(err)
	}
	var hs0 mo.HostSystem
	if err := property.DefaultCollector(admin).RetrieveOne(ctx, h0.Self, []string{"parent"}, &hs0); err != nil || hs0.Parent == nil {
		t.Fatalf("host 0's parent: %v", err)
	}
	if hs0.Parent.Type != "ComputeResource" {
		t.Fatalf("host 0's parent is a %s", hs0.Parent.Type)
	}
	err = am.SetEntityPermissions(ctx, h0.Self, []types.Permission{{Principal: svc, RoleId: role, Propagate: true}})
	wantFault[*types.InvalidArgument](t, err)
	setPerm(*hs0.Parent, role)
	if err := lam.Create(ctx, &types.HostAccountSpec{Id: "x1", Password: goodPassword}); err != nil {
		t.Fatalf("CreateUser on host 0: %v", err)
	}
	if _, err := methods.ChangeAccessMode(ctx, c, &types.ChangeAccessMode{This: *h0.ConfigManager.HostAccessManager, Principal: "x1", AccessMode: types.HostAccessModeAccessReadOnly}); err != nil {
		t.Fatalf("ChangeAccessMode on host 0: %v", err)
	}
	lam1 := object.NewHostAccountManager(c, *h1.ConfigManager.AccountManager)
	wantFault[*types.NoPermission](t, lam1.Create(ctx, &types.HostAccountSpec{Id: "x1", Password: goodPassword}))

	// FetchUserPrivilegeOnEntities answers from vCenter's permissions.
	res, err := methods.FetchUserPrivilegeOnEntities(ctx, c, &types.FetchUserPrivilegeOnEntities{This: *c.ServiceContent.AuthorizationManager,
		Entities: []types.ManagedObjectReference{h0.Self, h1.Self}, UserName: svc})
	if err != nil {
		t.Fatal(err)
	}
	has := func(privs []string, p string) bool {
		for _, q := range privs {
			if q == p {
				return true
			}
		}
		return false
	}
	if !has(res.Returnval[0].Privileges, PrivManageUserGroups) || has(res.Returnval[1].Privileges, PrivManageUserGroups) {
		t.Errorf("FetchUserPrivilegeOnEntities %+v", res.Returnval)
	}
}
