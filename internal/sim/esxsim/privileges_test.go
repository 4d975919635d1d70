package esxsim

import (
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// userSession creates id with role on the root folder and logs it in.
func userSession(t *testing.T, s *Server, admin *vim25.Client, id string, role int32) *vim25.Client {
	t.Helper()
	createUser(t, admin, id, goodPassword, "")
	grant(t, admin, id, role)
	c, err := login(t, s, id, goodPassword)
	if err != nil {
		t.Fatalf("login %s: %v", id, err)
	}
	return c
}

func wantNoPermission(t *testing.T, err error, priv string) {
	t.Helper()
	np := wantFault[*types.NoPermission](t, err)
	if np.PrivilegeId != priv {
		t.Errorf("NoPermission privilegeId %q, want %q (%v)", np.PrivilegeId, priv, err)
	}
	if np.Object == nil {
		t.Errorf("NoPermission without object: %v", err)
	}
	if !strings.Contains(err.Error(), "Permission to perform this operation was denied.") {
		t.Errorf("faultstring: %v", err)
	}
}

func addRole(t *testing.T, c *vim25.Client, name string, privs ...string) int32 {
	t.Helper()
	id, err := authz(c).AddRole(testContext(t), name, privs)
	if err != nil {
		t.Fatalf("AddAuthorizationRole %s: %v", name, err)
	}
	return id
}

// Privileges per call. Each method checks the privilege the vSphere API
// reference (pyVmomi 6.7.1 ServerObjects.py; docs/vim/*.rst) gives it, on
// the entity it acts on, and answers NoPermission with privilegeId and
// object otherwise (faultstring as in govmomi issue #3455).
func TestPrivilegesPerCall(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	ro := userSession(t, s, c, "reader", roleReadOnly)
	root := rootFolder(c)
	host := types.ManagedObjectReference{Type: "HostSystem", Value: "ha-host"}

	cases := []struct {
		name string
		call func(c *vim25.Client) error
		priv string
	}{
		{"CreateUser", func(c *vim25.Client) error {
			return accounts(c).Create(ctx, &types.HostAccountSpec{Id: "x1", Password: goodPassword})
		}, PrivManageUserGroups},
		{"UpdateUser", func(c *vim25.Client) error {
			return accounts(c).Update(ctx, &types.HostAccountSpec{Id: "reader", Description: "d"})
		}, PrivManageUserGroups},
		{"RemoveUser", func(c *vim25.Client) error { return accounts(c).Remove(ctx, "vpxuser") }, PrivManageUserGroups},
		{"SetEntityPermissions", func(c *vim25.Client) error {
			return authz(c).SetEntityPermissions(ctx, root, []types.Permission{{Principal: "reader", RoleId: roleAdmin, Propagate: true}})
		}, PrivModifyPermissions},
		{"RemoveEntityPermission", func(c *vim25.Client) error {
			return authz(c).RemoveEntityPermission(ctx, root, "vpxuser", false)
		}, PrivModifyPermissions},
		{"AddAuthorizationRole", func(c *vim25.Client) error {
			_, err := authz(c).AddRole(ctx, "r1", nil)
			return err
		}, PrivModifyRoles},
		{"RetrieveUserGroups", func(c *vim25.Client) error {
			_, err := methods.RetrieveUserGroups(ctx, c, &types.RetrieveUserGroups{This: *c.ServiceContent.UserDirectory, FindUsers: true})
			return err
		}, PrivModifyPermissions},
		{"UpdateOptions", func(c *vim25.Client) error {
			return hostOptionManager(t, c).Update(ctx, []types.BaseOptionValue{&types.OptionValue{Key: optPasswordHistory, Value: int64(1)}})
		}, PrivAdvancedConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantNoPermission(t, tc.call(ro), tc.priv)
		})
	}

	// Reads a ReadOnly user may do: System.Read / System.View.
	if _, err := authz(ro).RetrieveEntityPermissions(ctx, root, true); err != nil {
		t.Errorf("ReadOnly RetrieveEntityPermissions: %v", err)
	}
	if _, err := hostOptionManager(t, ro).Query(ctx, optPasswordQualityControl); err != nil {
		t.Errorf("ReadOnly QueryOptions: %v", err)
	}
	if _, err := authz(ro).RoleList(ctx); err != nil {
		t.Errorf("ReadOnly roleList: %v", err)
	}

	// Nothing changed.
	if _, ok := users(t, c)["x1"]; ok {
		t.Error("a ReadOnly session created a user")
	}
	if rootPerms(t, c)["reader"].RoleId != roleReadOnly {
		t.Error("a ReadOnly session granted itself a role")
	}
	if got := s.Privileges("reader", host); strings.Join(got, ",") != "System.Anonymous,System.Read,System.View" {
		t.Errorf("reader's privileges on the host: %v", got)
	}
}

