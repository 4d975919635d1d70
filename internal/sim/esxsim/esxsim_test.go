package esxsim

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/passwdqc"
)

const goodPassword = "S3cr3tP455!"

// The server speaks HTTPS with its own certificate: clients verify it by
// thumbprint or by CertPEM, and an unverified connection is refused.
func TestTLSVerification(t *testing.T) {
	s := start(t, Options{})
	ctx := testContext(t)

	if s.URL.Scheme != "https" || s.URL.Path != "/sdk" || s.URL.User == nil {
		t.Fatalf("URL = %s", s.URL.Redacted())
	}
	if pw, _ := s.URL.User.Password(); s.URL.User.Username() != "root" || pw == "" {
		t.Fatalf("URL user = %s", s.URL.Redacted())
	}
	if len(s.Thumbprint) != 59 || strings.ToUpper(s.Thumbprint) != s.Thumbprint {
		t.Fatalf("Thumbprint = %q, want AA:BB:... (20 bytes)", s.Thumbprint)
	}

	// Thumbprint (govc --thumbprint).
	{
		u := *s.URL
		sc := soap.NewClient(&u, false)
		sc.SetThumbprint(u.Host, s.Thumbprint)
		c, err := vim25.NewClient(ctx, sc)
		if err != nil {
			t.Fatalf("with thumbprint: %v", err)
		}
		if err := session.NewManager(c).Login(ctx, u.User); err != nil {
			t.Fatalf("login with thumbprint: %v", err)
		}
	}

	// CertPEM as a root CA.
	u := *s.URL
	sc := soap.NewClient(&u, false)
	sc.DefaultTransport().TLSClientConfig = &tls.Config{RootCAs: certPool(t, s.CertPEM)}
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		t.Fatalf("with CertPEM: %v", err)
	}
	if err := session.NewManager(c).Login(ctx, u.User); err != nil {
		t.Fatalf("login with CertPEM: %v", err)
	}

	// Neither: refused.
	sc = soap.NewClient(&u, false)
	if _, err := vim25.NewClient(ctx, sc); err == nil {
		t.Fatal("connection without thumbprint or CA succeeded")
	}
}

// Options.Listen binds the given address; a busy address is an error, not a panic.
func TestListen(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if _, err := Start(Options{Common: Common{Listen: addr}}); err == nil {
		t.Fatal("Start on a busy address succeeded")
	}
	l.Close()
	s := start(t, Options{Common: Common{Listen: addr}})
	if s.URL.Host != addr {
		t.Fatalf("URL host %s, want %s", s.URL.Host, addr)
	}
	root(t, s)
}

