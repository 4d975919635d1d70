package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"github.com/esxi-users/esxi-users/internal/testsupport/missing"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "esxi-manage-users-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "esxi-manage-users")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run executes the binary; it returns stdout, stderr and the exit code.
func run(t *testing.T, stdin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// simulate starts "esxi-manage-users simulate" and returns its URL and
// thumbprint lines; the process is stopped at the end of the test.
func simulate(t *testing.T, args ...string) (*url.URL, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"simulate", "--listen", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	read := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(60 * time.Second):
			t.Fatal("simulate printed nothing")
		}
		return ""
	}
	u, err := url.Parse(read())
	if err != nil || u.Scheme != "https" || u.User == nil || u.Path != "/sdk" {
		t.Fatalf("first line is not a GOVC_URL: %v %v", u, err)
	}
	tp, ok := strings.CutPrefix(read(), "thumbprint: ")
	if !ok || len(tp) != 59 {
		t.Fatalf("second line is not a thumbprint: %q", tp)
	}
	return u, tp
}

const seedFirst = "- {id: user1, operation: add, description: User One, password: 'S3cr3tP455!', role: Admin}\n"

// The simulator keeps its state across runs, and plan shows it.
func TestSimulateStateLastsAcrossRuns(t *testing.T) {
	u, tp := simulate(t)
	env := []string{"GOVC_URL=" + u.String(), "GOVC_THUMBPRINT=" + tp}
	if out, errb, code := run(t, seedFirst, env, "apply"); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errb)
	}
	out, errb, code := run(t, seedFirst, env, "plan", "--output", "json")
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errb)
	}
	var rep struct {
		Plan    bool
		Results []struct{ Outcome string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.Plan || rep.Results[0].Outcome != "updated" {
		t.Fatalf("plan after apply = %s (%v)", out, err)
	}
}

// --fail-write K from outside: the K-th write fails, exit 1.
func TestSimulateFailWrite(t *testing.T) {
	u, tp := simulate(t, "--fail-write", "2")
	env := []string{"GOVC_URL=" + u.String(), "GOVC_THUMBPRINT=" + tp}
	out, errb, code := run(t, seedFirst+"- {id: user2, operation: remove}\n", env, "apply")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errb)
	}
	for _, want := range []string{"1    user1                add       Admin     failed     grant role Admin: the host reported a system error: injected fault at write 2 (SystemError)", "2    user2                remove              not-run", "FAILED"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestExitCodesAndHelp(t *testing.T) {
	tests := []struct {
		args  []string
		stdin string
		code  int
		want  string
	}{
		{[]string{"help"}, "", 0, "Exit codes:"},
		{[]string{"apply", "--help"}, "", 0, "Exit codes:\n  0  every entry done"},
		{[]string{}, "", 2, "Usage:"},
		{[]string{"frobnicate"}, "", 2, `unknown command "frobnicate"`},
		{[]string{"apply", "--simulate", "--output", "yaml"}, seedFirst, 2, `--output "yaml"`},
		{[]string{"apply", "--simulate"}, "- {id: u1, operation: add, role: Admin}\n", 2, `entry 1 (id "u1", add): password is required for add`},
		{[]string{"apply"}, seedFirst, 2, "no host"},
		{[]string{"apply", "--server", "http://127.0.0.1:1", "--insecure"}, seedFirst, 2, "plain http:// is refused"},
		{[]string{"apply", "--server", "root:S3cr3tP455!@127.0.0.1:1"}, seedFirst, 2, "give the password in the environment variable ESXI_PASSWORD or with --password-file"},
		{[]string{"apply", "--simulate", "--file", "../../params/testdata/seed.yaml"}, "", 0, "ok: host"}, // the README's first command
		{[]string{"apply", "--simulate", "--file", "../../params/testdata/seed.json"}, "", 0, "ok: host"},
		{[]string{"check-password"}, "short\nS3cr3tP455!\n", 1, "too short\nOK\n"},
		{[]string{"check-password", "--policy", "min=bogus"}, "x\n", 2, "invalid policy"},
		{[]string{"check-password", "--user", "alice"}, "alice123!\nXk8#aliceTr2%v\n", 1, "based on personal login information\nOK\n"},
		{[]string{"check-password", "--jsonl"}, `{"user":"bob","password":"S3cr3tP455!"}` + "\n" + `{"password":"xQaT3#A","policy":"min=disabled,disabled,disabled,8,8"}` + "\n", 1,
			"{\"ok\":true,\"reason\":\"\"}\n{\"ok\":false,\"reason\":\"too short\"}\n"},
		{[]string{"check-password", "--simulate"}, "S3cr3tP455!\n", 0, "OK\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errb, code := run(t, tt.stdin, []string{"GOVC_URL=", "ESXI_PASSWORD="}, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, out, errb)
			}
			if !strings.Contains(out+errb, tt.want) {
				t.Errorf("output lacks %q:\n%s%s", tt.want, out, errb)
			}
		})
	}
}

