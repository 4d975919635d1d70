package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
	"github.com/esxi-users/esxi-users/internal/sim/simguest"
	"github.com/esxi-users/esxi-users/internal/sim/simsspi"
	"github.com/esxi-users/esxi-users/internal/testsupport/krbtest"
	"github.com/esxi-users/esxi-users/internal/testsupport/simtest"
)

// recordingAcceptor remembers every token it saw or produced, so the tests
// can check that none of them reaches the CLI's output.
type recordingAcceptor struct {
	*krbaccept.Acceptor
	mu     sync.Mutex
	tokens [][]byte
}

func (r *recordingAcceptor) Accept(conv string, tok []byte) ([]byte, string, bool, error) {
	ch, p, done, err := r.Acceptor.Accept(conv, tok)
	r.mu.Lock()
	r.tokens = append(r.tokens, append([]byte(nil), tok...))
	if len(ch) > 0 {
		r.tokens = append(r.tokens, append([]byte(nil), ch...))
	}
	r.mu.Unlock()
	return ch, p, done, err
}

type guestSim struct {
	realm      *krbtest.Realm
	srv        *simguest.Server
	url        string // host:port
	thumbprint string
	user, pass string
	vm, vmOff  string // VM names: powered on (own SPN), powered off
	ccache     string
	aliceKT    string
	rec        *recordingAcceptor
	c          *vim25.Client
}

