package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/testsupport/tcpcount"
	"github.com/esxi-users/esxi-users/internal/textsafe"
)

// run runs the CLI with args and an environment of vars; stdin is doc.
func run(args []string, vars map[string]string, doc string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(doc), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }}
	code = Run(context.Background(), args, env)
	return code, out.String(), errb.String()
}

// An http:// (or any non-https) server, from --server or GOVC_URL,
// is refused with exit 2 and the reason, before any connection is opened,
// with --insecure too, by every command that connects.
func TestPlaintextServerRefused(t *testing.T) {
	l := tcpcount.Start(t)
	addr := l.Addr()
	doc := fixture(t, "seed.yaml")
	pwEnv := map[string]string{"ESXI_PASSWORD": canary}
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"apply --server http://", []string{"apply", "--server", "http://" + addr}, pwEnv, "plain http:// is refused"},
		{"apply --insecure", []string{"apply", "--server", "http://" + addr + "/sdk", "--insecure"}, pwEnv, "--insecure skips certificate checks, it does not allow plaintext"},
		{"plan", []string{"plan", "--server", "HTTP://" + addr}, pwEnv, "the login password and the new users' passwords would cross the network in clear"},
		{"apply --vihost", []string{"apply", "--server", "http://" + addr, "--username", "administrator@vsphere.local", "--vihost", "esx01"}, pwEnv, "ESXi serves its API only over HTTPS"},
		{"GOVC_URL", []string{"apply"}, map[string]string{"GOVC_URL": "http://root:" + canary + "@" + addr + "/sdk", "GOVC_INSECURE": "1"}, "plain http:// is refused"},
		{"other scheme", []string{"apply", "--server", "ftp://" + addr}, pwEnv, `scheme "ftp" is not supported`},
		{"check-password", []string{"check-password", "--server", "http://" + addr, "--insecure"}, pwEnv, "plain http:// is refused"},
		{"guest-auth", []string{"guest-auth", "--vm", "vm1", "--server", "http://" + addr, "--insecure"}, pwEnv, "plain http:// is refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := run(tt.args, tt.vars, doc)
			if code != 2 || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, want 2 and %q\n%s\n%s", code, tt.want, out, errs)
			}
			if strings.Contains(out+errs, canary) {
				t.Error("canary password printed")
			}
		})
	}
	if n := l.Opened(t); n != 0 {
		t.Fatalf("%d connections opened", n)
	}
}

