package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/tasks"
)

// fleetReport is the fleet report as a consumer reads it.
type fleetReport struct {
	OK    bool   `json:"ok"`
	Plan  bool   `json:"plan"`
	Time  string `json:"time"`
	Error string `json:"error"`
	Hosts []struct {
		OK          bool           `json:"ok"`
		Plan        bool           `json:"plan"`
		Time        string         `json:"time"`
		Host        string         `json:"host"`
		User        string         `json:"user"`
		Error       string         `json:"error"`
		Unreachable bool           `json:"unreachable"`
		Results     []tasks.Result `json:"results"`
	} `json:"hosts"`
}

// fleetRun runs the CLI with env vars and returns the exit code, stdout and
// stderr.
func fleetRun(ctx context.Context, doc string, vars map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(doc), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }}
	code := Run(ctx, args, env)
	return code, out.String(), errb.String()
}

// vcArgs are the connection flags of a run through vc, then args.
func vcArgs(vc *esxsim.VCenter, args ...string) []string {
	return append(args, "--server", vc.URL.Host, "--thumbprint", vc.Thumbprint, "--username", vc.URL.User.Username())
}

func vcVars(vc *esxsim.VCenter) map[string]string {
	pw, _ := vc.URL.User.Password()
	return map[string]string{"ESXI_PASSWORD": pw}
}

func startFleet(t *testing.T, opt esxsim.VCenterOptions) *esxsim.VCenter {
	t.Helper()
	vc, err := esxsim.StartVCenter(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vc.Close)
	return vc
}

func decodeFleet(t *testing.T, out string) fleetReport {
	t.Helper()
	return decodeStrict[fleetReport](t, out)
}

// decodeStrict reads a JSON document of the CLI as a T, refusing fields T
// does not have.
func decodeStrict[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not a %T: %v\n%s", v, err, out)
	}
	return v
}

// hostWrites maps each host to its writes.
func hostWrites(vc *esxsim.VCenter) map[string]int {
	m := map[string]int{}
	for _, h := range vc.Hosts {
		m[h] = vc.HostWrites(h)
	}
	return m
}

// twoEntries adds user1 (Admin) and sets user2 (ReadOnly): four writes.
func twoEntries(t *testing.T) string { return firstEntries(fixture(t, "seed.yaml"), 2) }

// Patterns select hosts by inventory path, by name glob and by address; the
// list is applied to exactly those, the JSON report has one report per
// host, sorted by name, and the others are not touched.
func TestFleetPatterns(t *testing.T) {
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 7, Clusters: 2})
	ip, _ := vc.HostIP("DC0_H3")
	code, out, errb := fleetRun(context.Background(), twoEntries(t), vcVars(vc),
		vcArgs(vc, "apply", "--output", "json", "--vihost", "/DC0/host/DC0_C0", "--vihost", "DC0_H[01]", "--vihost", ip)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	r := decodeFleet(t, out)
	want := []string{"DC0_C0_H0", "DC0_C0_H1", "DC0_H0", "DC0_H1", "DC0_H3"}
	var got []string
	for _, h := range r.Hosts {
		got = append(got, h.Host)
		if !h.OK || h.User != vc.URL.User.Username() || len(h.Results) != 2 || h.Results[0].Outcome != tasks.Created || h.Results[1].Outcome != tasks.Created {
			t.Errorf("host %s: %+v", h.Host, h)
		}
	}
	if !r.OK || !reflect.DeepEqual(got, want) {
		t.Errorf("ok %v, hosts %v, want %v", r.OK, got, want)
	}
	for h, w := range hostWrites(vc) {
		if slices.Contains(want, h) != (w == 4) || (w != 0 && w != 4) {
			t.Errorf("host %s: %d writes", h, w)
		}
	}
}

// A pattern that selects a single host is still a fleet run (the report's
// shape follows the command line); its summary counts "1 host", in apply's
// and in list's text.
func TestFleetOneHostSummary(t *testing.T) {
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 3})
	code, out, errb := fleetRun(context.Background(), twoEntries(t), vcVars(vc), vcArgs(vc, "apply", "--vihost", "DC0_H[1]")...)
	if code != 0 || !strings.Contains(out, "ok: 1 host: 1 done") {
		t.Errorf("apply: exit %d, want the summary \"ok: 1 host: 1 done\"\n%s\n%s", code, out, errb)
	}
	code, out, errb = fleetRun(context.Background(), "", vcVars(vc), vcArgs(vc, "list", "--vihost", "DC0_H[1]")...)
	if code != 0 || !strings.Contains(out, "ok: 1 host: 1 listed") {
		t.Errorf("list: exit %d, want the summary \"ok: 1 host: 1 listed\"\n%s\n%s", code, out, errb)
	}
}

