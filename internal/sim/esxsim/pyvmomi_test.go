package esxsim

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/passwdqc"
	"github.com/esxi-users/esxi-users/internal/testsupport/missing"
)

// python is Debian's python3, which has python3-pyvmomi.
const python = "/usr/bin/python3"

// requirePyVmomi skips when pyVmomi is not importable, unless CI is set:
// then the suite must run (tools/install-test-deps.sh installs it).
func requirePyVmomi(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import pyVmomi, pyVim.connect").CombinedOutput()
	if err != nil {
		missing.Tool(t, "python3-pyvmomi not available (%v: %s); apt-get install python3-pyvmomi", err, strings.TrimSpace(string(out)))
	}
}

// TestPyVmomiConformance is the simulator's conformance suite: VMware's
// pyVmomi (Debian python3-pyvmomi 6.7.1), a client nobody here wrote,
// drives a fresh simulator through the behaviours the project relies on —
// the API version it negotiates (6.7.1) and 6.5 calls, login and its
// faults, user faults, PosixUserSearchResult, permissions, the password
// policy, protected users, supportedOption, privileges per call with a
// least-privilege custom role, and account lockout — and asserts ESXi's
// documented answers (testdata/pyvmomi_conformance.py cites them). Each
// check is a subtest.
func TestPyVmomiConformance(t *testing.T) {
	requirePyVmomi(t)
	clock := &fakeClock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	s := start(t, Options{Clock: clock.Now})
	runPyVmomi(t, "testdata/pyvmomi_conformance.py", s.endpoint, clock, "ESXSIM_DEFAULT_POLICY="+passwdqc.ESXiDefault)
}

// TestPyVmomiVCenter drives a simulated vCenter with pyVmomi
// (testdata/pyvmomi_vcenter.py): the API version it negotiates (6.7.1),
// vCenter's about, 6.5 calls, privilegeList, and a managed host's local
// users and access through vCenter. pyVmomi 6.7.1 could not connect to
// vcsim's vCenter at all.
func TestPyVmomiVCenter(t *testing.T) {
	requirePyVmomi(t)
	v := startVC(t, VCenterOptions{Hosts: 2})
	runPyVmomi(t, "testdata/pyvmomi_vcenter.py", v.endpoint, nil, "ESXSIM_HOSTS="+strings.Join(v.Hosts, ","))
}

// runPyVmomi runs a pyVmomi suite against e (protocol in the script's
// docstring): its connection from the environment (ESXSIM_HOST,
// ESXSIM_PORT, ESXSIM_USER, ESXSIM_PASSWORD, ESXSIM_CAFILE, and env), a
// subtest per check, clock advanced on request.
func runPyVmomi(t *testing.T, script string, e *endpoint, clock *fakeClock, env ...string) {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, e.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(e.URL.Host)
	pw, _ := e.URL.User.Password()

	cmd := exec.Command(python, script)
	cmd.Env = append(os.Environ(), "ESXSIM_HOST="+host, "ESXSIM_PORT="+port, "ESXSIM_USER="+e.URL.User.Username(),
		"ESXSIM_PASSWORD="+pw, "ESXSIM_CAFILE="+ca, "PYTHONWARNINGS=ignore")
	cmd.Env = append(cmd.Env, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(5*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()

	checks, done := 0, false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ok "):
			checks++
			t.Run(strings.TrimPrefix(line, "ok "), func(t *testing.T) {})
		case strings.HasPrefix(line, "FAIL "):
			checks++
			name, why, _ := strings.Cut(strings.TrimPrefix(line, "FAIL "), " :: ")
			t.Run(name, func(t *testing.T) { t.Error(why) })
		case strings.HasPrefix(line, "ADVANCE "):
			n, err := strconv.Atoi(strings.TrimPrefix(line, "ADVANCE "))
			if err != nil || clock == nil {
				t.Fatalf("bad line %q", line)
			}
			clock.Advance(time.Duration(n) * time.Second)
			if _, err := io.WriteString(stdin, "ok\n"); err != nil {
				t.Fatal(err)
			}
		case line == "DONE":
			done = true
		default:
			t.Logf("pyvmomi: %s", line)
		}
	}
	stdin.Close()
	waitErr := cmd.Wait()
	if !done {
		t.Fatalf("the suite did not finish (%v); stderr:\n%s", waitErr, stderr.String())
	}
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Count(string(src), "\n@check("); checks != want {
		t.Fatalf("%d of the script's %d checks ran", checks, want)
	}
	if waitErr != nil && !t.Failed() {
		t.Fatalf("exit: %v; stderr:\n%s", waitErr, stderr.String())
	}
	if strings.Contains(stderr.String(), pw) {
		t.Error("the password on stderr")
	}
}