// A password in --server is refused (exit 2) naming ESXI_PASSWORD
// and --password-file, never echoed, before anything is contacted; a user
// name alone is fine, and GOVC_URL may carry credentials.
func TestPasswordInServerRefused(t *testing.T) {
	l := tcpcount.Start(t)
	addr := l.Addr()
	doc := fixture(t, "seed.yaml")
	for _, server := range []string{
		"https://root:" + canary + "@" + addr,
		"https://root:" + canary + "@" + addr + "/sdk",
		"root:" + canary + "@" + addr,
		"root:p@ss/" + canary + "@" + addr,
		"HTTPS://admin:" + canary + "@" + addr,
	} {
		for _, cmd := range [][]string{{"apply"}, {"plan"}, {"apply", "--insecure"}, {"check-password"}, {"guest-auth", "--vm", "vm1"}} {
			args := append(append([]string{}, cmd...), "--server", server)
			code, out, errs := run(args, nil, doc)
			if code != 2 || !strings.Contains(errs, "ESXI_PASSWORD") || !strings.Contains(errs, "--password-file") {
				t.Errorf("%v: exit %d, want 2 naming ESXI_PASSWORD and --password-file\n%s\n%s", args, code, out, errs)
			}
			if strings.Contains(out+errs, canary) || strings.Contains(out+errs, "p@ss") {
				t.Errorf("%v: the password is echoed:\n%s\n%s", cmd, out, errs)
			}
		}
	}
	if n := l.Opened(t); n != 0 {
		t.Fatalf("%d connections opened", n)
	}

	// A user name alone in --server is used as the login user.
	sim := startSim(t, esxsim.Options{})
	env, out, errb := simEnv(sim, firstEntries(doc, 1))
	if code := Run(context.Background(), []string{"apply", "--server", "root@" + sim.URL.Host, "--thumbprint", sim.Thumbprint}, env); code != 0 {
		t.Fatalf("user@host: exit %d\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(out.String(), "as root") {
		t.Errorf("summary does not name the user:\n%s", out)
	}
}

// Connection flags that are wrong are usage errors: exit 2, not 3, for
// apply, check-password and guest-auth.
func TestConnectionUsageErrorsExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		vars map[string]string
		want string
	}{
		{"no server", nil, nil, "no host"},
		{"keytab without passthroughauth", []string{"--server", "esx01", "--keytab", "k"}, nil, "go with --passthroughauth"},
		{"unknown SSPI package", []string{"--server", "esx01", "--passthroughauth", "--passthroughauthpackage", "NTLM"}, nil, "use Negotiate or Kerberos"},
		{"keytab without principal", []string{"--server", "esx01", "--passthroughauth", "--keytab", "k"}, nil, "go together"},
		{"vihost without user", []string{"--server", "vc01", "--vihost", "esx01"}, nil, "--username"},
		{"GOVC_INSECURE", []string{"--server", "esx01"}, map[string]string{"GOVC_INSECURE": "maybe"}, "not a boolean"},
		{"missing password file", []string{"--server", "esx01", "--password-file", "/nonexistent/pw"}, nil, "read --password-file"},
	}
	for _, tt := range tests {
		for _, cmd := range []string{"apply", "check-password"} {
			code, out, errs := run(append([]string{cmd}, tt.args...), tt.vars, "[]")
			if cmd == "check-password" && tt.name == "no server" {
				continue // check-password needs no host
			}
			if code != 2 || !strings.Contains(errs, tt.want) {
				t.Errorf("%s %s: exit %d, want 2 and %q\n%s\n%s", cmd, tt.name, code, tt.want, out, errs)
			}
		}
	}
}

// unsafeLines returns the lines of s that would drive a terminal (tabs
// aside: flag's usage output is laid out with them).
func unsafeLines(s string) []string {
	var bad []string
	for _, l := range strings.Split(s, "\n") {
		if !textsafe.Safe(strings.ReplaceAll(l, "\t", "")) {
			bad = append(bad, l)
		}
	}
	return bad
}

const osc = "\x1b]0;title\x07"

// Ids, roles and operations from the input are printed escaped in
// the text output and on stderr: ESC/OSC, NUL, right-to-left override.
func TestInputTextEscaped(t *testing.T) {
	sim := startSim(t, esxsim.Options{})
	doc := `[{"id": "u1` + `\u001b]0;title\u0007", "operation": "add", "password": "` + canary + `", "role": "Admin"},
{"id": "u2\u202e", "operation": "set\u001b[2J", "password": "` + canary + `", "role": "Admin"},
{"id": "u3", "operation": "add", "password": "` + canary + `", "role": "Adm\u0000in\u202e"}]`
	for _, format := range []string{"text", "json"} {
		env, out, errb := simEnv(sim, doc)
		code := Run(context.Background(), simArgs(sim, "apply", "--verbose", "--output", format), env)
		if code != 2 || sim.Writes() != 0 {
			t.Fatalf("exit %d, %d writes\n%s\n%s", code, sim.Writes(), out, errb)
		}
		all := out.String() + errb.String()
		if bad := unsafeLines(all); len(bad) > 0 {
			t.Errorf("%s: raw control or bidi characters printed: %q", format, bad)
		}
		if strings.Contains(all, canary) {
			t.Error("canary password printed")
		}
		if format == "text" {
			for _, want := range []string{`u1\x1b]0;title\x07`, `set\x1b[2J`, `u2\u202e`, `Adm\x00in\u202e`} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("text output lacks %s:\n%s", want, out)
				}
			}
			continue
		}
		// JSON keeps the values exact: the characters are \u escapes.
		var rep struct {
			Results []struct{ ID, Operation, Role string }
		}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Results[0].ID != "u1"+osc || rep.Results[1].Operation != "set\x1b[2J" || rep.Results[2].Role != "Adm\x00in\u202e" {
			t.Errorf("JSON values changed: %+v", rep.Results)
		}
	}
}