// A pattern that selects nothing, or is not a glob, is invalid: exit 2,
// nothing written, the pattern named.
func TestFleetPatternErrors(t *testing.T) {
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 3})
	for _, tc := range []struct {
		patterns []string
		want     string
	}{
		{[]string{"DC0_*", "esx-*"}, `host pattern "esx-*" matches no host (3 hosts`},
		{[]string{"/DC1/*"}, `host pattern "/DC1/*" matches no host`},
		{[]string{"DC0_[H"}, `host pattern "DC0_[H" is not a valid glob`},
	} {
		args := []string{"apply", "--output", "json"}
		for _, p := range tc.patterns {
			args = append(args, "--vihost", p)
		}
		code, out, errb := fleetRun(context.Background(), twoEntries(t), vcVars(vc), vcArgs(vc, args...)...)
		if code != 2 || !strings.Contains(errb, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.patterns, code, errb, tc.want)
		}
		if r := decodeFleet(t, out); r.OK || len(r.Hosts) != 0 || !strings.Contains(r.Error, tc.want) {
			t.Errorf("%q: report %+v", tc.patterns, r)
		}
	}
	if vc.Writes() != 0 {
		t.Errorf("%d writes", vc.Writes())
	}
}

// One host whose password policy is stricter than the list's passwords
// blocks the whole fleet: exit 2, not one write on any host, the report
// naming the host, the entries and the field; the other hosts are reported
// not applied, naming the invalid host.
func TestFleetStrictHostBlocksAll(t *testing.T) {
	const strict = "retry=3 min=disabled,disabled,disabled,disabled,20"
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 6, Clusters: 2, HostPasswordPolicies: map[string]string{"DC0_H1": strict}})
	for _, output := range []string{"json", "text"} {
		code, out, errb := fleetRun(context.Background(), fixture(t, "seed.yaml"), vcVars(vc),
			vcArgs(vc, "apply", "--output", output, "--vihost", "DC0_*", "--parallel", "2")...)
		if code != 2 {
			t.Fatalf("%s: exit %d\n%s\n%s", output, code, out, errb)
		}
		wantErr := `host DC0_H1: entry 1 (id "user1", add): password does not meet the host's policy: too short`
		if !strings.Contains(errb, wantErr) {
			t.Errorf("%s: stderr lacks %q:\n%s", output, wantErr, errb)
		}
		if output == "text" {
			for _, line := range []string{"DC0_H1           1    user1", "invalid    password does not meet the host's policy", "DC0_C0_H0        NOT-RUN: not applied: the list is invalid for host DC0_H1", "FAILED: 6 hosts: 1 invalid, 5 not-run"} {
				if !strings.Contains(out, line) {
					t.Errorf("text output lacks %q:\n%s", line, out)
				}
			}
			continue
		}
		r := decodeFleet(t, out)
		if r.OK || len(r.Hosts) != 6 || !strings.Contains(r.Error, wantErr) {
			t.Fatalf("report: %+v", r)
		}
		for _, h := range r.Hosts {
			if h.OK || h.Unreachable {
				t.Errorf("%s: %+v", h.Host, h)
			}
			if h.Host == "DC0_H1" {
				if h.Results[0].Outcome != tasks.Invalid || !strings.Contains(h.Results[0].Error, "password does not meet the host's policy") {
					t.Errorf("DC0_H1 entry 1: %+v", h.Results[0])
				}
				continue
			}
			if !strings.Contains(h.Error, "the list is invalid for host DC0_H1: nothing was changed on any host") {
				t.Errorf("%s error %q", h.Host, h.Error)
			}
			for _, res := range h.Results {
				if res.Outcome != tasks.NotRun {
					t.Errorf("%s: %+v", h.Host, res)
				}
			}
		}
	}
	for h, w := range hostWrites(vc) {
		if w != 0 {
			t.Errorf("host %s: %d writes", h, w)
		}
	}
}

