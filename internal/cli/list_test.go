package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
)

// createUser makes a local user without a permission on sim, through the
// vSphere API directly (not this project's adapter).
func createUser(t *testing.T, sim *esxsim.Server, id, description string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sc := soap.NewClient(&url.URL{Scheme: "https", Host: sim.URL.Host, Path: "/sdk"}, false)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sim.CertPEM)
	sc.DefaultTransport().TLSClientConfig.RootCAs = pool
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := session.NewManager(c).Login(ctx, sim.URL.User); err != nil {
		t.Fatal(err)
	}
	defer session.NewManager(c).Logout(ctx)
	am := object.NewHostAccountManager(c, *c.ServiceContent.AccountManager)
	if err := am.Create(ctx, &types.HostAccountSpec{Id: id, Description: description, Password: canary}); err != nil {
		t.Fatal(err)
	}
}

// list shows every local user with its description and role as the host
// reports them ("" for none), marks root and dcui protected and the ignore
// list's ids ignored, and never writes.
func TestListShowsUsersAndWritesNothing(t *testing.T) {
	sim := startSim(t, esxsim.Options{})
	env, out, errb := simEnv(sim, "- {id: user1, operation: add, description: User One, password: '"+canary+"', role: Admin}\n- {id: user2, operation: add, password: '"+canary+"', role: ReadOnly}\n")
	if code := Run(context.Background(), simArgs(sim, "apply"), env); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errb)
	}
	createUser(t, sim, "norole", "No \u202erole\u009b user")
	writes := sim.Writes()

	env, out, errb = simEnv(sim, "")
	if code := Run(context.Background(), simArgs(sim, "list", "--output", "json", "--ignore-list", "user2"), env); code != 0 {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, errb)
	}
	var got Listing
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := Listing{Host: sim.URL.Host, User: "root", Lockdown: "lockdownDisabled", Users: []ListedUser{
		{ID: "dcui", Description: "DCUI User", Role: "Admin", Protected: true, Ignored: true},
		{ID: "norole", Description: "No \u202erole\u009b user", Role: ""},
		{ID: "root", Description: "Administrator", Role: "Admin", Protected: true, Ignored: true},
		{ID: "user1", Description: "User One", Role: "Admin"},
		{ID: "user2", Description: "ESXi User", Role: "ReadOnly", Ignored: true},
		{ID: "vpxuser", Description: "VMware VirtualCenter administration account", Role: "Admin"},
	}}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Errorf("list\n got %s\nwant %s", g, w)
	}
	if !strings.Contains(out.String(), `"role": ""`) || strings.Contains(out.String(), `"protected": false`) {
		t.Errorf("role must always be present, protected/ignored only when true:\n%s", out)
	}
	if strings.ContainsAny(out.String(), "\u202e\u009b") {
		t.Error("raw bidi override or CSI in JSON output")
	}

	env, out, errb = simEnv(sim, "")
	if code := Run(context.Background(), simArgs(sim, "list", "--ignore-list", "user2"), env); code != 0 {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, errb)
	}
	text := out.String()
	for _, w := range []string{
		"host " + sim.URL.Host + " as root: 6 local users\n",
		"ID       DESCRIPTION",
		"norole   No \\u202erole\\u009b user                     (none)\n",
		"root     Administrator                                Admin     protected, ignored\n",
		"user2    ESXi User                                    ReadOnly  ignored\n",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("text output lacks %q:\n%s", w, text)
		}
	}
	if strings.ContainsAny(text, "\u202e\u009b") || strings.Contains(text+errb.String(), canary) {
		t.Errorf("raw bidi override, CSI or the canary in the output:\n%s", text)
	}
	if n := sim.Writes(); n != writes {
		t.Errorf("list made %d write calls", n-writes)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Through vCenter (--vihost) list reads the managed host's accounts and
// access modes, and writes nothing there either.
func TestListThroughVCenter(t *testing.T) {
	vc, err := esxsim.StartVCenter(esxsim.VCenterOptions{Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	target := vc.Hosts[1]
	pw, _ := vc.URL.User.Password()
	run := func(stdin string, args ...string) (int, *bytes.Buffer, *bytes.Buffer) {
		var out, errb bytes.Buffer
		env := Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			return map[string]string{"ESXI_PASSWORD": pw}[k]
		}}
		args = append(args, "--server", vc.URL.Host, "--thumbprint", vc.Thumbprint, "--username", vc.URL.User.Username(), "--vihost", target)
		return Run(context.Background(), args, env), &out, &errb
	}
	if code, out, errb := run("- {id: user1, operation: add, description: User One, password: '"+canary+"', role: NoAccess}\n", "apply"); code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errb)
	}
	writes := vc.Writes()
	code, out, errb := run("", "list", "--output", "json")
	if code != 0 {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, errb)
	}
	var got Listing
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Host != target || got.User != vc.URL.User.Username() {
		t.Errorf("host %q user %q", got.Host, got.User)
	}
	found := false
	for _, u := range got.Users {
		if u.ID == "user1" {
			found = true
			if u.Role != "NoAccess" || u.Description != "User One" || u.Protected || u.Ignored {
				t.Errorf("user1 = %+v", u)
			}
		}
	}
	if !found {
		t.Errorf("user1 not listed:\n%s", out)
	}
	if n := vc.Writes(); n != writes {
		t.Errorf("list made %d write calls through vCenter", n-writes)
	}
}

// Usage mistakes exit 2 and contact nothing; an unreachable host exits 3.
func TestListUsageAndConnectErrors(t *testing.T) {
	sim := startSim(t, esxsim.Options{})
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--output", "xml"}, 2, `--output "xml": use text or json`},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--thumbprint", "zzz"}, 2, "--thumbprint: not a certificate thumbprint"},
		{[]string{"--timeout", "-5s"}, 2, "--timeout -5s: give a positive duration"},
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		env, out, errb := simEnv(sim, "")
		args := append([]string{"list", "--server", sim.URL.Host}, tt.args...)
		if tt.args[0] != "--thumbprint" {
			args = append(args, "--thumbprint", sim.Thumbprint)
		}
		if code := Run(context.Background(), args, env); code != tt.code || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("list %v: exit %d, stderr %s\nwant exit %d and %q\n%s", tt.args, code, errb, tt.code, tt.want, out)
		}
	}
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return map[string]string{"ESXI_PASSWORD": canary}[k] }}
	if code := Run(context.Background(), []string{"list", "--server", "127.0.0.1:1", "--insecure", "--timeout", "5s"}, env); code != 3 {
		t.Errorf("unreachable: exit %d\n%s", code, &errb)
	}
}