func startGuestSim(t *testing.T) *guestSim {
	t.Helper()
	r := krbtest.Start(t)
	r.AddPrincipal("alice", "alice-pw")
	model := simulator.VPX()
	g := &guestSim{realm: r}
	s := simtest.Serve(t, model, func(m *simulator.Registry) {
		var names []string
		for _, e := range m.All("VirtualMachine") {
			names = append(names, e.(*simulator.VirtualMachine).Name)
		}
		sort.Strings(names)
		g.vm, g.vmOff = names[0], names[1]
		g.install(t, m)
	})
	g.url = s.URL.Host
	g.thumbprint = s.CertificateInfo().ThumbprintSHA1
	g.user = s.URL.User.Username()
	g.pass, _ = s.URL.User.Password()
	g.ccache = r.Kinit("alice", "alice-pw")
	g.aliceKT = r.Keytab("alice", true)

	// Power the second VM off, with a client of our own.
	ctx := context.Background()
	g.c = simtest.Login(t, s)
	ref := model.Map().FindByName(g.vmOff, allVMs(model)).Reference()
	task, err := object.NewVirtualMachine(g.c, ref).PowerOff(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// install puts the guests' and the host's SSPI acceptors into m.
func (g *guestSim) install(t *testing.T, m *simulator.Registry) {
	r := g.realm

	// The guests' acceptors run SPNEGO's mechListMIC exchange (mic), so a
	// login shows three tokens to the secrecy check.
	newAcc := func(spn string, mic bool) *krbaccept.Acceptor {
		r.AddPrincipal(spn, "")
		acc, err := krbaccept.New(krbaccept.Options{KeytabPath: r.Keytab(spn, false), SPN: spn, Realm: r.Name, MechListMIC: mic})
		if err != nil {
			t.Fatal(err)
		}
		return acc
	}
	g.rec = &recordingAcceptor{Acceptor: newAcc("host/"+g.vm, true)}
	other := newAcc("host/default-guest.test", true)
	g.srv = simguest.Install(m, other, simguest.Options{
		Acceptors: map[string]simguest.Acceptor{g.vm: g.rec},
		Processes: func(vm types.ManagedObjectReference, owner string) []types.GuestProcessInfo {
			var ps []types.GuestProcessInfo
			ps = append(ps, types.GuestProcessInfo{Name: "System", Pid: 4, Owner: "NT AUTHORITY\\SYSTEM", CmdLine: "System", StartTime: time.Unix(0, 0)})
			for i := 0; i < 12; i++ {
				ps = append(ps, types.GuestProcessInfo{Name: "svchost.exe", Pid: int64(1000 + i), Owner: owner, CmdLine: "svchost.exe -k netsvcs", StartTime: time.Unix(0, 0)})
			}
			return ps
		},
	})
	simsspi.Install(m, newAcc("host/127.0.0.1", false), simsspi.Options{})
}

func allVMs(model *simulator.Model) []types.ManagedObjectReference {
	var refs []types.ManagedObjectReference
	for _, e := range model.Map().All("VirtualMachine") {
		refs = append(refs, e.Reference())
	}
	return refs
}

// run runs the CLI in process with KRB5_CONFIG, KRB5CCNAME and
// ESXI_PASSWORD in its environment.
func (g *guestSim) run(t *testing.T, withPassword bool, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		switch k {
		case "KRB5_CONFIG":
			return g.realm.Krb5Conf()
		case "KRB5CCNAME":
			return "FILE:" + g.ccache
		case "ESXI_PASSWORD":
			if withPassword {
				return g.pass
			}
		}
		return ""
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Run(ctx, append([]string{"guest-auth"}, args...), env)
	g.noSecrets(t, out.String()+errb.String())
	return code, out.String(), errb.String()
}

var ticketLike = regexp.MustCompile(`[0-9a-fA-F]{32,}|[A-Za-z0-9+]{40,}`)

// noSecrets fails if any token the guest acceptor saw or sent, or anything
// shaped like a ticket or a base64 token, is in s.
func (g *guestSim) noSecrets(t *testing.T, s string) {
	t.Helper()
	g.rec.mu.Lock()
	defer g.rec.mu.Unlock()
	for _, tok := range g.rec.tokens {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(tok), hex.EncodeToString(tok)} {
			if len(enc) > 16 && strings.Contains(s, enc[:16]) {
				t.Fatalf("output shows a token:\n%s", s)
			}
		}
	}
	if m := ticketLike.FindString(s); m != "" {
		t.Fatalf("output shows something ticket-like (%q):\n%s", m, s)
	}
}

func (g *guestSim) conn(extra ...string) []string {
	return append([]string{"--server", g.url, "--username", g.user, "--thumbprint", g.thumbprint}, extra...)
}

func TestGuestAuthCommand(t *testing.T) {
	g := startGuestSim(t)

	t.Run("password-login/list-processes", func(t *testing.T) {
		before := g.srv.Stats()
		code, out, errs := g.run(t, true, g.conn("--vm", g.vm)...)
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errs)
		}
		for _, want := range []string{
			"connected to " + g.url + " as " + g.user + "\n",
			"acquired a guest ticket for alice@ESXI.TEST in VM " + g.vm + " (SPN host/" + g.vm + ", 2 calls)\n",
			"13 processes in the guest\n",
			"alice@ESXI.TEST",
			"… 3 more\n",
			"released the ticket\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if errs != "" {
			t.Errorf("stderr: %s", errs)
		}
		g.rec.mu.Lock()
		seen := len(g.rec.tokens)
		g.rec.mu.Unlock()
		if seen < 3 { // the secrecy check above is not vacuous
			t.Fatalf("the guest acceptor saw %d tokens", seen)
		}
		after := g.srv.Stats()
		if after.Acquired != before.Acquired+1 || after.Released != before.Released+1 || after.Challenges != before.Challenges+1 {
			t.Fatalf("server stats %+v → %+v", before, after)
		}
	})

	t.Run("keytab/validate/kerberos-package", func(t *testing.T) {
		code, out, errs := g.run(t, true, g.conn("--vm", g.vm, "--operation", "validate", "--keytab", g.aliceKT, "--principal", "alice@ESXI.TEST", "--passthroughauthpackage", "Kerberos")...)
		if code != 0 || !strings.Contains(out, "the guest accepted the ticket") || !strings.Contains(out, "released the ticket") {
			t.Fatalf("exit %d\n%s\n%s", code, out, errs)
		}
	})

	t.Run("passthrough-login", func(t *testing.T) {
		code, out, errs := g.run(t, false, "--server", g.url, "--thumbprint", g.thumbprint, "--passthroughauth", "--vm", g.vm)
		if code != 0 || !strings.Contains(out, `as ESXI.TEST\alice`) || !strings.Contains(out, "released the ticket") {
			t.Fatalf("exit %d\n%s\n%s", code, out, errs)
		}
	})

	if tk, p := g.srv.Sessions(g.vmRef(t, g.vm)); tk != 0 || p != 0 {
		t.Fatalf("left in the guest: %d tickets, %d pending", tk, p)
	}

	failures := []struct {
		name string
		pw   bool
		args []string
		want string
		code int
	}{
		{"powered-off", true, g.conn("--vm", g.vmOff, "--guest-spn", "host/"+g.vm), "not powered on (InvalidPowerState)", 3},
		{"wrong-guest-spn", true, g.conn("--vm", g.vm, "--guest-spn", "host/default-guest.test"), "did not accept the credentials (InvalidGuestLogin)", 3},
		{"unknown-guest-spn", true, g.conn("--vm", g.vm, "--guest-spn", "host/nowhere.test"), "host/nowhere.test", 3},
		{"no-such-vm", true, g.conn("--vm", "no-such-vm"), `VM "no-such-vm" not found`, 3},
		{"wrong-thumbprint", true, []string{"--server", g.url, "--thumbprint", strings.Repeat("AB:", 19) + "AB", "--vm", g.vm}, "connect to", 3},
		{"unreadable-password-file", false, append(g.conn("--vm", g.vm), "--password-file", t.TempDir()+"/missing"), "read --password-file", 2},
		{"no-password", false, g.conn("--vm", g.vm), "no password: give it in the environment variable ESXI_PASSWORD", 2},
		{"missing-vm", true, g.conn(), "--vm is required", 2},
		{"bad-operation", true, g.conn("--vm", g.vm, "--operation", "reboot"), "--operation must be", 2},
		{"bad-package", true, g.conn("--vm", g.vm, "--passthroughauthpackage", "NTLM"), "Negotiate or Kerberos", 2},
		{"simulate", true, []string{"--simulate", "--vm", g.vm}, "--simulate has no VMs", 2},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			before := g.srv.Stats()
			code, out, errs := g.run(t, tc.pw, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d (want %d), stderr lacks %q\nstdout:\n%s\nstderr:\n%s", code, tc.code, tc.want, out, errs)
			}
			if strings.Contains(out, "acquired a guest ticket") {
				t.Fatalf("claims a ticket:\n%s", out)
			}
			if after := g.srv.Stats(); after.Acquired != before.Acquired {
				t.Fatalf("a ticket was issued: %+v", after)
			}
		})
	}

	t.Run("tools-stopped", func(t *testing.T) {
		ref := g.vmRef(t, g.vm)
		g.srv.SetToolsRunning(ref, false)
		defer g.srv.SetToolsRunning(ref, true)
		code, _, errs := g.run(t, true, g.conn("--vm", g.vm)...)
		if code != 3 || !strings.Contains(errs, "GuestOperationsUnavailable") {
			t.Fatalf("exit %d: %s", code, errs)
		}
	})

	t.Run("help", func(t *testing.T) {
		code, _, errs := g.run(t, true, "--help")
		if code != 0 || !strings.Contains(errs, "guest-auth --vm NAME") {
			t.Fatalf("exit %d: %s", code, errs)
		}
	})

	// Every ticket the CLI acquired was released.
	st := g.srv.Stats()
	if st.Acquired != st.Released {
		t.Fatalf("acquired %d, released %d", st.Acquired, st.Released)
	}
}

func (g *guestSim) vmRef(t *testing.T, name string) types.ManagedObjectReference {
	t.Helper()
	vm, err := findVM(context.Background(), g.c, name)
	if err != nil {
		t.Fatal(err)
	}
	return vm.Reference()
}
