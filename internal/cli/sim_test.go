package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
)

// canary is a password that must never appear in any output.
const canary = "Canary#Pw-7719-zz"

func startSim(t *testing.T, opt esxsim.Options) *esxsim.Server {
	t.Helper()
	sim, err := esxsim.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// simEnv is the environment of a CLI run against sim: the password comes
// from ESXI_PASSWORD, the server and thumbprint from flags (simArgs).
func simEnv(sim *esxsim.Server, stdin string) (Env, *bytes.Buffer, *bytes.Buffer) {
	pw, _ := sim.URL.User.Password()
	var out, errb bytes.Buffer
	return Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "ESXI_PASSWORD" {
				return pw
			}
			return ""
		},
	}, &out, &errb
}

func simArgs(sim *esxsim.Server, args ...string) []string {
	return append(args, "--server", sim.URL.Host, "--thumbprint", sim.Thumbprint)
}

// hostState is what the host reports through the vSphere API, read with
// govmomi directly (not through this project's adapter).
type hostState struct {
	users map[string]string // id -> description (full name)
	perms map[string]string // principal -> role name, root folder
}

func readHost(t *testing.T, sim *esxsim.Server) hostState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, logout, err := sim.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer logout()
	st := hostState{users: map[string]string{}, perms: map[string]string{}}
	res, err := methods.RetrieveUserGroups(ctx, c, &types.RetrieveUserGroups{This: *c.ServiceContent.UserDirectory, FindUsers: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Returnval {
		u := r.GetUserSearchResult()
		st.users[u.Principal] = u.FullName
	}
	am := object.NewAuthorizationManager(c)
	roles, err := am.RoleList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	perms, err := am.RetrieveEntityPermissions(ctx, c.ServiceContent.RootFolder, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range perms {
		if !p.Propagate {
			t.Errorf("permission of %s does not propagate", p.Principal)
		}
		st.perms[p.Principal] = roles.ById(p.RoleId).Name
	}
	return st
}

func (s hostState) String() string {
	var lines []string
	for id, d := range s.users {
		lines = append(lines, strings.TrimSpace(id+" ("+d+") "+s.perms[id]))
	}
	for p, r := range s.perms {
		if _, ok := s.users[p]; !ok {
			lines = append(lines, "permission without user: "+p+" "+r)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "; ")
}

// defaults is the simulator's state before any run: ESXi's own accounts.
func defaults(t *testing.T) string {
	t.Helper()
	sim := startSim(t, esxsim.Options{})
	return readHost(t, sim).String()
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "params", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// firstEntries keeps the first n entries of the seed's YAML example.
func firstEntries(doc string, n int) string {
	parts := strings.SplitAfter(doc, "\n- ")
	return strings.TrimSuffix(strings.Join(parts[:n], ""), "- ")
}

// The seed's YAML and JSON examples each leave exactly the expected
// accounts, descriptions and permissions, read back through the API.
func TestApplySeedLeavesExpectedState(t *testing.T) {
	base := defaults(t)
	yaml := fixture(t, "seed.yaml")
	after3 := base + "; user1 (ESXi User) NoAccess; user2 (ESXi User) ReadOnly"
	tests := []struct {
		name, doc, want string
	}{
		{"yaml", yaml, base},
		{"json", fixture(t, "seed.json"), base},
		{"yaml first entry", firstEntries(yaml, 1), base + "; user1 (User One) Admin"},
		{"yaml first three entries", firstEntries(yaml, 3), after3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, esxsim.Options{})
			env, out, errb := simEnv(sim, tt.doc)
			if code := Run(context.Background(), simArgs(sim, "apply"), env); code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errb)
			}
			if got := sortState(readHost(t, sim).String()); got != sortState(tt.want) {
				t.Errorf("host state\n got %s\nwant %s", got, sortState(tt.want))
			}
		})
	}
}

