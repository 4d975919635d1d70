package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/passwdqc"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/testsupport/krbtest"
)

// Tests of the CLI's edges — usage without a panic, a missing password
// source, --trace-soap on every command, known-hosts errors, empty
// documents, JSON output, host names, simulator policies and local fleets —
// each written to fail before its fix.

// run runs the CLI with env vars (nil: none) and stdin, and returns the exit
// code, stdout and stderr.
func runCLI(ctx context.Context, stdin string, vars map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }}
	code := Run(ctx, args, env)
	return code, out.String(), errb.String()
}

// --help and every flag error print the usage, whose defaults come from
// each flag's String method: the repeatable --server and --vihost must
// print theirs (flag.PrintDefaults calls String on a zero value of the
// flag's type, which panicked: "panic calling String method on zero
// cli.collect for flag server").
func TestUsageHasNoPanic(t *testing.T) {
	for _, cmd := range []string{"apply", "plan", "list", "check-password", "guest-auth", "simulate"} {
		for _, arg := range []string{"--help", "--bogus"} {
			code, out, errb := runCLI(context.Background(), "", nil, cmd, arg)
			want := map[string]int{"--help": 0, "--bogus": 2}[arg]
			if code != want {
				t.Errorf("%s %s: exit %d, want %d", cmd, arg, code, want)
			}
			if strings.Contains(out+errb, "panic") {
				t.Errorf("%s %s: the usage has a panic:\n%s", cmd, arg, errb)
			}
			if !strings.Contains(errb, "Usage") || !strings.Contains(errb, "-timeout") && cmd != "simulate" {
				t.Errorf("%s %s: no usage:\n%s", cmd, arg, errb)
			}
		}
	}
}

// countingListener accepts TCP connections on 127.0.0.1 and counts them
// (and closes them): a command that contacts it shows in Accepted.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func listenCounting(t *testing.T) *countingListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &countingListener{Listener: l}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.n.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return c
}

// Accepted is the number of connections so far.
func (c *countingListener) Accepted() int { return int(c.n.Load()) }

// No password source at all (no --password-file, ESXI_PASSWORD,
// GOVC_PASSWORD or password in GOVC_URL, no --passthroughauth) is a
// mistake of usage: exit 2, nothing contacted — for one host and for a
// fleet alike (before: exit 3 "could not connect" after contacting the
// host, every fleet host UNREACHABLE). Pass-through and the simulator need
// no password.
func TestNoPasswordSourceIsUsage(t *testing.T) {
	l := listenCounting(t)
	addr := l.Addr().String()
	l2 := listenCounting(t)
	tp := "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"
	const want = "no password: give it in the environment variable ESXI_PASSWORD or with --password-file FILE"
	tests := [][]string{
		{"apply", "--server", addr, "--thumbprint", tp},
		{"plan", "--server", addr, "--thumbprint", tp, "--output", "json"},
		{"list", "--server", addr, "--thumbprint", tp},
		{"check-password", "--server", addr, "--thumbprint", tp},
		{"guest-auth", "--vm", "vm1", "--server", addr, "--thumbprint", tp},
		{"apply", "--server", addr, "--server", l2.Addr().String()},
		{"list", "--server", addr, "--server", l2.Addr().String()},
		{"plan", "--server", addr, "--vihost", "esx-*", "--username", "administrator@vsphere.local", "--thumbprint", tp},
	}
	for _, args := range tests {
		t.Run(strings.Join(args[:1], " "), func(t *testing.T) {
			code, out, errb := runCLI(context.Background(), "[]", map[string]string{"GOVC_URL": ""}, args...)
			if code != 2 || !strings.Contains(errb, want) {
				t.Errorf("%v: exit %d, want 2 and %q:\n%s\n%s", args, code, want, out, errb)
			}
			if strings.Contains(out, "UNREACHABLE") {
				t.Errorf("%v: a host is reported unreachable:\n%s", args, out)
			}
		})
	}
	if n := l.Accepted() + l2.Accepted(); n != 0 {
		t.Errorf("%d connections to the hosts, want none", n)
	}
	// An empty password file is no password either.
	empty := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errb := runCLI(context.Background(), "[]", nil, "list", "--server", addr, "--thumbprint", tp, "--password-file", empty)
	if code != 2 || !strings.Contains(errb, "--password-file "+empty+" is empty") {
		t.Errorf("empty --password-file: exit %d:\n%s", code, errb)
	}
	// The simulator needs none.
	if code, out, errb := runCLI(context.Background(), "[]", nil, "list", "--simulate"); code != 0 {
		t.Errorf("list --simulate: exit %d\n%s\n%s", code, out, errb)
	}
	if n := l.Accepted() + l2.Accepted(); n != 0 {
		t.Errorf("%d connections to the hosts, want none", n)
	}
}