// A host's write fault fails that host; the others go on (exit 1). With
// --fail-fast no host starts after it (--parallel 1: none), and with two at
// a time a host running beside it stops after its current entry: every
// entry it reports is done or not-run, and it holds exactly the done ones
// (internal/fleet's TestFailFastFinishesCurrentEntry pins the timing).
func TestFleetFailFast(t *testing.T) {
	const failing = "DC0_C0_H0" // sorted first
	for _, tc := range []struct {
		name     string
		args     []string
		untouchd []string // hosts with no write
	}{
		{"carry on", []string{"--parallel", "1"}, nil},
		{"fail-fast one at a time", []string{"--parallel", "1", "--fail-fast"}, []string{"DC0_C1_H0", "DC0_H0", "DC0_H1"}},
		{"fail-fast two at a time", []string{"--parallel", "2", "--fail-fast"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vc := startFleet(t, esxsim.VCenterOptions{Common: esxsim.Common{FailWrite: 3}, Hosts: 4, Clusters: 2, FailHost: failing})
			code, out, errb := fleetRun(context.Background(), fixture(t, "seed.yaml"), vcVars(vc),
				vcArgs(vc, append([]string{"apply", "--output", "json", "--vihost", "DC0_*"}, tc.args...)...)...)
			if code != 1 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errb)
			}
			r := decodeFleet(t, out)
			if r.OK || len(r.Hosts) != 4 {
				t.Fatalf("report %+v", r)
			}
			for _, h := range r.Hosts {
				var outs []tasks.Outcome
				for _, res := range h.Results {
					outs = append(outs, res.Outcome)
				}
				switch {
				case h.Host == failing:
					if want := []tasks.Outcome{tasks.Created, tasks.Failed, tasks.NotRun, tasks.NotRun, tasks.NotRun}; !reflect.DeepEqual(outs, want) {
						t.Errorf("%s: %v, want %v", h.Host, outs, want)
					}
				case slices.Contains(tc.untouchd, h.Host):
					if h.OK || vc.HostWrites(h.Host) != 0 || !strings.Contains(h.Error, "host "+failing+" failed (--fail-fast)") {
						t.Errorf("%s: %d writes, %+v", h.Host, vc.HostWrites(h.Host), h)
					}
				case !slices.Contains(tc.args, "--fail-fast"):
					if !h.OK {
						t.Errorf("%s: %+v", h.Host, h)
					}
				default: // running beside the failing host, or started before it failed
					stopped := false
					for _, o := range outs {
						if o == tasks.Failed || (stopped && o != tasks.NotRun) {
							t.Errorf("%s: %v", h.Host, outs)
						}
						stopped = stopped || o == tasks.NotRun
					}
					if stopped && !strings.Contains(h.Error, "--fail-fast") {
						t.Errorf("%s: error %q", h.Host, h.Error)
					}
					// Two writes for each done entry of the seed's list.
					if done := slices.Index(append(outs, tasks.NotRun), tasks.NotRun); vc.HostWrites(h.Host) != 2*done {
						t.Errorf("%s: %d writes for %d entries done", h.Host, vc.HostWrites(h.Host), done)
					}
				}
			}
			if !strings.Contains(errb, "host "+failing+": ") {
				t.Errorf("stderr: %s", errb)
			}
		})
	}
}