func sortState(s string) string {
	parts := strings.Split(s, "; ")
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// Fault injection at each write position k: entries before k's entry are
// applied, the rest are not run, exit 1.
func TestApplyStopsAtInjectedFault(t *testing.T) {
	base := defaults(t)
	doc := strings.ReplaceAll(firstEntries(fixture(t, "seed.yaml"), 3), "S3cr3tP455!", canary)
	// The three entries make two writes each: create+grant, create+grant,
	// update+grant.
	wantAfter := []string{
		base, // k=1 fails creating user1
		base + "; user1 (User One)",
		base + "; user1 (User One) Admin",
		base + "; user1 (User One) Admin; user2 (ESXi User)",
		base + "; user1 (User One) Admin; user2 (ESXi User) ReadOnly",
		base + "; user1 (ESXi User) Admin; user2 (ESXi User) ReadOnly",
	}
	for k := 1; k <= 6; k++ {
		t.Run("k="+string(rune('0'+k)), func(t *testing.T) {
			sim := startSim(t, esxsim.Options{Common: esxsim.Common{FailWrite: k}})
			env, out, errb := simEnv(sim, doc)
			code := Run(context.Background(), simArgs(sim, "apply", "--output", "json"), env)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errb)
			}
			failed := (k - 1) / 2
			for i := 0; i < 3; i++ {
				var want string
				switch {
				case i < failed:
					want = `"outcome": "created"`
				case i == failed:
					want = `"outcome": "failed"`
				default:
					want = `"outcome": "not-run"`
				}
				if !strings.Contains(resultOf(out.String(), i), want) {
					t.Errorf("entry %d: want %s in\n%s", i, want, resultOf(out.String(), i))
				}
			}
			if got, want := sortState(readHost(t, sim).String()), sortState(wantAfter[k-1]); got != want {
				t.Errorf("host state\n got %s\nwant %s", got, want)
			}
			if strings.Contains(out.String()+errb.String(), canary) {
				t.Error("canary password in output")
			}
		})
	}
}

// resultOf returns the JSON text of result i of a report.
func resultOf(report string, i int) string {
	marker := `"index": ` + string(rune('0'+i)) + ","
	start := strings.Index(report, marker)
	if start < 0 {
		return ""
	}
	end := strings.Index(report[start:], "}")
	return report[start : start+end]
}

// Invalid input changes nothing on the host: zero writes, exit 2.
func TestApplyInvalidWritesNothing(t *testing.T) {
	docs := map[string]string{
		"decode error":       "- id: u1\n  operation: add\n  passwrod: " + canary + "\n  role: Admin\n",
		"validation error":   "- {id: u1, operation: add, password: " + canary + ", role: Admin}\n- {id: u2, operation: add, password: " + canary + ", role: Owner}\n",
		"rejected password":  "- {id: u1, operation: add, password: " + canary + ", role: Admin}\n- {id: u2, operation: add, password: 'Sh0rt!', role: Admin}\n",
		"password with user": "- {id: alice, operation: add, password: 'alice123!', role: Admin}\n",
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			sim := startSim(t, esxsim.Options{})
			env, out, errb := simEnv(sim, doc)
			if code := Run(context.Background(), simArgs(sim, "apply"), env); code != 2 {
				t.Fatalf("exit %d, want 2\n%s\n%s", code, out, errb)
			}
			if sim.Writes() != 0 {
				t.Errorf("%d writes on the host", sim.Writes())
			}
			if !strings.Contains(out.String(), "invalid") {
				t.Errorf("no invalid entry reported:\n%s", out)
			}
			if strings.Contains(out.String()+errb.String(), canary) {
				t.Error("canary password in output")
			}
		})
	}
}

func TestApplyConnectFailures(t *testing.T) {
	sim := startSim(t, esxsim.Options{})
	doc := fixture(t, "seed.yaml")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"wrong password", []string{"--server", sim.URL.Host, "--thumbprint", sim.Thumbprint}, map[string]string{"ESXI_PASSWORD": canary}, "InvalidLogin"},
		{"unverified certificate", []string{"--server", sim.URL.Host}, map[string]string{"ESXI_PASSWORD": canary}, "certificate"},
		{"wrong thumbprint", []string{"--server", sim.URL.Host, "--thumbprint", "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33"}, map[string]string{"ESXI_PASSWORD": canary}, "thumbprint"},
		{"nothing listening", []string{"--server", "127.0.0.1:1", "--insecure", "--timeout", "5s"}, map[string]string{"ESXI_PASSWORD": canary}, "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			env := Env{Stdin: strings.NewReader(doc), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return tt.env[k] }}
			if code := Run(context.Background(), append([]string{"apply"}, tt.args...), env); code != 3 {
				t.Fatalf("exit %d, want 3\n%s\n%s", code, &out, &errb)
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr = %s, want %q", errb.String(), tt.want)
			}
			if strings.Contains(out.String()+errb.String(), canary) {
				t.Error("canary password in output")
			}
		})
	}
	if sim.Writes() != 0 {
		t.Errorf("%d writes on the host", sim.Writes())
	}
}