// --trace-soap is a connection flag: list, check-password and guest-auth
// talk SOAP too and trace it (before: "flag provided but not defined:
// -trace-soap"), passwords, tokens and tickets removed.
func TestTraceSOAPOnEveryCommand(t *testing.T) {
	sim := startSim(t, esxsim.Options{Common: esxsim.Common{Password: canary}})
	vars := map[string]string{"ESXI_PASSWORD": canary}
	for _, tt := range []struct {
		cmd, stdin string
		want       string // a request the command makes
	}{
		{"list", "", "<RetrieveUserGroups"},
		{"check-password", "S3cr3tP455!\n", "<QueryOptions"},
		{"plan", "[]", "<RetrieveUserGroups"},
	} {
		file := filepath.Join(t.TempDir(), "trace")
		code, out, errb := runCLI(context.Background(), tt.stdin, vars, simArgs(sim, tt.cmd, "--trace-soap", file)...)
		if code != 0 {
			t.Errorf("%s: exit %d\n%s\n%s", tt.cmd, code, out, errb)
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tt.want) || !strings.Contains(string(b), "<password>********</password>") {
			t.Errorf("%s: the trace lacks %s or the masked login:\n%.2000s", tt.cmd, tt.want, b)
		}
		if strings.Contains(string(b)+out+errb, canary) {
			t.Errorf("%s: the password is in the trace", tt.cmd)
		}
	}

	g := startGuestSim(t)
	code, out, errb := g.run(t, true, g.conn("--vm", g.vm, "--trace-soap", "-")...) // g.run checks for tokens and tickets
	if code != 0 || !strings.Contains(errb, "<AcquireCredentialsInGuest") || !strings.Contains(errb, "<ReleaseCredentialsInGuest") {
		t.Errorf("guest-auth: exit %d, or the trace on stderr lacks the guest calls:\n%s\n%.3000s", code, out, errb)
	}
	if strings.Contains(errb, g.pass) {
		t.Error("guest-auth: the vCenter password is in the trace")
	}
}