// esxiPair starts two ESXi simulators with the same root password and
// writes a known-hosts file pinning them (the second with the first's
// fingerprint when mismatch).
func esxiPair(t *testing.T, mismatch bool) (a, b *esxsim.Server, knownHosts string) {
	t.Helper()
	const pw = "Root#Fleet-4417x"
	a, b = startSim(t, esxsim.Options{Common: esxsim.Common{Password: pw}}), startSim(t, esxsim.Options{Common: esxsim.Common{Password: pw}})
	pinB := b.Thumbprint
	if mismatch {
		pinB = a.Thumbprint
	}
	knownHosts = filepath.Join(t.TempDir(), "known_hosts")
	body := fmt.Sprintf("# fleet\n%s %s\n%s %s\n", a.URL.Host, a.Thumbprint, b.URL.Host, strings.ToLower(strings.ReplaceAll(pinB, ":", "")))
	if err := os.WriteFile(knownHosts, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return a, b, knownHosts
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Standalone hosts pinned by a known-hosts file: both applied (exit 0); a
// server nothing listens on is unreachable while the others are done
// (exit 1, "unreachable": true); only unreachable servers: exit 3.
func TestFleetStandaloneUnreachable(t *testing.T) {
	a, b, kh := esxiPair(t, false)
	vars := map[string]string{"ESXI_PASSWORD": "Root#Fleet-4417x", "GOVC_TLS_KNOWN_HOSTS": kh}
	doc := twoEntries(t)
	code, out, errb := fleetRun(context.Background(), doc, vars, "apply", "--output", "json", "--server", a.URL.Host, "--server", b.URL.Host)
	if code != 0 || !decodeFleet(t, out).OK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	if a.Writes() != 4 || b.Writes() != 4 {
		t.Fatalf("writes %d, %d", a.Writes(), b.Writes())
	}
	down := closedPort(t)
	code, out, errb = fleetRun(context.Background(), doc, vars, "apply", "--output", "json", "--timeout", "5s", "--server", a.URL.Host, "--server", down, "--server", b.URL.Host)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	r := decodeFleet(t, out)
	if r.OK || len(r.Hosts) != 3 || !strings.Contains(r.Error, "2 of 3 hosts done; 1 unreachable") {
		t.Fatalf("report %+v", r)
	}
	for i, h := range r.Hosts {
		if (i == 1) != h.Unreachable || (i == 1) == h.OK {
			t.Errorf("host %d %s: %+v", i, h.Host, h)
		}
	}
	if u := r.Hosts[1]; u.Host != down || !strings.Contains(u.Error, "connection refused") || len(u.Results) != 2 || u.Results[0].Outcome != tasks.NotRun {
		t.Errorf("unreachable host: %+v", u)
	}
	if !strings.Contains(out, `"unreachable": true`) {
		t.Errorf("no \"unreachable\": true in\n%s", out)
	}
	code, out, errb = fleetRun(context.Background(), doc, vars, "apply", "--output", "json", "--timeout", "5s", "--server", down, "--server", closedPort(t))
	if code != 3 || !strings.Contains(errb, "no host could be reached") {
		t.Fatalf("all unreachable: exit %d\n%s\n%s", code, out, errb)
	}
}

// Known-hosts: a host whose certificate is not the pinned one is
// unreachable, the message naming the file and line once (alone too); a host missing from
// the file is verified against the system's roots (the simulator's
// self-signed certificate is not trusted) and the message says so; the
// others proceed. A malformed file is a usage error (exit 2) before any
// host is contacted.
func TestFleetKnownHosts(t *testing.T) {
	a, b, kh := esxiPair(t, true)
	vars := map[string]string{"ESXI_PASSWORD": "Root#Fleet-4417x"}
	code, out, errb := fleetRun(context.Background(), twoEntries(t), vars, "apply", "--output", "json", "--known-hosts", kh, "--server", a.URL.Host, "--server", b.URL.Host)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	r := decodeFleet(t, out)
	if !r.Hosts[0].OK || !r.Hosts[1].Unreachable || !strings.Contains(r.Hosts[1].Error, "does not match") || strings.Count(r.Hosts[1].Error, kh+":3") != 1 {
		t.Errorf("mismatch: want the known-hosts line named once: %+v", r.Hosts)
	}
	if b.Writes() != 0 || a.Writes() != 4 {
		t.Errorf("writes %d, %d", a.Writes(), b.Writes())
	}

	only := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(only, []byte(a.URL.Host+" "+a.Thumbprint+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errb = fleetRun(context.Background(), twoEntries(t), vars, "plan", "--output", "json", "--known-hosts", only, "--server", a.URL.Host, "--server", b.URL.Host)
	r = decodeFleet(t, out)
	if code != 1 || !r.Hosts[0].OK || !r.Hosts[1].Unreachable || !strings.Contains(r.Hosts[1].Error, b.URL.Host+" is not in the known-hosts file") || !strings.Contains(r.Hosts[1].Error, "unknown authority") {
		t.Errorf("unknown host: exit %d %+v\n%s", code, r.Hosts, errb)
	}

	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte(a.URL.Host+" AB:CD\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r0 := a.Requests()
	code, _, errb = fleetRun(context.Background(), twoEntries(t), vars, "apply", "--known-hosts", bad, "--server", a.URL.Host, "--server", b.URL.Host)
	if code != 2 || !strings.Contains(errb, "line 1") || a.Requests() != r0 {
		t.Errorf("bad file: exit %d, %d requests, %s", code, a.Requests()-r0, errb)
	}
	// One host whose pin in the file does not match: exit 3, the line named
	// once.
	code, out, errb = fleetRun(context.Background(), twoEntries(t), vars, "plan", "--known-hosts", kh, "--server", b.URL.Host)
	if code != 3 || !strings.Contains(errb, "does not match the pinned SHA-1 thumbprint (known-hosts "+kh+":3)") || strings.Count(errb, kh+":3") != 1 {
		t.Errorf("single host mismatch: exit %d\n%s\n%s", code, out, errb)
	}
	// One host, pinned by the file: today's single-host run and report.
	code, out, errb = fleetRun(context.Background(), twoEntries(t), vars, "plan", "--output", "json", "--known-hosts", only, "--server", a.URL.Host)
	if code != 0 || strings.Contains(out, `"hosts"`) || !strings.Contains(out, `"host": "`+a.URL.Host+`"`) {
		t.Errorf("single host: exit %d\n%s\n%s", code, out, errb)
	}
}

// Usage mistakes of a fleet exit 2 before anything is contacted.
func TestFleetUsageErrors(t *testing.T) {
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 2})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{vcArgs(vc, "apply", "--vihost", "DC0_*", "--parallel", "0"), "--parallel 0"},
		{[]string{"apply", "--server", "a.example", "--server", "b.example", "--thumbprint", vc.Thumbprint}, "with several --server give their fingerprints in a known-hosts file"},
		{[]string{"apply", "--server", "a.example", "--server", "b.example", "--vihost", "DC0_*", "--username", "u"}, "--vihost selects hosts of one vCenter"},
		{[]string{"apply", "--server", "a.example", "--server", "A.example:443"}, `server "A.example:443" is given twice`},
		{[]string{"apply", "--server", "a.example", "--server", "http://b.example"}, "plain http:// is refused"},
		{[]string{"apply", "--server", "a.example", "--server", "root:secret@b.example"}, "--server has a password in it"},
		{[]string{"apply", "--simulate", "--vihost", "DC0_*"}, "--simulate serves one host"},
		{[]string{"apply", "--server", "a.example", "--server", "b.example", "--known-hosts", "/nonexistent/known_hosts"}, "--known-hosts"},
	} {
		code, out, errb := fleetRun(context.Background(), twoEntries(t), vcVars(vc), tc.args...)
		if code != 2 || !strings.Contains(errb, tc.want) || strings.Contains(errb+out, "secret") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errb, tc.want)
		}
	}
	if vc.Requests() != 0 {
		t.Errorf("%d requests", vc.Requests())
	}
}

