package esxsim

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// python is Debian's python3, which has python3-pyvmomi.
const python = "/usr/bin/python3"

// requirePyVmomi skips when pyVmomi is not importable, unless CI is set:
// then the suite must run (tools/install-test-deps.sh installs it).
func requirePyVmomi(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import pyVmomi, pyVim.connect").CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("python3-pyvmomi not available (%v: %s); apt-get install python3-pyvmomi", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// TestPyVmomiConformance is the simulator's conformance suite: VMware's
// pyVmomi (Debian python3-pyvmomi 6.7.1), a client nobody here wrote,
// drives a fresh simulator through the behaviours the project relies on —
// login and its faults, user faults, PosixUserSearchResult, permissions,
// the password policy, protected users, supportedOption, privileges per
// call with a least-privilege custom role, and account lockout — and
// asserts ESXi's documented answers (testdata/pyvmomi_conformance.py cites
// them). Each check is a subtest.
func TestPyVmomiConformance(t *testing.T) {
	requirePyVmomi(t)
	clock := &fakeClock{now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	s := start(t, Options{Clock: clock.Now})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(s.URL.Host)
	pw, _ := s.URL.User.Password()

	cmd := exec.Command(python, "testdata/pyvmomi_conformance.py")
	cmd.Env = append(os.Environ(), "ESXSIM_HOST="+host, "ESXSIM_PORT="+port, "ESXSIM_PASSWORD="+pw, "ESXSIM_CAFILE="+ca,
		"PYTHONWARNINGS=ignore")
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
			if err != nil {
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
	err = cmd.Wait()
	if !done {
		t.Fatalf("the suite did not finish (%v); stderr:\n%s", err, stderr.String())
	}
	if checks < 10 {
		t.Fatalf("only %d checks ran", checks)
	}
	if err != nil && !t.Failed() {
		t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), pw) {
		t.Error("root's password on stderr")
	}
}