// A known-hosts file's errors name where it came from: --known-hosts or
// GOVC_TLS_KNOWN_HOSTS (before: always "--known-hosts"); conflicting lines
// and an over-long line are named clearly (internal/tlspin's tests).
func TestKnownHostsErrorsNameTheirSource(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(bad, []byte("127.0.0.1:1 AB:CD\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conflict := filepath.Join(dir, "conflict")
	sha1 := "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"
	if err := os.WriteFile(conflict, []byte("127.0.0.1:1 "+sha1+"\n127.0.0.1:1 "+strings.ReplaceAll(sha1, "AB", "BA")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"ESXI_PASSWORD": canary}
	for _, tt := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--known-hosts", bad}, "", "--known-hosts: known-hosts file " + bad + ", line 1"},
		{nil, bad, "GOVC_TLS_KNOWN_HOSTS: known-hosts file " + bad + ", line 1"},
		{nil, conflict, "GOVC_TLS_KNOWN_HOSTS: known-hosts file " + conflict + `, line 2: host "127.0.0.1:1" is pinned with another fingerprint by ` + conflict + ":1"},
	} {
		v := map[string]string{"GOVC_TLS_KNOWN_HOSTS": tt.env}
		for k, x := range vars {
			v[k] = x
		}
		code, _, errb := runCLI(context.Background(), "", v, append([]string{"list", "--server", "127.0.0.1:1"}, tt.args...)...)
		if code != 2 || !strings.Contains(errb, tt.want) {
			t.Errorf("%v %s: exit %d, want 2 and %q:\n%s", tt.args, tt.env, code, tt.want, errb)
		}
	}
}

// A document from --file or standard input that holds no list — empty,
// comments only, null — is refused, exit 2, nothing contacted: from a file
// or a pipe it is likely a mistake (a truncated or wrong file, a command
// before the pipe that failed). [] is a list with no entries: exit 0, and
// the summary says the list is empty (before: all of them "ok: … no
// entries", exit 0). DRP's unset Param is [] (internal/drp).
func TestEmptyDocument(t *testing.T) {
	l := listenCounting(t)
	dir := t.TempDir()
	vars := map[string]string{"ESXI_PASSWORD": canary}
	srv := []string{"--server", l.Addr().String(), "--thumbprint", "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"}
	for _, tt := range []struct {
		doc  string
		file bool
		want string
	}{
		{"", true, "is empty: nothing to apply (a list with no entries is written [])"},
		{"# users go here\n\n", true, "is empty: nothing to apply"},
		{"null\n", true, "holds null, not a list: nothing to apply"},
		{"~", true, "holds null, not a list"},
		{"", false, "standard input (--file -) is empty: nothing to apply (did the command before the pipe fail? a list with no entries is written [])"},
		{"---\n", false, "standard input (--file -) is empty"},
	} {
		for _, cmd := range []string{"apply", "plan"} {
			args := append([]string{cmd}, srv...)
			stdin := tt.doc
			if tt.file {
				f := filepath.Join(dir, "users.yaml")
				if err := os.WriteFile(f, []byte(tt.doc), 0o600); err != nil {
					t.Fatal(err)
				}
				args, stdin = append(args, "--file", f), ""
			}
			code, out, errb := runCLI(context.Background(), stdin, vars, args...)
			if code != 2 || !strings.Contains(errb, tt.want) {
				t.Errorf("%s %q (file %v): exit %d, want 2 and %q\n%s\n%s", cmd, tt.doc, tt.file, code, tt.want, out, errb)
			}
		}
	}
	if n := l.Accepted(); n != 0 {
		t.Errorf("%d connections, want none", n)
	}
	for _, doc := range []string{"[]", "---\n[]\n# none yet\n"} {
		code, out, errb := runCLI(context.Background(), doc, nil, "apply", "--simulate")
		if code != 0 || !strings.Contains(out, "as root: no entries: the list is empty") {
			t.Errorf("%q: exit %d\n%s\n%s", doc, code, out, errb)
		}
	}
}

// --output json always prints one JSON document, also when the run fails as
// a whole — a mistake of usage, a host or vCenter that cannot be reached —
// with an "error" saying why (before: list printed nothing; apply and plan
// printed a report only once the run had started).
func TestJSONOutputIsAlwaysADocument(t *testing.T) {
	l := listenCounting(t) // accepts and closes: every call fails
	addr := l.Addr().String()
	tp := "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"
	pw := map[string]string{"ESXI_PASSWORD": canary}
	for _, tt := range []struct {
		name  string
		args  []string
		vars  map[string]string
		stdin string
		code  int
		fleet bool // a fleet's document: {"error", "hosts": []}
		want  string
	}{
		{"list usage", []string{"list", "--output", "json", "--timeout", "0", "--server", addr}, pw, "", 2, false, "--timeout 0s"},
		{"list flag error", []string{"list", "--output", "json", "--bogus"}, pw, "", 2, false, "flag provided but not defined: -bogus"},
		{"list no password", []string{"list", "--output", "json", "--server", addr, "--thumbprint", tp}, nil, "", 2, false, "no password"},
		{"list unreachable", []string{"list", "--output", "json", "--server", addr, "--thumbprint", tp}, pw, "", 3, false, "could not connect"},
		{"list fleet vCenter unreachable", []string{"list", "--output", "json", "--server", addr, "--thumbprint", tp, "--username", "u", "--vihost", "esx-*"}, pw, "", 3, true, "could not connect"},
		{"list fleet usage", []string{"list", "--output", "json", "--server", addr, "--server", addr, "--parallel", "0"}, pw, "", 2, true, "--parallel 0"},
		{"apply usage", []string{"apply", "--output", "json", "--timeout", "0", "--server", addr}, pw, "[]", 2, false, "--timeout 0s"},
		{"plan flag error", []string{"plan", "--output", "json", "--bogus"}, pw, "[]", 2, false, "-bogus"},
		{"apply no password", []string{"apply", "--output", "json", "--server", addr, "--thumbprint", tp}, nil, "[]", 2, false, "no password"},
		{"plan empty input", []string{"plan", "--output", "json", "--server", addr, "--thumbprint", tp}, pw, "", 2, false, "standard input (--file -) is empty"},
		{"apply fleet usage", []string{"apply", "--output", "json", "--server", addr, "--server", "127.0.0.1:2", "--thumbprint", tp}, pw, "[]", 2, true, "a thumbprint pins one certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errb := runCLI(context.Background(), tt.stdin, tt.vars, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s\n%s", code, tt.code, out, errb)
			}
			var doc struct {
				Error   *string
				Hosts   []json.RawMessage
				Results []json.RawMessage
			}
			dec := json.NewDecoder(strings.NewReader(out))
			if err := dec.Decode(&doc); err != nil || dec.More() {
				t.Fatalf("stdout is not one JSON document (%v):\n%s\nstderr:\n%s", err, out, errb)
			}
			if doc.Error == nil || !strings.Contains(*doc.Error, tt.want) {
				t.Errorf("the document's error lacks %q:\n%s", tt.want, out)
			}
			if tt.fleet != (doc.Hosts != nil) {
				t.Errorf("fleet %v, but the document is:\n%s", tt.fleet, out)
			}
		})
	}
}