// One plain --vihost name is today's single-host run: its report, not the
// fleet's; a pattern is a fleet even when it selects one host.
func TestFleetOneTargetUnchanged(t *testing.T) {
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 2})
	code, out, errb := fleetRun(context.Background(), twoEntries(t), vcVars(vc), vcArgs(vc, "plan", "--output", "json", "--vihost", "DC0_H0")...)
	if code != 0 || strings.Contains(out, `"hosts"`) || !strings.Contains(out, `"host": "DC0_H0"`) {
		t.Errorf("one name: exit %d\n%s\n%s", code, out, errb)
	}
	code, out, errb = fleetRun(context.Background(), twoEntries(t), vcVars(vc), vcArgs(vc, "plan", "--output", "json", "--vihost", "DC0_H0*")...)
	if r := decodeFleet(t, out); code != 0 || !r.OK || !r.Plan || len(r.Hosts) != 1 || r.Hosts[0].Host != "DC0_H0" {
		t.Errorf("one pattern: exit %d %+v\n%s", code, r, errb)
	}
	if vc.Writes() != 0 {
		t.Errorf("plan wrote %d", vc.Writes())
	}
}

// The hosts share one vCenter session and its recovery: when vCenter ends
// the session in the middle of the run, one login renews it for every host
// and all are done.
func TestFleetSharedSessionRecovers(t *testing.T) {
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 8, Clusters: 2})
	vc.ExpireSessionsWhen(func(n int, method string) bool {
		return method == "ChangeAccessMode" && vc.Writes() >= 12 && vc.ExpiredSessions() == 0
	})
	code, out, errb := fleetRun(context.Background(), fixture(t, "seed.yaml"), vcVars(vc), vcArgs(vc, "apply", "--output", "json", "--vihost", "*", "--parallel", "8")...)
	if code != 0 || !decodeFleet(t, out).OK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	if vc.ExpiredSessions() == 0 {
		t.Fatal("the session was not ended")
	}
	if vc.Logins() != 2 {
		t.Errorf("%d logins, want 2 (one, then one after the session ended)", vc.Logins())
	}
	after := hostAccounts(t, vc)
	for h, w := range hostWrites(vc) {
		// A write sent with the old session is refused and made again.
		if w < 10 || after[h] != "dcui (DCUI User) Admin; root (Administrator) Admin; vpxuser (VMware VirtualCenter administration account) Admin" {
			t.Errorf("host %s: %d writes, accounts %s", h, w, after[h])
		}
	}
}