// A host's fault message is printed escaped, in the entry's row,
// the summary and on stderr (and the SOAP trace and log lines).
func TestHostFaultTextEscaped(t *testing.T) {
	const reason = osc + "\u009b2J\u202eevil\u2066\x7f\x00 end"
	for _, args := range [][]string{{"apply"}, {"apply", "--verbose"}, {"apply", "--output", "json"}} {
		sim := startSim(t, esxsim.Options{Common: esxsim.Common{FailWrite: 1, FailFault: &types.SystemError{Reason: reason}}})
		env, out, errb := simEnv(sim, "- {id: u1, operation: add, password: '"+canary+"', role: Admin}\n")
		if code := Run(context.Background(), simArgs(sim, args...), env); code != 1 {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errb)
		}
		all := out.String() + errb.String()
		if bad := unsafeLines(all); len(bad) > 0 {
			t.Errorf("%v: raw control or bidi characters printed: %q", args, bad)
		}
		if !strings.Contains(errb.String(), `\u009b2J\u202eevil\u2066\x7f`) {
			t.Errorf("%v: the fault's text is not shown escaped:\n%s", args, errb.String())
		}
		if strings.Contains(all, canary) {
			t.Error("canary password printed")
		}
	}
}

// The session's own user (a non-root Admin created for the test)
// cannot be demoted or removed: exit 2, no write at all, the reason named;
// --allow-self-lockout lets it through.
func TestSelfLockoutRefused(t *testing.T) {
	const admin = "opadmin"
	docs := map[string]string{
		"demote": "- {id: u1, operation: add, password: '" + canary + "', role: Admin}\n- {id: " + admin + ", operation: set, password: '" + canary + "', role: ReadOnly}\n",
		"remove": "- {id: u1, operation: add, password: '" + canary + "', role: Admin}\n- {id: " + admin + ", operation: remove}\n",
	}
	for name, doc := range docs {
		sim := startSim(t, esxsim.Options{Common: esxsim.Common{Username: admin}})
		// The runs log in as opadmin (--username); the checks read the host
		// as root (same password), since opadmin may be demoted or gone.
		pw, _ := sim.URL.User.Password()
		sim.URL.User = url.UserPassword("root", pw)
		before := readHost(t, sim).String()
		if !strings.Contains(before, admin+" (") {
			t.Fatalf("no %s on the simulator: %s", admin, before)
		}
		for _, cmd := range []string{"plan", "apply"} {
			env, out, errb := simEnv(sim, doc)
			code := Run(context.Background(), simArgs(sim, cmd, "--username", admin), env)
			if code != 2 || sim.Writes() != 0 {
				t.Fatalf("%s %s: exit %d, %d writes\n%s\n%s", name, cmd, code, sim.Writes(), out, errb)
			}
			if !strings.Contains(out.String(), "the user this run is logged in as") || !strings.Contains(errb.String(), "--allow-self-lockout") {
				t.Errorf("%s %s: reason not named:\n%s\n%s", name, cmd, out, errb)
			}
			if strings.Contains(out.String()+errb.String(), canary) {
				t.Error("canary password printed")
			}
		}
		if after := readHost(t, sim).String(); after != before {
			t.Errorf("%s: host changed:\n%s\n%s", name, before, after)
		}
		// With the opt-out the list is applied as written. Demoting itself
		// works; removing itself shows why the check exists: the
		// permission goes first, and then, as on ESXi, the session no
		// longer holds Host.Local.ManageUserGroups to remove the user.
		env, out, errb := simEnv(sim, doc)
		code := Run(context.Background(), simArgs(sim, "apply", "--username", admin, "--allow-self-lockout"), env)
		st := readHost(t, sim)
		switch name {
		case "demote":
			if code != 0 || st.perms[admin] != "ReadOnly" {
				t.Errorf("demote with --allow-self-lockout: exit %d, state %s\n%s\n%s", code, st, out, errb)
			}
		case "remove":
			_, exists := st.users[admin]
			if code != 1 || !strings.Contains(out.String(), "Host.Local.ManageUserGroups") || st.perms[admin] != "" || !exists {
				t.Errorf("remove with --allow-self-lockout: exit %d, state %s\n%s\n%s", code, st, out, errb)
			}
		}
	}
}

