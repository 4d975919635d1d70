package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/testsupport/krbtest"
)

// simulated is a running `simulate` command: the lines it printed.
type simulated struct {
	url, thumbprint string
	hosts, vms      []string
	// stop stops the command (as a signal would) and returns its exit code
	// and what it wrote on stderr.
	stop func() (int, string)
}

// startSimulateCmd starts `esxi-manage-users simulate args...` in the
// background and reads its lines up to the first "vm:" line (or, without
// wantVM, only up to the thumbprint line).
func startSimulateCmd(t *testing.T, wantVM bool, args ...string) simulated {
	t.Helper()
	return startSimulateUntil(t, func(s simulated) bool {
		if wantVM {
			return len(s.vms) > 0
		}
		return s.thumbprint != ""
	}, args...)
}

// startSimulateUntil starts `esxi-manage-users simulate args...` in the
// background and reads its lines until done says it has read enough.
func startSimulateUntil(t *testing.T, done func(simulated) bool, args ...string) simulated {
	t.Helper()
	return startSimulateEnv(t, nil, done, args...)
}

// startSimulateEnv is startSimulateUntil with the environment variables
// vars.
func startSimulateEnv(t *testing.T, vars map[string]string, done func(simulated) bool, args ...string) simulated {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- Run(ctx, append([]string{"simulate", "--listen", "127.0.0.1:0"}, args...), Env{Stdin: strings.NewReader(""), Stdout: pw, Stderr: &errb, Getenv: func(k string) string { return vars[k] }})
		pw.Close()
	}()
	var (
		once sync.Once
		code int
	)
	stop := func() (int, string) {
		once.Do(func() {
			cancel()
			go io.Copy(io.Discard, pr)
			code = <-exited
		})
		return code, errb.String()
	}
	t.Cleanup(func() { stop() })
	s := simulated{stop: stop}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for !done(s) {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("simulate ended: %s", errb.String())
			}
			switch {
			case s.url == "":
				s.url = line
			case strings.HasPrefix(line, "thumbprint: "):
				s.thumbprint = strings.TrimPrefix(line, "thumbprint: ")
			case strings.HasPrefix(line, "host: "):
				s.hosts = append(s.hosts, strings.TrimPrefix(line, "host: "))
			case strings.HasPrefix(line, "vm: "):
				s.vms = append(s.vms, strings.TrimPrefix(line, "vm: "))
			}
		case <-timeout:
			t.Fatalf("simulate did not print what was expected: %+v %s", s, errb.String())
		}
	}
	return s
}

// `simulate --vcenter --sspi-keytab` serves powered-on VMs with guest SSPI
// authentication, each printed as "vm: NAME", and `guest-auth --vm NAME`
// against it works as docs/simulator.md shows: the guest's SPN is host/<vm name>
// (guest-auth's default), its key in the keytab (--guest-keytab).
func TestSimulateVCenterServesGuestVM(t *testing.T) {
	r := krbtest.Start(t)
	r.AddPrincipal("alice", "alice-pw")
	r.AddPrincipal("host/127.0.0.1", "")
	// vcsim names the first standalone host's VM DC0_H0_VM0.
	const vm = "DC0_H0_VM0"
	r.AddPrincipal("host/"+vm, "")
	sim := startSimulateCmd(t, true, "--vcenter", "--hosts", "2",
		"--sspi-keytab", r.Keytab("host/127.0.0.1", false), "--guest-keytab", r.Keytab("host/"+vm, false))
	if len(sim.vms) == 0 || sim.vms[0] != vm {
		t.Fatalf("vm lines %v, want %s", sim.vms, vm)
	}
	u, err := url.Parse(sim.url)
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := u.User.Password()
	ccache := r.Kinit("alice", "alice-pw")

	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		switch k {
		case "KRB5_CONFIG":
			return r.Krb5Conf()
		case "KRB5CCNAME":
			return "FILE:" + ccache
		case "ESXI_PASSWORD":
			return pass
		}
		return ""
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Run(ctx, []string{"guest-auth", "--vm", vm, "--server", u.Host, "--username", u.User.Username(), "--thumbprint", sim.thumbprint}, env)
	if code != 0 {
		t.Fatalf("guest-auth exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"acquired a guest ticket for alice@" + r.Name + " in VM " + vm, "released the ticket"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String()+errb.String(), pass) {
		t.Error("the vCenter password is in the output")
	}

	// A VM whose principal is not in the guest keytab has no guest
	// authentication and is not listed.
	for _, name := range sim.vms[1:] {
		if name != vm {
			t.Errorf("unexpected vm line %q", name)
		}
	}
}

// --esxi-version selects the release; anything else is refused (exit 2).
func TestSimulateESXiVersionFlag(t *testing.T) {
	var errb bytes.Buffer
	code := Run(context.Background(), []string{"simulate", "--esxi-version", "6.7.0"}, Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &errb, Getenv: func(string) string { return "" }})
	if code != 2 || !strings.Contains(errb.String(), "8.0.3") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}