// simulate --vcenter --hosts N: URL, thumbprint, then one host line each;
// apply --vihost works against it from outside.
func TestSimulateVCenter(t *testing.T) {
	cmd := exec.Command(binary, "simulate", "--listen", "127.0.0.1:0", "--vcenter", "--hosts", "3")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	var lines []string
	for len(lines) < 5 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 5 {
		t.Fatalf("lines = %q", lines)
	}
	u, err := url.Parse(lines[0])
	if err != nil || u.User == nil {
		t.Fatalf("line 1 = %q", lines[0])
	}
	tp, ok := strings.CutPrefix(lines[1], "thumbprint: ")
	if !ok {
		t.Fatalf("line 2 = %q", lines[1])
	}
	var hosts []string
	for _, l := range lines[2:] {
		h, ok := strings.CutPrefix(l, "host: ")
		if !ok {
			t.Fatalf("host line = %q", l)
		}
		hosts = append(hosts, h)
	}
	out, errb, code := run(t, seedFirst, []string{"GOVC_URL=" + u.String(), "GOVC_THUMBPRINT=" + tp}, "apply", "--vihost", hosts[2])
	if code != 0 || !strings.Contains(out, "ok: host "+hosts[2]) {
		t.Fatalf("exit %d\n%s%s", code, out, errb)
	}
}

// simulate --vcenter stops within its next host when SIGTERM arrives while
// it builds the inventory: it exits 1, says so, and serves nothing — no URL
// line (before: it built all 2,500 hosts, printed them and exited 0,
// 25 s after the signal). The signal is sent on an event, the line saying
// the build started; the evidence is that the build did not finish, not a
// clock. --hosts above 2,500 is refused at once (before: 100,000,000 hosts
// took 15 GB).
func TestSimulateVCenterStopsOnSignalWhileBuilding(t *testing.T) {
	cmd := exec.Command(binary, "simulate", "--listen", "127.0.0.1:0", "--vcenter", "--hosts", "2500")
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var errLines []string
	for sc.Scan() {
		errLines = append(errLines, sc.Text())
		if strings.Contains(sc.Text(), "building a vCenter with 2500 hosts") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		errLines = append(errLines, sc.Text())
	}
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	stderrText := strings.Join(errLines, "\n")
	if code != 1 || !strings.Contains(stderrText, "stopped by a signal while building the vCenter's 2500 hosts: nothing was served") {
		t.Errorf("exit %d (%v), stderr:\n%s", code, err, stderrText)
	}
	if out.Len() != 0 {
		t.Errorf("it served after the signal:\n%.300s", out.String())
	}

	for _, n := range []string{"2501", "100000000"} {
		stdout, errb, code := run(t, "", nil, "simulate", "--listen", "127.0.0.1:0", "--vcenter", "--hosts", n)
		if code != 2 || !strings.Contains(errb, "--hosts "+n+": a vCenter manages at most 2500 hosts") || stdout != "" {
			t.Errorf("--hosts %s: exit %d\n%s%s", n, code, stdout, errb)
		}
	}
}

// The README's set-up is exactly two commands, and the first, copied as
// written, runs the toolchain that ships (go.mod's toolchain line) also on
// a machine whose `go env GOTOOLCHAIN` is local (before: it ran that
// machine's own Go, 1.26.8 here, whose standard library the README says is
// vulnerable). The command's variable assignments are applied to `go env
// GOVERSION`, which reports the Go that `go run` uses.
func TestREADMESetUp(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Set-up: two commands\n")
	if !ok {
		t.Fatal("no set-up section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var cmds []string
	for _, block := range strings.Split(section, "```sh\n")[1:] {
		cmd, _, _ := strings.Cut(block, "```")
		cmds = append(cmds, strings.TrimSpace(cmd))
	}
	if len(cmds) != 2 || cmds[1] != "make test" {
		t.Fatalf("set-up commands %q, want two: the main job and make test", cmds)
	}
	fields := strings.Fields(cmds[0])
	var assign []string
	for len(fields) > 0 && strings.Contains(fields[0], "=") {
		assign, fields = append(assign, fields[0]), fields[1:]
	}
	if want := "go run ./cmds/esxi-manage-users apply --simulate --file params/testdata/seed.yaml"; strings.Join(fields, " ") != want {
		t.Errorf("first command runs %q, want %q", strings.Join(fields, " "), want)
	}
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var toolchain string
	for _, line := range strings.Split(string(mod), "\n") {
		if v, ok := strings.CutPrefix(line, "toolchain "); ok {
			toolchain = strings.TrimSpace(v)
		}
	}
	if toolchain == "" {
		t.Fatal("go.mod has no toolchain line")
	}
	// The machine's go, as a newcomer's shell finds it: not the toolchain
	// `go test` put first in PATH.
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if filepath.Clean(dir) != filepath.Join(strings.TrimSpace(string(goroot)), "bin") {
			path = append(path, dir)
		}
	}
	env := []string{"PATH=" + strings.Join(path, string(os.PathListSeparator))}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "GOTOOLCHAIN=") && !strings.HasPrefix(kv, "GOROOT=") {
			env = append(env, kv)
		}
	}
	goCmd := ""
	for _, dir := range path {
		if p := filepath.Join(dir, "go"); fileExecutable(p) {
			goCmd = p
			break
		}
	}
	if goCmd == "" {
		missing.Tool(t, "no go command on PATH besides the test's toolchain")
	}
	cmd := exec.Command(goCmd, "env", "GOVERSION")
	cmd.Dir = "../.."
	cmd.Env = append(append(env, "GOTOOLCHAIN=local"), assign...) // the machine's setting, then the command's
	out, err := cmd.CombinedOutput()
	if got := strings.TrimSpace(string(out)); err != nil || got != toolchain {
		t.Errorf("with GOTOOLCHAIN=local, the first command runs %s (%v), want %s", got, err, toolchain)
	}
}

// fileExecutable reports whether path is an executable file.
func fileExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