// Through vCenter, removing or demoting vpxuser, the account
// vCenter manages the host with, is refused; nothing is written.
func TestVpxuserLockoutRefused(t *testing.T) {
	vc, err := esxsim.StartVCenter(esxsim.VCenterOptions{Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	before := hostAccounts(t, vc)
	target := vc.Hosts[0]
	if !strings.Contains(before[target], "vpxuser (") {
		t.Fatalf("no vpxuser on %s: %s", target, before[target])
	}
	pw, _ := vc.URL.User.Password()
	for _, doc := range []string{
		"- {id: vpxuser, operation: remove}\n",
		"- {id: vpxuser, operation: set, password: '" + canary + "', role: NoAccess}\n",
	} {
		code, out, errs := run([]string{"apply", "--server", vc.URL.Host, "--thumbprint", vc.Thumbprint, "--username", vc.URL.User.Username(), "--vihost", target},
			map[string]string{"ESXI_PASSWORD": pw}, doc)
		if code != 2 || vc.Writes() != 0 {
			t.Fatalf("exit %d, %d writes\n%s\n%s", code, vc.Writes(), out, errs)
		}
		if !strings.Contains(out, "vpxuser, the account vCenter manages this host with") {
			t.Errorf("reason not named:\n%s", out)
		}
		if strings.Contains(out+errs, canary) {
			t.Error("canary password printed")
		}
	}
	if after := hostAccounts(t, vc); after[target] != before[target] {
		t.Errorf("host changed:\n%s\n%s", before[target], after[target])
	}
}

// End to end, a YAML "|" password (final newline) is invalid, the
// hint is shown, the password is not, nothing is written.
func TestBlockScalarPasswordRefused(t *testing.T) {
	sim := startSim(t, esxsim.Options{})
	doc := "- id: u1\n  operation: add\n  role: Admin\n  password: |\n    " + canary + "\n"
	env, out, errb := simEnv(sim, doc)
	if code := Run(context.Background(), simArgs(sim, "apply"), env); code != 2 || sim.Writes() != 0 {
		t.Fatalf("exit %d, %d writes\n%s\n%s", code, sim.Writes(), out, errb)
	}
	if !strings.Contains(errb.String(), "a YAML `|` block keeps the final newline; use `|-` or a quoted string") || !strings.Contains(errb.String(), `entry 1 (id "u1", add): password`) {
		t.Errorf("stderr = %s", errb)
	}
	if strings.Contains(out.String()+errb.String(), canary) {
		t.Error("canary password printed")
	}
}

// Argv is input too: an unknown flag or command is echoed escaped.
func TestArgvEscaped(t *testing.T) {
	for _, args := range [][]string{
		{"apply", "--x" + osc + "\u202e"},
		{"check-password", "--x" + osc},
		{"guest-auth", "--x" + osc},
		{"simulate", "--x" + osc},
		{"apply", "--simulate", "--file", "/nonexistent/" + osc},
		{"no-such-command" + osc},
	} {
		code, out, errs := run(args, nil, "[]")
		if code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s\n%s", args, code, out, errs)
		}
		if bad := unsafeLines(out + errs); len(bad) > 0 {
			t.Errorf("%q: raw control characters printed: %q", args, bad)
		}
	}
}
