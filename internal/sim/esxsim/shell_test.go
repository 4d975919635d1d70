package esxsim

import (
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// shellOfUsers reads each user's shellAccess with RetrieveUserGroups.
func shellOfUsers(t *testing.T, s *Server) map[string]bool {
	t.Helper()
	c := root(t, s)
	res, err := methods.RetrieveUserGroups(testContext(t), c, &types.RetrieveUserGroups{This: *c.ServiceContent.UserDirectory, FindUsers: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, r := range res.Returnval {
		p := r.(*types.PosixUserSearchResult)
		out[p.Principal] = *p.ShellAccess
	}
	return out
}

// Shell access as ESXi 7.0.3 U2 and later enforce it
// (HostPosixAccountSpec.shellAccess, vSphere API 7.0.3.2): an
// administrator without shell access cannot change the password of a user
// who has it, nor grant it; it can change such a user's description, and
// its own users get no shell access by default; false for root has no
// effect. Refusals are SecurityError (chosen: the reference names no
// fault), and change nothing.
func TestShellAccessRules(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	ctx := testContext(t)
	yes, no := true, false
	createUser(t, c, "shelly", goodPassword, "Has shell") // root's default: shell access
	if err := createPosix(ctx, c, &types.HostPosixAccountSpec{HostAccountSpec: types.HostAccountSpec{Id: "mgr", Password: goodPassword}, ShellAccess: &no}); err != nil {
		t.Fatal(err)
	}
	grant(t, c, "mgr", roleAdmin)
	mgr, err := login(t, s, "mgr", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	const other = "An0ther#P455w0rd"
	spec := func(id, pw, desc string, shell *bool) *types.HostPosixAccountSpec {
		return &types.HostPosixAccountSpec{HostAccountSpec: types.HostAccountSpec{Id: id, Password: pw, Description: desc}, ShellAccess: shell}
	}
	cases := []struct {
		name    string
		do      func() error
		refused bool
	}{
		{"create without shell access", func() error { return createPosix(ctx, mgr, spec("made", goodPassword, "", nil)) }, false},
		{"password of a user with shell access", func() error { return accounts(mgr).Update(ctx, &types.HostAccountSpec{Id: "shelly", Password: other}) }, true},
		{"password and description of a user with shell access", func() error { return updatePosix(ctx, mgr, spec("shelly", other, "x", nil)) }, true},
		{"root's password", func() error { return accounts(mgr).Update(ctx, &types.HostAccountSpec{Id: "root", Password: other}) }, true},
		{"description of a user with shell access", func() error {
			return accounts(mgr).Update(ctx, &types.HostAccountSpec{Id: "shelly", Description: "Renamed"})
		}, false},
		{"password of a user without shell access", func() error { return accounts(mgr).Update(ctx, &types.HostAccountSpec{Id: "made", Password: other}) }, false},
		{"grant shell access", func() error { return updatePosix(ctx, mgr, spec("made", "", "", &yes)) }, true},
		{"create with shell access", func() error { return createPosix(ctx, mgr, spec("withshell", goodPassword, "", &yes)) }, true},
		{"own password", func() error { return accounts(mgr).Update(ctx, &types.HostAccountSpec{Id: "mgr", Password: other}) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			users0 := s.Users()
			err := tc.do()
			if !tc.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantFault[*types.SecurityError](t, err)
			if got := s.Users(); len(got) != len(users0) || got["shelly"] != users0["shelly"] {
				t.Errorf("a refused change changed the users: %v -> %v", users0, got)
			}
		})
	}
	// The refused password changes left the old passwords.
	if _, err := login(t, s, "shelly", goodPassword); err == nil {
		// shelly holds no permission: NoPermission proves the password.
		t.Fatal("shelly logged in without a permission")
	} else if _, ok := vimFault(err).(*types.NoPermission); !ok {
		t.Errorf("shelly's password changed: %v", err)
	}
	// Setting false for root has no effect; an administrator with shell
	// access (root) grants it and changes such passwords.
	if err := updatePosix(ctx, c, spec("root", "", "", &no)); err != nil {
		t.Fatal(err)
	}
	if err := updatePosix(ctx, c, spec("made", other, "", &yes)); err != nil {
		t.Fatal(err)
	}
	got := shellOfUsers(t, s)
	for id, want := range map[string]bool{"root": true, "shelly": true, "mgr": false, "made": true} {
		if got[id] != want {
			t.Errorf("%s shellAccess %v, want %v", id, got[id], want)
		}
	}
	if _, ok := got["withshell"]; ok {
		t.Error("a refused create created the user")
	}
}

// Through vCenter the host's caller is vpxuser, whose shell access decides
// (vcenterAgent): with it, root's password changes (CreateUser and esxcli
// alike); without it, the host refuses.
func TestVCenterShellAccessIsVpxusers(t *testing.T) {
	v := startVC(t, VCenterOptions{Hosts: 1})
	c := vcAdmin(t, v)
	ctx := testContext(t)
	h := vcHostSystem(t, c, v.Hosts[0])
	am := object.NewHostAccountManager(c, *h.ConfigManager.AccountManager)
	if err := am.Update(ctx, &types.HostAccountSpec{Id: "root", Password: goodPassword}); err != nil {
		t.Fatalf("vpxuser with shell access: %v", err)
	}
	e := executor(t, c, h)
	if _, err := runCLI(t, e, "system", "account", "set", "-i", "vpxuser", "-s", "false"); err != nil {
		t.Fatal(err)
	}
	err := am.Update(ctx, &types.HostAccountSpec{Id: "root", Password: "An0ther#P455w0rd"})
	wantFault[*types.SecurityError](t, err)
	if _, err := runCLI(t, e, "system", "account", "set", "-i", "root", "-p", "An0ther#P455w0rd", "-c", "An0ther#P455w0rd"); err == nil || !strings.Contains(cliErrMsg(err), "shell access") {
		t.Errorf("esxcli set root's password without shell access: %v", err)
	}
	if valid, _, _ := v.CheckHostLogin(v.Hosts[0], "root", goodPassword); !valid {
		t.Error("root's password changed")
	}
}