// ESXi's system roles have fixed ids: Admin -1, ReadOnly -2, View -3,
// Anonymous -4, NoAccess -5 (vSphere Web Services API, AuthorizationManager
// "roleList ... including static system-defined roles"; ids as shown by
// `govc role.ls` on ESXi, captured in govmomi's simulator/esx/authorization_manager.go).
func TestSystemRoles(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	roles, err := authz(c).RoleList(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for id, name := range map[int32]string{-1: "Admin", -2: "ReadOnly", -3: "View", -4: "Anonymous", -5: "NoAccess"} {
		r := roles.ById(id)
		if r == nil || r.Name != name || !r.System {
			t.Errorf("role %d = %+v, want system role %s", id, r, name)
		}
	}
}

// A fresh ESXi host has the local users root ("Administrator"), dcui
// and vpxuser, each with the Admin role on the root folder (vSphere Security
// 8.0 "ESXi Users and Permissions"; `esxcli system permission list` example
// in the vSphere CLI "Managing permissions" page).
func TestDefaultAccounts(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	want := map[string]string{
		"root":    "Administrator",
		"dcui":    "DCUI User",
		"vpxuser": "VMware VirtualCenter administration account",
	}
	got := users(t, c)
	for id, desc := range want {
		if got[id] != desc {
			t.Errorf("user %s full name %q, want %q", id, got[id], desc)
		}
	}
	if len(got) != len(want) {
		t.Errorf("users = %v, want exactly %v", got, want)
	}
	perms := rootPerms(t, c)
	for id := range want {
		p, ok := perms[id]
		if !ok || p.RoleId != -1 || !p.Propagate || p.Group {
			t.Errorf("permission of %s on root folder = %+v, want Admin propagating", id, p)
		}
	}
}

// CreateUser stores the password (the user can log in with it) and
// the description, which RetrieveUserGroups reports as the full name.
func TestCreateUserStoresPasswordAndDescription(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	createUser(t, c, "alice", goodPassword, "Alice Liddell")
	if got := users(t, c)["alice"]; got != "Alice Liddell" {
		t.Fatalf("full name %q, want description", got)
	}
	grant(t, c, "alice", -2)
	if _, err := login(t, s, "alice", goodPassword); err != nil {
		t.Fatalf("login with the created password: %v", err)
	}

	// UpdateUser changes both.
	const newPassword = "N3wP455w0rd!x"
	if err := accounts(c).Update(testContext(t), &types.HostAccountSpec{Id: "alice", Password: newPassword, Description: "Alice Pleasance"}); err != nil {
		t.Fatal(err)
	}
	if got := users(t, c)["alice"]; got != "Alice Pleasance" {
		t.Fatalf("full name after update %q", got)
	}
	if _, err := login(t, s, "alice", newPassword); err != nil {
		t.Fatalf("login with the updated password: %v", err)
	}
	wantFault[*types.InvalidLogin](t, func() error { _, err := login(t, s, "alice", goodPassword); return err }())

	// An UpdateUser without password keeps it.
	if err := accounts(c).Update(testContext(t), &types.HostAccountSpec{Id: "alice", Description: "A. L."}); err != nil {
		t.Fatal(err)
	}
	if _, err := login(t, s, "alice", newPassword); err != nil {
		t.Fatalf("password lost by a description-only update: %v", err)
	}
}

// HostLocalAccountManager faults, as documented in the vSphere Web
// Services API reference (CreateUser: AlreadyExists, InvalidArgument;
// UpdateUser: "UserNotFound: if user is not found"; RemoveUser:
// "UserNotFound: if the specified userName does not exist").
func TestAccountFaults(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	am := accounts(c)

	f := wantFault[*types.UserNotFound](t, am.Update(ctx, &types.HostAccountSpec{Id: "ghost", Password: goodPassword}))
	if f.Principal != "ghost" {
		t.Errorf("UserNotFound.principal = %q", f.Principal)
	}
	wantFault[*types.UserNotFound](t, am.Remove(ctx, "ghost"))

	createUser(t, c, "bob", goodPassword, "")
	wantFault[*types.AlreadyExists](t, am.Create(ctx, &types.HostAccountSpec{Id: "bob", Password: goodPassword}))
	wantFault[*types.AlreadyExists](t, am.Create(ctx, &types.HostAccountSpec{Id: "root", Password: goodPassword}))

	// Invalid user names: HostLocalAccountManager reference ("An
	// InvalidArgument fault is thrown if any of these rules are not obeyed",
	// characters such as ";" and "\n"), Host Client "Add a user" (no spaces,
	// no non-ASCII), KB 344647 (special characters).
	for _, id := range []string{"", "two words", "semi;colon", "new\nline", "colon:", "ünïcode", "-dash", "slash/", strings.Repeat("a", 33)} {
		err := am.Create(ctx, &types.HostAccountSpec{Id: id, Password: goodPassword})
		if f := wantFault[*types.InvalidArgument](t, err); f.InvalidProperty != "id" {
			t.Errorf("%q: InvalidArgument.invalidProperty = %q", id, f.InvalidProperty)
		}
	}
	for _, id := range []string{"a", "svc-backup", "svc_backup.01", "Admin2", strings.Repeat("a", 32)} {
		if err := am.Create(ctx, &types.HostAccountSpec{Id: id, Password: goodPassword}); err != nil {
			t.Errorf("valid name %q: %v", id, err)
		}
	}
	// Before vSphere API 9.1 a password is required ("As of vSphere API 9.1,
	// it is allowed to create a user without a password", CreateUser reference).
	if f := wantFault[*types.InvalidArgument](t, am.Create(ctx, &types.HostAccountSpec{Id: "nopass"})); f.InvalidProperty != "password" {
		t.Errorf("no password: invalidProperty %q", f.InvalidProperty)
	}
	// "InvalidArgument: if new password or description has an invalid format".
	wantFault[*types.InvalidArgument](t, am.Create(ctx, &types.HostAccountSpec{Id: "carol", Password: goodPassword, Description: "a:b"}))
	wantFault[*types.InvalidArgument](t, am.Update(ctx, &types.HostAccountSpec{Id: "bob", Description: "line\nbreak"}))
}

// SetEntityPermissions "defines one or more permission rules on an
// entity or updates rules if already present for the given user or group"
// (AuthorizationManager reference); granting one user a role keeps root's
// Admin permission; a second call for the same principal replaces only its
// own permission; the last of duplicates in one call wins.
func TestSetEntityPermissionsMerges(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	createUser(t, c, "alice", goodPassword, "")
	createUser(t, c, "bob", goodPassword, "")

	grant(t, c, "alice", -2)
	perms := rootPerms(t, c)
	if perms["root"].RoleId != -1 || perms["alice"].RoleId != -2 {
		t.Fatalf("after granting alice: %v", perms)
	}
	grant(t, c, "alice", -1)
	err := authz(c).SetEntityPermissions(ctx, rootFolder(c), []types.Permission{
		{Principal: "bob", RoleId: -1, Propagate: true},
		{Principal: "bob", RoleId: -5, Propagate: false},
	})
	if err != nil {
		t.Fatal(err)
	}
	perms = rootPerms(t, c)
	if len(perms) != 5 || perms["alice"].RoleId != -1 || perms["bob"].RoleId != -5 || perms["bob"].Propagate || perms["root"].RoleId != -1 {
		t.Fatalf("after updates: %+v", perms)
	}
	all, err := authz(c).RetrieveAllPermissions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range all {
		if p.Principal == "alice" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("alice has %d permissions, want one per entity", n)
	}
}

// Permission calls validate their arguments (AuthorizationManager
// reference): SetEntityPermissions UserNotFound "if a given user or group
// does not exist", NotFound "if a permission's roleId is not valid",
// InvalidArgument "if one of the new role IDs is the View or Anonymous
// role"; RemoveEntityPermission NotFound "if a permission for this entity
// and user or group does not exist", AuthMinimumAdminPermission "if this
// change would leave the system with no Administrator permission on the
// root node"; ManagedObjectNotFound for an unknown entity. Failed calls
// change nothing, and calls apply in order up to the first failure.
func TestPermissionFaults(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	am := authz(c)
	rf := rootFolder(c)
	createUser(t, c, "alice", goodPassword, "")

	set := func(p ...types.Permission) error { return am.SetEntityPermissions(ctx, rf, p) }
	f := wantFault[*types.UserNotFound](t, set(types.Permission{Principal: "ghost", RoleId: -2}))
	if f.Principal != "ghost" {
		t.Errorf("principal %q", f.Principal)
	}
	wantFault[*types.UserNotFound](t, set(types.Permission{Principal: "admins", Group: true, RoleId: -2}))
	wantFault[*types.NotFound](t, set(types.Permission{Principal: "alice", RoleId: 4242}))
	wantFault[*types.InvalidArgument](t, set(types.Permission{Principal: "alice", RoleId: -3}))
	wantFault[*types.InvalidArgument](t, set(types.Permission{Principal: "alice", RoleId: -4}))
	if _, ok := rootPerms(t, c)["alice"]; ok {
		t.Fatal("a failed SetEntityPermissions left a permission")
	}
	// Applied in order, stopping at the first failure.
	wantFault[*types.UserNotFound](t, set(types.Permission{Principal: "alice", RoleId: -2}, types.Permission{Principal: "ghost", RoleId: -2}))
	if rootPerms(t, c)["alice"].RoleId != -2 {
		t.Fatal("permission before the failing one was not applied")
	}

	wantFault[*types.NotFound](t, am.RemoveEntityPermission(ctx, rf, "ghost", false))
	wantFault[*types.NotFound](t, am.RemoveEntityPermission(ctx, rf, "alice", true))
	if err := am.RemoveEntityPermission(ctx, rf, "alice", false); err != nil {
		t.Fatal(err)
	}
	wantFault[*types.NotFound](t, am.RemoveEntityPermission(ctx, rf, "alice", false))

	// "... or it would grant further permission to a user or group who
	// already has Administrator permission on the root node".
	dc := types.ManagedObjectReference{Type: "Datacenter", Value: "ha-datacenter"}
	wantFault[*types.AuthMinimumAdminPermission](t, am.SetEntityPermissions(ctx, dc, []types.Permission{{Principal: "root", RoleId: -2}}))
	// Inherited permissions: the root folder's propagating ones apply below it.
	if err := am.SetEntityPermissions(ctx, dc, []types.Permission{{Principal: "alice", RoleId: -1}}); err != nil {
		t.Fatal(err)
	}
	own, err := am.RetrieveEntityPermissions(ctx, dc, false)
	if err != nil || len(own) != 1 || own[0].Principal != "alice" || own[0].Entity == nil || *own[0].Entity != dc {
		t.Fatalf("own permissions of %v: %+v %v", dc, own, err)
	}
	inherited, err := am.RetrieveEntityPermissions(ctx, dc, true)
	if err != nil || len(inherited) != 1+len(rootPerms(t, c)) {
		t.Fatalf("inherited permissions of %v: %+v %v", dc, inherited, err)
	}
	if err := am.RemoveEntityPermission(ctx, dc, "alice", false); err != nil {
		t.Fatal(err)
	}

	bogus := types.ManagedObjectReference{Type: "Folder", Value: "no-such-folder"}
	wantFault[*types.ManagedObjectNotFound](t, am.SetEntityPermissions(ctx, bogus, []types.Permission{{Principal: "alice", RoleId: -2}}))
	wantFault[*types.ManagedObjectNotFound](t, am.RemoveEntityPermission(ctx, bogus, "alice", false))

	// The last Admin permission on the root folder cannot go.
	for _, u := range []string{"dcui", "vpxuser"} {
		if err := am.RemoveEntityPermission(ctx, rf, u, false); err != nil {
			t.Fatal(err)
		}
	}
	wantFault[*types.AuthMinimumAdminPermission](t, am.RemoveEntityPermission(ctx, rf, "root", false))
	wantFault[*types.AuthMinimumAdminPermission](t, set(types.Permission{Principal: "root", RoleId: -2, Propagate: true}))
	if rootPerms(t, c)["root"].RoleId != -1 {
		t.Fatal("root lost Admin")
	}
	// With another administrator, root's permission can be changed
	// (vSphere Security: "You can remove the access privileges for the root
	// user. However, you must first create another permission at the root
	// level that has a different user assigned to the Administrator role.").
	grant(t, c, "alice", -1)
	if err := am.RemoveEntityPermission(ctx, rf, "root", false); err != nil {
		t.Fatalf("removing root's Admin with another admin: %v", err)
	}
}

// RemoveUser "will first try to remove all permissions associated
// with the specified account" (HostLocalAccountManager.RemoveUser reference,
// vSphere API 5.1+); Host Client: "If you remove a user from the host, they
// lose permissions to all objects on the host".
func TestRemoveUserRemovesPermissions(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	createUser(t, c, "alice", goodPassword, "")
	grant(t, c, "alice", -2)
	dc := types.ManagedObjectReference{Type: "Datacenter", Value: "ha-datacenter"}
	if err := authz(c).SetEntityPermissions(ctx, dc, []types.Permission{{Principal: "alice", RoleId: -1}}); err != nil {
		t.Fatal(err)
	}
	if err := accounts(c).Remove(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	all, err := authz(c).RetrieveAllPermissions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p.Principal == "alice" {
			t.Fatalf("permission left behind: %+v", p)
		}
	}
	if _, ok := users(t, c)["alice"]; ok {
		t.Fatal("user still listed")
	}
	// A re-created user starts without permissions.
	createUser(t, c, "alice", goodPassword, "")
	wantFault[*types.NoPermission](t, func() error { _, err := login(t, s, "alice", goodPassword); return err }())
}

// Root cannot be removed. RemoveUser reference: "SecurityError: if
// trying to remove the last local user with DCUI access, or if trying to
// remove the last local user with full administrative privileges"; DCUI
// access is the DCUI.Access advanced option, "root" by default. Once another
// user has DCUI access and Admin, root can be removed.
func TestRootCannotBeRemoved(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	wantFault[*types.SecurityError](t, accounts(c).Remove(ctx, "root"))
	if _, ok := users(t, c)["root"]; !ok {
		t.Fatal("root removed")
	}
	if rootPerms(t, c)["root"].RoleId != -1 {
		t.Fatal("root's permission removed by a refused RemoveUser")
	}

	createUser(t, c, "alice", goodPassword, "")
	grant(t, c, "alice", -1)
	om := hostOptionManager(t, c)
	if err := om.Update(ctx, []types.BaseOptionValue{&types.OptionValue{Key: "DCUI.Access", Value: "root,alice"}}); err != nil {
		t.Fatal(err)
	}
	if err := accounts(c).Remove(ctx, "root"); err != nil {
		t.Fatalf("removing root with another DCUI admin: %v", err)
	}
	// root's session lost its permissions with root (privileges are looked
	// up at every call).
	wantFault[*types.NoPermission](t, accounts(c).Remove(ctx, "alice"))
	// alice is now the last user with DCUI access.
	ca, err := login(t, s, "alice", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	wantFault[*types.SecurityError](t, accounts(ca).Remove(ctx, "alice"))
}

// The host's advanced options have Security.PasswordQualityControl
// (passwdqc.ESXiDefault) and Security.PasswordHistory
// (0) with ESXi's defaults (VCF "Configure the Local User Password
// Complexity Policy for ESXi"; KB 412881), settable with UpdateOptions; an
// invalid policy is refused.
func TestPasswordOptions(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	om := hostOptionManager(t, c)
	if om.Reference().Value != "ha-adv-options" && om.Reference().Type != "OptionManager" {
		t.Logf("advanced option manager is %v", om.Reference())
	}
	query := func(key string) any {
		t.Helper()
		opts, err := om.Query(ctx, key)
		if err != nil {
			t.Fatalf("QueryOptions %s: %v", key, err)
		}
		for _, o := range opts {
			if v := o.GetOptionValue(); v.Key == key {
				return v.Value
			}
		}
		t.Fatalf("option %s missing", key)
		return nil
	}
	if v := query("Security.PasswordQualityControl"); v != passwdqc.ESXiDefault {
		t.Errorf("PasswordQualityControl = %#v", v)
	}
	if v := query("Security.PasswordHistory"); v != int64(0) {
		t.Errorf("PasswordHistory = %#v (%T), want int64 0", v, v)
	}
	if v := query("DCUI.Access"); v != "root" {
		t.Errorf("DCUI.Access = %#v", v)
	}

	hardened := "retry=3 min=disabled,disabled,disabled,disabled,15"
	if err := om.Update(ctx, []types.BaseOptionValue{
		&types.OptionValue{Key: "Security.PasswordQualityControl", Value: hardened},
		&types.OptionValue{Key: "Security.PasswordHistory", Value: int32(5)},
	}); err != nil {
		t.Fatal(err)
	}
	if v := query("Security.PasswordQualityControl"); v != hardened {
		t.Errorf("PasswordQualityControl = %#v", v)
	}
	if v := query("Security.PasswordHistory"); v != int64(5) {
		t.Errorf("PasswordHistory = %#v (%T)", v, v)
	}
	for _, bad := range []types.OptionValue{
		{Key: "Security.PasswordQualityControl", Value: "min=bogus"},
		{Key: "Security.PasswordQualityControl", Value: int32(7)},
		{Key: "Security.PasswordHistory", Value: int32(-1)},
		{Key: "Security.PasswordHistory", Value: "many"},
	} {
		err := om.Update(ctx, []types.BaseOptionValue{&bad})
		if f := wantFault[*types.InvalidArgument](t, err); f.InvalidProperty != bad.Key {
			t.Errorf("%v: invalidProperty %q", bad, f.InvalidProperty)
		}
	}
	if v := query("Security.PasswordQualityControl"); v != hardened {
		t.Errorf("a refused update changed the policy: %#v", v)
	}
}

// The policy is enforced on CreateUser and UpdateUser with passwdqc,
// the user id as user name and the description as GECOS; a rejected password
// is vmodl.fault.SystemError with reason "Weak password: <reason>.", message
// "A general system error occurred: Weak password: <reason>." and
// faultMessage key com.vmware.vim.host.LocalAccountManager.weakPassword
// with argument "reason" (KB 344647, KB 323600).
func TestPasswordPolicy(t *testing.T) {
	s := start(t, Options{Common: Common{WeakPasswordFault: WeakPasswordReason}})
	c := root(t, s)
	ctx := testContext(t)
	om := hostOptionManager(t, c)
	setPolicy := func(p string) {
		t.Helper()
		if err := om.Update(ctx, []types.BaseOptionValue{&types.OptionValue{Key: "Security.PasswordQualityControl", Value: p}}); err != nil {
			t.Fatal(err)
		}
	}
	const hardened = "retry=3 min=disabled,disabled,disabled,disabled,15"
	tests := []struct {
		name, policy, id, description, password, reason string
	}{
		{"default accepts S3cr3tP455!", "", "u1", "", "S3cr3tP455!", ""},
		{"default rejects 6 characters", "", "u2", "", "aB3$xy", "too short"},
		// "short1!" is 7 characters of 3 classes, long enough for min N3=7;
		// passwdqc then finds the dictionary word "short".
		{"default rejects short1!", "", "u3", "", "short1!", "based on a dictionary word and not a passphrase"},
		{"default rejects one class", "", "u4", "", "abcdefghijkl", "not enough different characters or classes"},
		{"hardened rejects S3cr3tP455!", hardened, "u5", "", "S3cr3tP455!", "too short"},
		{"hardened accepts 15 of 4 classes", hardened, "u6", "", "Vq7#kLw9!zR2@mTx", ""},
		{"description is GECOS", "", "u7", "Zanzibar Quokka", "qZanzibar#7q", "based on personal login information"},
		{"same password without that GECOS", "", "u8", "Someone Else", "qZanzibar#7q", ""},
		{"user id is the user name", "", "quokkaz", "", "quokkaz1!", "based on personal login information"},
		{"same password for another user", "", "u9", "", "quokkaz1!", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := tt.policy
			if policy == "" {
				policy = passwdqc.ESXiDefault
			}
			setPolicy(policy)
			err := accounts(c).Create(ctx, &types.HostAccountSpec{Id: tt.id, Password: tt.password, Description: tt.description})
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			checkWeak(t, err, tt.reason, tt.password)
			if _, ok := users(t, c)[tt.id]; ok {
				t.Fatal("user created despite the weak password")
			}
		})
	}

	// UpdateUser is checked too, with the stored description as GECOS.
	setPolicy(passwdqc.ESXiDefault)
	createUser(t, c, "dora", goodPassword, "Zanzibar Quokka")
	checkWeak(t, accounts(c).Update(ctx, &types.HostAccountSpec{Id: "dora", Password: "aB3$xy"}), "too short", "aB3$xy")
	checkWeak(t, accounts(c).Update(ctx, &types.HostAccountSpec{Id: "dora", Password: "qZanzibar#7q"}), "based on personal login information", "qZanzibar#7q")
	// ... or the new description when one is given.
	if err := accounts(c).Update(ctx, &types.HostAccountSpec{Id: "dora", Password: "qZanzibar#7q", Description: "Dora"}); err != nil {
		t.Fatal(err)
	}
	setPolicy(hardened)
	checkWeak(t, accounts(c).Update(ctx, &types.HostAccountSpec{Id: "dora", Password: goodPassword}), "too short", goodPassword)
}

func checkWeak(t *testing.T, err error, reason, password string) {
	t.Helper()
	f := wantFault[*types.SystemError](t, err)
	want := "Weak password: " + reason + "."
	if f.Reason != want {
		t.Errorf("reason %q, want %q", f.Reason, want)
	}
	if !soap.IsSoapFault(err) || soap.ToSoapFault(err).String != "A general system error occurred: "+want {
		t.Errorf("fault string of %v, want %q", err, "A general system error occurred: "+want)
	}
	if len(f.FaultMessage) != 1 || f.FaultMessage[0].Key != "com.vmware.vim.host.LocalAccountManager.weakPassword" ||
		f.FaultMessage[0].Message != want || len(f.FaultMessage[0].Arg) != 1 ||
		f.FaultMessage[0].Arg[0].Key != "reason" || f.FaultMessage[0].Arg[0].Value != reason {
		t.Errorf("faultMessage %+v", f.FaultMessage)
	}
	if strings.Contains(err.Error(), password) || strings.Contains(fmt.Sprintf("%#v", f), password) {
		t.Errorf("fault contains the password: %v", err)
	}
}

// Login checks credentials. SessionManager.Login reference:
// "InvalidLogin: if the user and password combination is invalid",
// "NoPermission: if the user is valid, but has no access granted"; a new
// local user has no permission (No Access is the default role, vSphere
// Security "ESXi Users and Permissions"); any role but NoAccess allows login.
func TestLogin(t *testing.T) {
	const rootPassword = "R00tP455w0rd!z"
	s := start(t, Options{Common: Common{Password: rootPassword}})
	if pw, _ := s.URL.User.Password(); pw != rootPassword {
		t.Fatalf("URL password %q", pw)
	}
	c := root(t, s)
	createUser(t, c, "alice", goodPassword, "")

	tryLogin := func(user, pw string) error { _, err := login(t, s, user, pw); return err }
	for _, tt := range []struct{ user, pw string }{
		{"root", "wrong"},
		{"root", ""},
		{"ghost", goodPassword},
		{"alice", "wrong"},
		{"dcui", ""},
	} {
		wantFault[*types.InvalidLogin](t, tryLogin(tt.user, tt.pw))
	}
	// Valid credentials without access: NoPermission, whatever the password
	// check says about others.
	np := wantFault[*types.NoPermission](t, tryLogin("alice", goodPassword))
	if np.PrivilegeId != "System.View" {
		t.Errorf("NoPermission %+v", np)
	}
	grant(t, c, "alice", -5)
	wantFault[*types.NoPermission](t, tryLogin("alice", goodPassword))
	wantFault[*types.InvalidLogin](t, tryLogin("alice", "wrong"))
	grant(t, c, "alice", -2)
	if err := tryLogin("alice", goodPassword); err != nil {
		t.Fatalf("ReadOnly user: %v", err)
	}
	// root's password can be changed through the API, and then the old one fails.
	if err := accounts(c).Update(testContext(t), &types.HostAccountSpec{Id: "root", Password: "An0th3rR00t!pw"}); err != nil {
		t.Fatal(err)
	}
	wantFault[*types.InvalidLogin](t, tryLogin("root", rootPassword))
	if err := tryLogin("root", "An0th3rR00t!pw"); err != nil {
		t.Fatal(err)
	}

	// Unauthenticated calls are refused.
	anon := dial(t, s)
	err := accounts(anon).Create(testContext(t), &types.HostAccountSpec{Id: "x", Password: goodPassword})
	wantFault[*types.NotAuthenticated](t, err)
}

// A random root password meets the default policy; a non-root Username is
// created as an administrator.
func TestGeneratedPasswordAndUsername(t *testing.T) {
	s := start(t, Options{})
	pw, _ := s.URL.User.Password()
	if r, _ := PasswdqcChecker(passwdqc.ESXiDefault, "root", "Administrator", pw); r != "" {
		t.Fatalf("generated password rejected: %s", r)
	}
	s2 := start(t, Options{})
	if pw2, _ := s2.URL.User.Password(); pw2 == pw {
		t.Fatal("same generated password twice")
	}

	s3 := start(t, Options{Common: Common{Username: "admin", Password: goodPassword}})
	c := root(t, s3)
	if rootPerms(t, c)["admin"].RoleId != -1 {
		t.Fatal("admin is not an administrator")
	}
	if _, err := login(t, s3, "root", goodPassword); err != nil {
		t.Fatalf("root with Options.Password: %v", err)
	}
}

// The k-th write call fails with the injected fault and changes
// nothing; Writes counts every write call received.
func TestFailWrite(t *testing.T) {
	s := start(t, Options{Common: Common{FailWrite: 2}})
	c := root(t, s)
	ctx := testContext(t)
	if s.Writes() != 0 {
		t.Fatalf("Writes = %d before any write", s.Writes())
	}
	createUser(t, c, "alice", goodPassword, "") // write 1
	err := accounts(c).Create(ctx, &types.HostAccountSpec{Id: "bob", Password: goodPassword})
	f := wantFault[*types.SystemError](t, err) // write 2
	if f.Reason != "injected fault" || !strings.Contains(err.Error(), "injected fault") {
		t.Fatalf("injected fault = %v", err)
	}
	if _, ok := users(t, c)["bob"]; ok {
		t.Fatal("failed write had an effect")
	}
	createUser(t, c, "bob", goodPassword, "") // write 3: only one write fails
	if s.Writes() != 3 {
		t.Fatalf("Writes = %d, want 3", s.Writes())
	}

	// Validation failures count as writes.
	wantFault[*types.UserNotFound](t, accounts(c).Remove(ctx, "ghost")) // write 4
	if s.Writes() != 4 {
		t.Fatalf("Writes = %d, want 4", s.Writes())
	}

	// SetFailWrite counts from server start; each write kind can fail.
	tests := []struct {
		name string
		call func() error
	}{
		{"UpdateUser", func() error {
			return accounts(c).Update(ctx, &types.HostAccountSpec{Id: "alice", Description: "changed"})
		}},
		{"SetEntityPermissions", func() error {
			return authz(c).SetEntityPermissions(ctx, rootFolder(c), []types.Permission{{Principal: "alice", RoleId: -2}})
		}},
		{"RemoveEntityPermission", func() error { return authz(c).RemoveEntityPermission(ctx, rootFolder(c), "dcui", false) }},
		{"RemoveUser", func() error { return accounts(c).Remove(ctx, "bob") }},
		{"CreateUser", func() error {
			return accounts(c).Create(ctx, &types.HostAccountSpec{Id: "carol", Password: goodPassword})
		}},
	}
	for _, tt := range tests {
		s.SetFailWrite(s.Writes()+1, &types.NotFound{})
		wantFault[*types.NotFound](t, tt.call())
	}
	if got := users(t, c); got["alice"] != "" || got["bob"] != "" || got["carol"] != "" {
		if _, ok := got["carol"]; ok {
			t.Fatalf("injected CreateUser created carol")
		}
	}
	perms := rootPerms(t, c)
	if _, ok := perms["alice"]; ok {
		t.Fatal("injected SetEntityPermissions had an effect")
	}
	if _, ok := perms["dcui"]; !ok {
		t.Fatal("injected RemoveEntityPermission had an effect")
	}
	if _, ok := users(t, c)["bob"]; !ok {
		t.Fatal("injected RemoveUser had an effect")
	}
	s.SetFailWrite(0, nil)
	if err := accounts(c).Remove(ctx, "bob"); err != nil {
		t.Fatal(err)
	}

	// Reads are not writes.
	w := s.Writes()
	users(t, c)
	rootPerms(t, c)
	if s.Writes() != w {
		t.Fatal("reads counted as writes")
	}
}

// Requests counts SOAP requests and Logins successful logins.
func TestCounters(t *testing.T) {
	s := start(t, Options{})
	if s.Requests() != 0 || s.Logins() != 0 {
		t.Fatalf("Requests %d Logins %d at start", s.Requests(), s.Logins())
	}
	c := root(t, s) // RetrieveServiceContent + Login
	if s.Logins() != 1 || s.Requests() != 2 {
		t.Fatalf("after login: Requests %d Logins %d", s.Requests(), s.Logins())
	}
	_, _ = login(t, s, "root", "wrong")
	if s.Logins() != 1 {
		t.Fatalf("failed login counted: %d", s.Logins())
	}
	r := s.Requests()
	users(t, c)
	if s.Requests() != r+1 {
		t.Fatalf("Requests %d, want %d", s.Requests(), r+1)
	}
}

// A canary password used in rejected and failed calls never shows in fault
// messages or in the Trace output.
func TestCanaryPasswordNeverLeaks(t *testing.T) {
	var trace strings.Builder // written one line at a time (tracef)
	const canary = "Canary#Pw9x"
	const weakCanary = "cAnry1"
	s := start(t, Options{Common: Common{Trace: &trace, FailWrite: 3}})
	c := root(t, s)
	ctx := testContext(t)
	var errs []error
	errs = append(errs, accounts(c).Create(ctx, &types.HostAccountSpec{Id: "alice", Password: weakCanary})) // weak (write 1)
	errs = append(errs, accounts(c).Create(ctx, &types.HostAccountSpec{Id: "bad name", Password: canary}))  // invalid (2)
	errs = append(errs, accounts(c).Create(ctx, &types.HostAccountSpec{Id: "alice", Password: canary}))     // injected (3)
	errs = append(errs, accounts(c).Update(ctx, &types.HostAccountSpec{Id: "ghost", Password: canary}))     // not found (4)
	errs = append(errs, accounts(c).Create(ctx, &types.HostAccountSpec{Id: "alice", Password: canary}))     // ok (5)
	errs = append(errs, accounts(c).Update(ctx, &types.HostAccountSpec{Id: "alice", Password: weakCanary})) // weak (6)
	errs = append(errs, accounts(c).Create(ctx, &types.HostAccountSpec{Id: "alice", Password: canary}))     // exists (7)
	_, err := login(t, s, "alice", canary+"x")                                                              // bad login
	errs = append(errs, err)
	for i, err := range errs {
		if i == 4 {
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err == nil {
			t.Fatalf("call %d succeeded", i)
		}
		if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), weakCanary) ||
			strings.Contains(fmt.Sprintf("%#v", vimFault(err)), canary) || strings.Contains(fmt.Sprintf("%#v", vimFault(err)), weakCanary) {
			t.Errorf("call %d: fault contains the password: %v", i, err)
		}
	}
	out := trace.String()
	if !strings.Contains(out, "CreateUser") {
		t.Fatalf("trace has no CreateUser: %q", out)
	}
	if strings.Contains(out, canary) || strings.Contains(out, weakCanary) {
		t.Fatalf("trace contains the password:\n%s", out)
	}
}