// A user-defined role with exactly the privileges to manage users can do
// so, but cannot grant privileges it does not hold ("NoPermission: if
// current session does not have any privilege in any permission that being
// set", SetEntityPermissions, AuthorizationManager reference).
func TestCustomRoleLeastPrivilege(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	id := addRole(t, c, "UserManager", PrivManageUserGroups, PrivModifyPermissions)
	um := userSession(t, s, c, "svc", id)

	roles, err := authz(c).RoleList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := roles.ById(id)
	if r == nil || strings.Join(r.Privilege, ",") != "Authorization.ModifyPermissions,Host.Local.ManageUserGroups,System.Anonymous,System.Read,System.View" {
		t.Fatalf("role %+v: want the privileges plus the three system ones", r)
	}

	createUser(t, um, "bob", goodPassword, "Bob")
	grant(t, um, "bob", roleReadOnly)
	grant(t, um, "bob", roleNoAccess)
	if err := accounts(um).Update(ctx, &types.HostAccountSpec{Id: "bob", Password: "An0th3r!Pass"}); err != nil {
		t.Fatal(err)
	}
	root := rootFolder(c)
	for _, who := range []string{"bob", "svc"} {
		err := authz(um).SetEntityPermissions(ctx, root, []types.Permission{{Principal: who, RoleId: roleAdmin, Propagate: true}})
		np := wantFault[*types.NoPermission](t, err)
		if np.PrivilegeId == "" || np.PrivilegeId == PrivModifyPermissions {
			t.Errorf("granting Admin to %s: privilegeId %q, want an Admin privilege svc lacks", who, np.PrivilegeId)
		}
	}
	// Removing an Admin permission needs Admin's privileges too.
	wantFault[*types.NoPermission](t, authz(um).RemoveEntityPermission(ctx, root, "vpxuser", false))
	if err := authz(um).RemoveEntityPermission(ctx, root, "bob", false); err != nil {
		t.Fatalf("removing a NoAccess permission: %v", err)
	}
	if err := accounts(um).Remove(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	// It cannot edit roles.
	_, err = authz(um).AddRole(ctx, "Escalate", []string{PrivModifyRoles})
	wantNoPermission(t, err, PrivModifyRoles)
}

// A permission change applies to sessions already logged in: the user is
// looked up at every call.
func TestDemotionAppliesToLiveSession(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	alice := userSession(t, s, c, "alice", roleAdmin)
	createUser(t, alice, "bob", goodPassword, "")

	grant(t, c, "alice", roleNoAccess)
	wantNoPermission(t, accounts(alice).Create(ctx, &types.HostAccountSpec{Id: "carol", Password: goodPassword}), PrivManageUserGroups)
	// Property reads too: roleList needs System.View on the root folder,
	// reported in missingSet.
	_, err := authz(alice).RoleList(ctx)
	if np := wantFault[*types.NoPermission](t, err); np.PrivilegeId != PrivSystemView {
		t.Errorf("roleList: %+v", np)
	}

	grant(t, c, "alice", roleAdmin)
	createUser(t, alice, "carol", goodPassword, "")
}

// HasPrivilegeOnEntities and FetchUserPrivilegeOnEntities answer from the
// same permissions (vcsim answers "granted" for everything).
func TestHasPrivilegeOnEntities(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	ro := userSession(t, s, c, "reader", roleReadOnly)
	root := rootFolder(c)

	var us mo.SessionManager
	if err := mo.RetrieveProperties(ctx, ro, ro.ServiceContent.PropertyCollector, *ro.ServiceContent.SessionManager, &us); err != nil {
		t.Fatal(err)
	}
	privs := []string{PrivSystemRead, PrivManageUserGroups}
	res, err := methods.HasPrivilegeOnEntities(ctx, ro, &types.HasPrivilegeOnEntities{
		This: *ro.ServiceContent.AuthorizationManager, Entity: []types.ManagedObjectReference{root}, SessionId: us.CurrentSession.Key, PrivId: privs,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, a := range res.Returnval[0].PrivAvailability {
		got[a.PrivId] = a.IsGranted
	}
	if !got[PrivSystemRead] || got[PrivManageUserGroups] {
		t.Errorf("HasPrivilegeOnEntities for a ReadOnly session: %v", got)
	}
	// An unknown session holds nothing.
	res, err = methods.HasPrivilegeOnEntities(ctx, ro, &types.HasPrivilegeOnEntities{
		This: *ro.ServiceContent.AuthorizationManager, Entity: []types.ManagedObjectReference{root}, SessionId: "nope", PrivId: privs,
	})
	if err != nil || res.Returnval[0].PrivAvailability[0].IsGranted {
		t.Errorf("unknown session: %v %+v", err, res)
	}

	f, err := methods.FetchUserPrivilegeOnEntities(ctx, c, &types.FetchUserPrivilegeOnEntities{
		This: *c.ServiceContent.AuthorizationManager, Entities: []types.ManagedObjectReference{root}, UserName: "reader",
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(f.Returnval[0].Privileges, ","); p != "System.Anonymous,System.Read,System.View" {
		t.Errorf("FetchUserPrivilegeOnEntities(reader) = %s", p)
	}
}

// Role management faults (AddAuthorizationRole, UpdateAuthorizationRole,
// RemoveAuthorizationRole; AuthorizationManager reference).
func TestRoleManagement(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	am := authz(c)

	_, err := am.AddRole(ctx, "", nil)
	wantFault[*types.InvalidName](t, err)
	_, err = am.AddRole(ctx, "Admin", nil)
	wantFault[*types.AlreadyExists](t, err)
	_, err = am.AddRole(ctx, "Bad", []string{"No.Such.Privilege"})
	wantFault[*types.InvalidArgument](t, err)

	id := addRole(t, c, "Operators", PrivManageUserGroups)
	wantFault[*types.InvalidArgument](t, am.UpdateRole(ctx, roleAdmin, "Admin2", nil))
	wantFault[*types.InvalidArgument](t, am.RemoveRole(ctx, roleReadOnly, false))
	wantFault[*types.AlreadyExists](t, am.UpdateRole(ctx, id, "ReadOnly", nil))
	if err := am.UpdateRole(ctx, id, "Ops", []string{PrivManageUserGroups, PrivModifyPermissions}); err != nil {
		t.Fatal(err)
	}

	createUser(t, c, "op", goodPassword, "")
	grant(t, c, "op", id)
	wantFault[*types.RemoveFailed](t, am.RemoveRole(ctx, id, true))
	if err := am.RemoveRole(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	if _, ok := rootPerms(t, c)["op"]; ok {
		t.Error("a removed role's permission is kept")
	}
	wantFault[*types.NotFound](t, am.RemoveRole(ctx, id, false))
}