// An unknown --vihost name is one rule and one wording, alone and in a
// fleet: exit 2 (input vCenter refuted, like a role the host does not
// define: nothing changed, and no retry helps — exit 3 is for a target
// that could not be reached or read), "host pattern … matches no host"
// (before: alone exit 3, "could not connect …: no managed host is named or
// addressed …"; in a fleet exit 2). Names match alike too: in any case.
func TestUnknownViHostIsOneRule(t *testing.T) {
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 2})
	const want = `vCenter ` + "%s" + `: host pattern "nosuch" matches no host (2 hosts; matched against names, short names and management addresses, in any case)`
	for _, args := range [][]string{
		{"apply", "--vihost", "nosuch"},
		{"plan", "--vihost", "nosuch"},
		{"list", "--vihost", "nosuch"},
		{"plan", "--vihost", "nosuch", "--vihost", "DC0_H0"},
		{"list", "--vihost", "nosuch", "--vihost", "DC0_H0"},
	} {
		code, out, errb := runCLI(context.Background(), fixture(t, "seed.yaml"), vcVars(vc), vcArgs(vc, args...)...)
		w := strings.Replace(want, "%s", vc.URL.Host, 1)
		if code != 2 || !strings.Contains(errb, w) || strings.Contains(errb, "could not connect") {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s\n%s", args, code, w, out, errb)
		}
	}
	if n := vc.Writes(); n != 0 {
		t.Errorf("%d writes", n)
	}
	// The same name in another case finds the host, alone as in a fleet.
	if code, out, errb := runCLI(context.Background(), "", vcVars(vc), vcArgs(vc, "list", "--vihost", "dc0_h0")...); code != 0 || !strings.Contains(out, "host DC0_H0 as ") {
		t.Errorf("dc0_h0: exit %d\n%s\n%s", code, out, errb)
	}
}