// Concurrent clients (run with -race): creates, updates, grants, logins and
// removals of distinct users interleave without losing anyone's permission.
func TestConcurrentUse(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	const n = 8
	var wg sync.WaitGroup
	errc := make(chan error, n*8)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx := testContext(t)
			id := fmt.Sprintf("user%d", i)
			if err := accounts(c).Create(ctx, &types.HostAccountSpec{Id: id, Password: goodPassword, Description: "User " + id}); err != nil {
				errc <- err
				return
			}
			if err := authz(c).SetEntityPermissions(ctx, rootFolder(c), []types.Permission{{Principal: id, RoleId: -2, Propagate: true}}); err != nil {
				errc <- err
				return
			}
			uc, err := login(t, s, id, goodPassword)
			if err != nil {
				errc <- fmt.Errorf("%s login: %w", id, err)
				return
			}
			if _, err := authz(uc).RetrieveAllPermissions(ctx); err != nil {
				errc <- err
			}
			if err := accounts(c).Update(ctx, &types.HostAccountSpec{Id: id, Description: "Updated " + id}); err != nil {
				errc <- err
			}
			if i%2 == 0 {
				if err := accounts(c).Remove(ctx, id); err != nil {
					errc <- err
				}
			}
		}(i)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	perms := rootPerms(t, c)
	u := users(t, c)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("user%d", i)
		_, hasPerm := perms[id]
		_, hasUser := u[id]
		if want := i%2 == 1; hasPerm != want || hasUser != want {
			t.Errorf("%s: permission %v user %v, want %v", id, hasPerm, hasUser, want)
		}
	}
	if perms["root"].RoleId != -1 {
		t.Error("root lost Admin")
	}
}

// Several servers can run side by side in one process (parallel tests).
func TestParallelServers(t *testing.T) {
	for i := 0; i < 4; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			s := start(t, Options{})
			c := root(t, s)
			createUser(t, c, "alice", goodPassword, fmt.Sprint("server ", i))
			if got := users(t, c); got["alice"] != fmt.Sprint("server ", i) || len(got) != 4 {
				t.Fatalf("users %v", got)
			}
		})
	}
}
