package krbtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestStartKinitKeytab(t *testing.T) {
	start := time.Now()
	r := Start(t)
	r.AddPrincipal("alice", "alice-pw")
	r.AddPrincipal("host/esx.test", "")
	t.Logf("realm up with principals in %v", time.Since(start))

	cc := r.Kinit("alice", "alice-pw")
	if st, err := os.Stat(cc); err != nil || st.Size() == 0 {
		t.Fatalf("ccache %s not written: %v", cc, err)
	}
	kt := r.Keytab("host/esx.test", false)
	if st, err := os.Stat(kt); err != nil || st.Size() == 0 {
		t.Fatalf("keytab %s not written: %v", kt, err)
	}
	// A keytab exported with norandkey keeps the password valid.
	_ = r.Keytab("alice", true)
	_ = r.Kinit("alice", "alice-pw")

	// klist (if present) must show the TGT for the realm.
	if klist, err := lookBin("klist"); err == nil {
		cmd := exec.Command(klist, "-c", "FILE:"+cc)
		cmd.Env = r.Env()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("klist: %v: %s", err, out)
		}
		if !strings.Contains(string(out), "krbtgt/ESXI.TEST@ESXI.TEST") || !strings.Contains(string(out), "alice@ESXI.TEST") {
			t.Fatalf("unexpected klist output: %s", out)
		}
	}
	b, err := os.ReadFile(r.Krb5Conf())
	if err != nil || !strings.Contains(string(b), "127.0.0.1:") {
		t.Fatalf("krb5.conf without port: %v %s", err, b)
	}
}

func TestWrongPasswordFails(t *testing.T) {
	r := Start(t)
	r.AddPrincipal("bob", "right")
	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		r.t = ft
		r.Kinit("bob", "wrong")
	}()
	r.t = t
	if !ft.failed {
		t.Fatal("kinit with a wrong password did not fail")
	}
}

// fakeTB records Fatalf instead of stopping the test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	panic("fatal")
}