// A signal during the apply phase ends the run as it ends one host's: the
// hosts at work read back their entry in flight, the ones not started are
// not-run, the report is printed, exit 1.
func TestFleetInterrupted(t *testing.T) {
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 4, Clusters: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	vc.OnRequest(func(n int, method string) {
		if method == "CreateUser" {
			once.Do(cancel)
		}
	})
	code, out, errb := fleetRun(ctx, fixture(t, "seed.yaml"), vcVars(vc), vcArgs(vc, "apply", "--output", "json", "--vihost", "*", "--parallel", "1")...)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	r := decodeFleet(t, out)
	if r.OK || len(r.Hosts) != 4 || !strings.Contains(r.Error, "interrupted") {
		t.Fatalf("report %+v", r)
	}
	first := r.Hosts[0]
	if first.Results[0].Observed == nil && first.Results[0].Outcome != tasks.Created {
		t.Errorf("entry in flight: %+v", first.Results[0])
	}
	for _, h := range r.Hosts[1:] {
		if h.OK || !strings.Contains(h.Error, "interrupted") || vc.HostWrites(h.Host) != 0 {
			t.Errorf("%s: %d writes %+v", h.Host, vc.HostWrites(h.Host), h)
		}
	}
}

// No password of the list or of the login shows in any output: text, JSON,
// the log, the SOAP trace, the errors of an invalid host and of a failed
// write.
func TestFleetCanaryNeverPrinted(t *testing.T) {
	const strict = "retry=3 min=disabled,disabled,disabled,disabled,20"
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 3, HostPasswordPolicies: map[string]string{"DC0_H1": strict}})
	doc := fmt.Sprintf("[{id: u1, operation: add, password: %q, role: Admin}]", canary)
	loginPW := vcVars(vc)["ESXI_PASSWORD"]
	trace := filepath.Join(t.TempDir(), "trace")
	for _, args := range [][]string{
		{"apply", "--vihost", "DC0_*", "--verbose", "--trace-soap", trace},
		{"apply", "--vihost", "DC0_*", "--output", "json"},
		{"apply", "--vihost", "DC0_C*", "--vihost", "DC0_H0", "--verbose"},
		{"apply", "--vihost", "DC0_C*", "--vihost", "DC0_H0", "--output", "json"},
	} {
		// DC0_H0's next write fails with a fault that echoes the password.
		if err := vc.SetFailHostWrite("DC0_H0", vc.HostWrites("DC0_H0")+1, &types.SystemError{Reason: "rejected " + canary}); err != nil {
			t.Fatal(err)
		}
		code, out, errb := fleetRun(context.Background(), doc, vcVars(vc), vcArgs(vc, args...)...)
		if code == 0 {
			t.Errorf("%q: exit 0", args)
		}
		if slices.Contains(args, "DC0_H0") && !strings.Contains(out+errb, "rejected") {
			t.Errorf("%q: DC0_H0's write fault is not reported:\n%s\n%s", args, out, errb)
		}
		tr, _ := os.ReadFile(trace)
		for _, s := range []string{canary, loginPW} {
			if strings.Contains(out+errb+string(tr), s) {
				t.Errorf("%q: a password was printed:\n%s\n%s", args, out, errb)
			}
		}
	}
}