// The same standalone host under two names (127.0.0.1:P and localhost:P)
// is refused before anything is contacted, exit 2, for apply, plan and
// list (before: both were read and written at once, and counted as two
// hosts).
func TestOneHostUnderTwoNames(t *testing.T) {
	sim := startSim(t, esxsim.Options{Common: esxsim.Common{Password: canary}})
	_, port, _ := net.SplitHostPort(sim.URL.Host)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	lines := "127.0.0.1:" + port + " " + sim.Thumbprint + "\nlocalhost:" + port + " " + sim.Thumbprint + "\n"
	if err := os.WriteFile(kh, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	want := `servers "127.0.0.1:` + port + `" and "localhost:` + port + `" are one host: both are 127.0.0.1:` + port + `; give each host once`
	for _, cmd := range []string{"apply", "plan", "list"} {
		code, out, errb := runCLI(context.Background(), firstEntries(fixture(t, "seed.yaml"), 1), map[string]string{"ESXI_PASSWORD": canary},
			cmd, "--server", "127.0.0.1:"+port, "--server", "localhost:"+port, "--known-hosts", kh)
		if code != 2 || !strings.Contains(errb, want) {
			t.Errorf("%s: exit %d, want 2 and %q\n%s\n%s", cmd, code, want, out, errb)
		}
	}
	if n := sim.Requests(); n != 0 {
		t.Errorf("%d requests to the host, want none", n)
	}
}

// simulate starts with a policy whose minimum is above 20 characters (a
// passphrase minimum of 24, a four-class minimum of 32): root's generated
// password is as long as the policy asks (before: exit 3 "cannot generate
// a password accepted by PasswordQualityControl; set Options.Password", an
// internal field). A policy no password meets is a mistake of usage, exit
// 2, naming the flag.
func TestSimulatePolicyAboveTwenty(t *testing.T) {
	for _, policy := range []string{"retry=3 min=disabled,disabled,24,24,24", "min=disabled,disabled,disabled,disabled,32 max=64"} {
		sim := startSimulateCmd(t, false, "--password-policy", policy)
		u, err := url.Parse(sim.url)
		if err != nil {
			t.Fatal(err)
		}
		pw, _ := u.User.Password()
		if reason, err := passwdqc.CheckESXi(policy, "root", "", pw); err != nil || reason != "" {
			t.Errorf("%s: root's password does not meet it: %q %v", policy, reason, err)
		}
	}
	vc := startSimulateUntil(t, func(s simulated) bool { return len(s.hosts) == 2 }, "--vcenter", "--hosts", "2",
		"--password-policy", "min=disabled,disabled,disabled,disabled,28", "--host-password-policy", "DC0_H0=min=disabled,disabled,disabled,disabled,36")
	if vc.thumbprint == "" {
		t.Fatal("no thumbprint line")
	}
	for _, args := range [][]string{
		{"simulate", "--password-policy", "min=disabled,disabled,disabled,disabled,45"},
		{"simulate", "--vcenter", "--password-policy", "min=disabled,disabled,disabled,disabled,45"},
		{"simulate", "--vcenter", "--host-password-policy", "DC0_H0=min=disabled,disabled,disabled,disabled,41"},
	} {
		code, _, errb := runCLI(context.Background(), "", nil, append(args, "--listen", "127.0.0.1:0")...)
		if code != 2 || !strings.Contains(errb, "no password meets the policy") || !strings.Contains(errb, "ESXi's passwdqc allows at most 40 characters") || strings.Contains(errb, "Options.") {
			t.Errorf("%v: exit %d:\n%s", args, code, errb)
		}
	}
}

// A local fleet of standalone simulators with one shared credential, as
// docs/fleets.md shows it: each `simulate` takes root's password from
// ESXI_PASSWORD (or --password-file; never a flag value) and does not
// print it; their thumbprint lines make the known-hosts file; one apply
// reaches them all (before: each simulator had a random password, so no
// fleet run could log in to all of them).
func TestLocalFleetOfSimulators(t *testing.T) {
	vars := map[string]string{"ESXI_PASSWORD": canary}
	var servers []string
	var known strings.Builder
	for range 2 {
		s := startSimulateEnv(t, vars, func(s simulated) bool { return s.thumbprint != "" })
		u, err := url.Parse(s.url)
		if err != nil {
			t.Fatal(err)
		}
		if _, has := u.User.Password(); has || strings.Contains(s.url, canary) {
			t.Errorf("line 1 shows the password: %s", s.url)
		}
		servers = append(servers, "--server", u.Host)
		fmt.Fprintf(&known, "%s thumbprint: %s\n", u.Host, s.thumbprint)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"apply", "--known-hosts", kh, "--output", "json"}, servers...)
	code, out, errb := runCLI(context.Background(), fixture(t, "seed.yaml"), vars, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	if rep := decodeFleet(t, out); len(rep.Hosts) != 2 || !rep.OK {
		t.Errorf("report: %s", out)
	}
	if strings.Contains(out+errb, canary) {
		t.Error("the password is in the output")
	}

	// --password-file too; an empty one is refused.
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(canary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startSimulateEnv(t, nil, func(s simulated) bool { return s.thumbprint != "" }, "--password-file", pwFile)
	u, _ := url.Parse(s.url)
	if code, out, errb := runCLI(context.Background(), "", vars, "list", "--server", u.Host, "--thumbprint", s.thumbprint); code != 0 {
		t.Errorf("list with the file's password: exit %d\n%s\n%s", code, out, errb)
	}
	if err := os.WriteFile(pwFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errb := runCLI(context.Background(), "", nil, "simulate", "--listen", "127.0.0.1:0", "--password-file", pwFile); code != 2 || !strings.Contains(errb, "is empty") {
		t.Errorf("empty --password-file: exit %d\n%s", code, errb)
	}
}

// `simulate --vcenter --sspi-keytab K --spn host/vcenter.example` with a
// keytab holding only vCenter's key serves pass-through logins; the VMs,
// without a guest key, refuse guest tokens (InvalidGuestLogin), no "vm:"
// line names one, and stderr says so (before: exit 3 "no VM has a guest
// SSPI acceptor"). An explicit --guest-keytab without any VM's key is a
// mistake of usage.
func TestSimulateVCenterPassThroughWithoutGuestKeys(t *testing.T) {
	const spn, vm = "host/vcenter.example", "DC0_H0_VM0"
	realm := krbtest.NewFixture(t, spn, "host/"+vm) // the VM's principal exists, but no keytab given holds its key
	sim := startSimulateUntil(t, func(s simulated) bool { return len(s.hosts) == 2 },
		"--vcenter", "--hosts", "2", "--sspi-keytab", realm.ServiceKeytab, "--spn", spn)
	u, err := url.Parse(sim.url)
	if err != nil {
		t.Fatal(err)
	}
	krb := map[string]string{"KRB5CCNAME": realm.CCache, "KRB5_CONFIG": realm.Krb5Conf()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, out, errb := runCLI(ctx, "", krb, "list", "--server", u.Host, "--thumbprint", sim.thumbprint, "--passthroughauth", "--spn", spn, "--vihost", "DC0_H0")
	if code != 0 || !strings.Contains(out, "host DC0_H0 as "+realm.Name+`\alice`) {
		t.Fatalf("pass-through list: exit %d\n%s\n%s", code, out, errb)
	}
	pw, _ := u.User.Password()
	withPW := map[string]string{"ESXI_PASSWORD": pw}
	for k, v := range krb {
		withPW[k] = v
	}
	code, out, errb = runCLI(ctx, "", withPW, "guest-auth", "--vm", vm, "--server", u.Host, "--username", u.User.Username(), "--thumbprint", sim.thumbprint)
	if code != 3 || !strings.Contains(out+errb, "InvalidGuestLogin") || strings.Contains(out, "acquired a guest ticket") {
		t.Errorf("guest-auth to a VM without a guest key: exit %d\n%s\n%s", code, out, errb)
	}
	code, errs := sim.stop()
	if len(sim.vms) != 0 || code != 0 || !strings.Contains(errs, "no VM accepts guest SSPI tokens") {
		t.Errorf("vm lines %v, exit %d, stderr:\n%s", sim.vms, code, errs)
	}

	code, _, errb = runCLI(ctx, "", nil, "simulate", "--listen", "127.0.0.1:0", "--vcenter", "--sspi-keytab", realm.ServiceKeytab, "--spn", spn, "--guest-keytab", realm.ServiceKeytab)
	if code != 2 || !strings.Contains(errb, "has no key for any VM's guest") {
		t.Errorf("--guest-keytab without a VM's key: exit %d\n%s", code, errb)
	}
}