// With --skip-password-check the host decides, and its own rejection is
// reported for the entry (exit 1, the earlier entries applied).
func TestSkipPasswordCheckLetsHostDecide(t *testing.T) {
	sim := startSim(t, esxsim.Options{})
	doc := "- {id: u1, operation: add, password: " + canary + ", role: Admin}\n- {id: u2, operation: add, password: 'Sh0rt!', role: Admin}\n"
	env, out, errb := simEnv(sim, doc)
	if code := Run(context.Background(), simArgs(sim, "apply", "--skip-password-check"), env); code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(out.String(), "the host rejected the password") || !strings.Contains(out.String(), "passwd: Authentication token manipulation error") {
		t.Errorf("host's reason not reported:\n%s", out)
	}
	if st := readHost(t, sim); st.perms["u1"] != "Admin" || st.users["u2"] != "" {
		t.Errorf("state = %s", st)
	}
}

// --password-policy overrides the host's policy for the pre-check.
func TestPasswordPolicyOverride(t *testing.T) {
	sim := startSim(t, esxsim.Options{})
	doc := "- {id: u1, operation: add, password: 'S3cr3tP455!', role: Admin}\n"
	env, out, errb := simEnv(sim, doc)
	code := Run(context.Background(), simArgs(sim, "apply", "--password-policy", "retry=3 min=disabled,disabled,disabled,disabled,15"), env)
	if code != 2 || !strings.Contains(out.String(), "password does not meet the host's policy: too short") || sim.Writes() != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	env, out, errb = simEnv(sim, doc)
	if code := Run(context.Background(), simArgs(sim, "apply", "--password-policy", "min=bogus"), env); code != 2 {
		t.Fatalf("malformed override: exit %d\n%s\n%s", code, out, errb)
	}
}

func TestPlanWritesNothing(t *testing.T) {
	sim := startSim(t, esxsim.Options{})
	env, out, errb := simEnv(sim, fixture(t, "seed.yaml"))
	if code := Run(context.Background(), simArgs(sim, "plan"), env); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	if sim.Writes() != 0 {
		t.Errorf("plan wrote %d times", sim.Writes())
	}
	for _, want := range []string{"PLAN", "1    user1                add       Admin     created", "4    user1                remove              removed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
}

// govc's environment is honoured as a fallback.
func TestGovcEnvironment(t *testing.T) {
	sim := startSim(t, esxsim.Options{})
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(firstEntries(fixture(t, "seed.yaml"), 1)), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		return map[string]string{"GOVC_URL": sim.URL.String(), "GOVC_THUMBPRINT": sim.Thumbprint}[k]
	}}
	if code := Run(context.Background(), []string{"apply"}, env); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, &out, &errb)
	}
	if readHost(t, sim).perms["user1"] != "Admin" {
		t.Error("user1 not created through GOVC_URL")
	}
}

// The canary never appears, whatever the path: verbose logging, SOAP trace,
// text and JSON output, host rejection and injected faults.
func TestCanaryNeverPrinted(t *testing.T) {
	doc := "- {id: u1, operation: add, password: '" + canary + "', role: Admin, description: Canary}\n- {id: u1, operation: set, password: '" + canary + "', role: ReadOnly}\n"
	for _, args := range [][]string{
		{"apply", "--verbose", "--trace-soap", "-"},
		{"apply", "--verbose", "--trace-soap", "-", "--output", "json"},
		{"plan", "--verbose", "--trace-soap", "-"},
	} {
		for _, fail := range []int{0, 1, 3} {
			sim := startSim(t, esxsim.Options{Common: esxsim.Common{FailWrite: fail}})
			env, out, errb := simEnv(sim, doc)
			Run(context.Background(), simArgs(sim, args...), env)
			all := out.String() + errb.String()
			if strings.Contains(all, canary) {
				t.Errorf("%v fail=%d: canary printed:\n%s", args, fail, all)
			}
			if args[0] == "apply" && !strings.Contains(errb.String(), "CreateUser") {
				t.Errorf("%v: no SOAP trace on stderr", args)
			}
		}
	}
}
