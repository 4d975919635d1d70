package simguest_test

// These tests speak the wire protocol directly (methods.*), to state what
// the simulated GuestAuthManager does. Citations:
//   - [SSPI] vim.vm.guest.SSPIAuthentication (vSphere API 5.0 reference,
//     seed 002): first call with no sessionID → GuestAuthenticationChallenge
//     "will be thrown"; answer with the serverChallenge token and the
//     challenge's sessionID → TicketedSessionAuthentication; release it with
//     ReleaseCredentialsInGuest; the session "stores state inside of the guest".
//   - [ACQ] GuestAuthManager.AcquireCredentialsInGuest reference (seed 003):
//     the fault list (InvalidGuestLogin, InvalidPowerState,
//     GuestOperationsUnavailable, TooManyGuestLogons, …) and "sessionID
//     should be provided only when responding to a server challenge".

import (
	"context"
	"encoding/base64"
	"net/url"
	"testing"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/guest"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
	"github.com/esxi-users/esxi-users/internal/sim/simguest"
	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/internal/testsupport/krbtest"
	"github.com/esxi-users/esxi-users/internal/testsupport/simtest"
)

// guestSPN is the guest's service principal. The tests' realm is
// krbtest.NewFixture(t, guestSPN, "host/other.test"); the guest's acceptor
// is Fixture.Acceptor, whose MechListMIC selects SPNEGO's mechListMIC
// exchange, a proof only the holder of the session key can make.
const guestSPN = "host/guest.test"

type env struct {
	model *simulator.Model
	srv   *simguest.Server
	c     *vim25.Client
	u     *url.URL
	vms   []types.ManagedObjectReference
	mgr   types.ManagedObjectReference
	pm    types.ManagedObjectReference
}

// newEnv starts model over HTTPS with simguest installed and returns a
// logged-in client and the model's VMs (powered on).
func newEnv(t *testing.T, model *simulator.Model, acc simguest.Acceptor, opts simguest.Options) *env {
	t.Helper()
	var srv *simguest.Server
	s := simtest.Serve(t, model, func(m *simulator.Registry) { srv = simguest.Install(m, acc, opts) })
	c := simtest.Login(t, s)
	return &env{model: model, srv: srv, c: c, u: s.URL, vms: simtest.VMs(t, c), mgr: simguest.AuthManagerRef, pm: *c.ServiceContent.GuestOperationsManager}
}

func (e *env) acquire(t *testing.T, vm types.ManagedObjectReference, tok []byte, sessionID int64) (types.BaseGuestAuthentication, error) {
	t.Helper()
	res, err := methods.AcquireCredentialsInGuest(context.Background(), e.c, &types.AcquireCredentialsInGuest{
		This: e.mgr, Vm: vm, SessionID: sessionID,
		RequestedAuth: &types.SSPIAuthentication{SspiToken: base64.StdEncoding.EncodeToString(tok)},
	})
	if err != nil {
		return nil, err
	}
	return res.Returnval, nil
}

func challengeOf(t *testing.T, err error) ([]byte, int64) {
	t.Helper()
	var ch *types.GuestAuthenticationChallenge
	if _, ok := fault.As(err, &ch); !ok || ch == nil {
		t.Fatalf("want GuestAuthenticationChallenge, got %v", err)
	}
	sa, ok := ch.ServerChallenge.(*types.SSPIAuthentication)
	if !ok {
		t.Fatalf("serverChallenge is %T", ch.ServerChallenge)
	}
	b, derr := base64.StdEncoding.DecodeString(sa.SspiToken)
	if derr != nil || len(b) == 0 || ch.SessionID == 0 {
		t.Fatalf("challenge token %d bytes (%v), sessionID %d", len(b), derr, ch.SessionID)
	}
	return b, ch.SessionID
}

// login runs the two calls [SSPI] describes and returns the ticket. The
// answer is the initiator's output for the challenge: empty when the
// challenge was the acceptor's final token, a mechListMIC in SPNEGO's
// mechListMIC exchange.
func (e *env) login(t *testing.T, vm types.ManagedObjectReference, in sspi.Initiator) *types.TicketedSessionAuthentication {
	t.Helper()
	tok, _, err := in.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.acquire(t, vm, tok, 0)
	ch, id := challengeOf(t, err)
	ans, _, err := in.Step(ch)
	if err != nil {
		t.Fatalf("initiator rejects the server's challenge: %v", err)
	}
	auth, err := e.acquire(t, vm, ans, id)
	if err != nil {
		t.Fatalf("second leg: %v", err)
	}
	tk, ok := auth.(*types.TicketedSessionAuthentication)
	if !ok || tk.Ticket == "" {
		t.Fatalf("result %T", auth)
	}
	return tk
}

func (e *env) list(vm types.ManagedObjectReference, auth types.BaseGuestAuthentication) ([]types.GuestProcessInfo, error) {
	res, err := methods.ListProcessesInGuest(context.Background(), e.c, &types.ListProcessesInGuest{This: e.processManager(), Vm: vm, Auth: auth})
	if err != nil {
		return nil, err
	}
	return res.Returnval, nil
}

func (e *env) processManager() types.ManagedObjectReference {
	pm, err := guest.NewOperationsManager(e.c, e.vms[0]).ProcessManager(context.Background())
	if err != nil {
		panic(err)
	}
	return pm.Reference()
}

func (e *env) validate(vm types.ManagedObjectReference, auth types.BaseGuestAuthentication) error {
	_, err := methods.ValidateCredentialsInGuest(context.Background(), e.c, &types.ValidateCredentialsInGuest{This: e.mgr, Vm: vm, Auth: auth})
	return err
}

func (e *env) release(vm types.ManagedObjectReference, auth types.BaseGuestAuthentication) error {
	_, err := methods.ReleaseCredentialsInGuest(context.Background(), e.c, &types.ReleaseCredentialsInGuest{This: e.mgr, Vm: vm, Auth: auth})
	return err
}

func procs(vm types.ManagedObjectReference, owner string) []types.GuestProcessInfo {
	return []types.GuestProcessInfo{
		{Name: "init", Pid: 1, Owner: "root", CmdLine: "/sbin/init", StartTime: time.Unix(0, 0)},
		{Name: "sshd", Pid: 42, Owner: owner, CmdLine: "sshd: " + owner + " [" + vm.Value + "]", StartTime: time.Unix(0, 0)},
	}
}

func models() map[string]func() *simulator.Model {
	return map[string]func() *simulator.Model{"ESX": simulator.ESX, "VPX": simulator.VPX}
}

func TestChallengeThenTicket(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	cases := []struct {
		name     string
		pkg      sspi.Package
		keytab   bool
		noMutual bool
		mic      bool
	}{
		{"negotiate/ccache/mutual", sspi.Negotiate, false, false, false},
		{"negotiate/keytab/no-mutual", sspi.Negotiate, true, true, false},
		{"negotiate/ccache/mutual/mechlistmic", sspi.Negotiate, false, false, true},
		{"kerberos/ccache/mutual", sspi.Kerberos, false, false, false},
		{"kerberos/keytab/mutual", sspi.Kerberos, true, false, false},
	}
	for mname, newModel := range models() {
		t.Run(mname, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					e := newEnv(t, newModel(), k.Acceptor(t, krbaccept.Options{Realm: k.Name, MechListMIC: tc.mic}), simguest.Options{Processes: procs})
					vm := e.vms[0]
					// The simulator's GuestOperationsManager now has an authManager.
					am, err := guestOpsAuthManager(e.c)
					if err != nil || am != simguest.AuthManagerRef {
						t.Fatalf("authManager = %v, %v", am, err)
					}
					// Before authenticating, ListProcessesInGuest needs credentials
					// (vcsim's own ignores them).
					if _, err := e.list(vm, &types.SSPIAuthentication{SspiToken: "AAAA"}); !fault.Is(err, &types.InvalidGuestLogin{}) {
						t.Fatalf("list with SSPIAuthentication: %v", err)
					}
					tk := e.login(t, vm, k.Initiator(t, tc.pkg, guestSPN, tc.keytab, tc.noMutual))
					st := e.srv.Stats()
					if st.Challenges != 1 || st.Acquired != 1 {
						t.Fatalf("stats %+v", st)
					}
					if p, ok := e.srv.TicketPrincipal(tk.Ticket); !ok || p != "alice@ESXI.TEST" {
						t.Fatalf("ticket principal %q %v", p, ok)
					}
					// The ticket works in guest operations on its VM.
					if err := e.validate(vm, tk); err != nil {
						t.Fatalf("validate: %v", err)
					}
					ps, err := e.list(vm, tk)
					if err != nil || len(ps) != 2 || ps[1].Owner != "alice@ESXI.TEST" {
						t.Fatalf("list: %+v %v", ps, err)
					}
					// Not on another VM.
					other := e.vms[1]
					if err := e.validate(other, tk); !fault.Is(err, &types.InvalidGuestLogin{}) {
						t.Fatalf("validate on another VM: %v", err)
					}
					if _, err := e.list(other, tk); !fault.Is(err, &types.InvalidGuestLogin{}) {
						t.Fatalf("list on another VM: %v", err)
					}
					if err := e.release(other, tk); !fault.Is(err, &types.InvalidGuestLogin{}) {
						t.Fatalf("release on another VM: %v", err)
					}
					// Released: no longer valid anywhere.
					if err := e.release(vm, tk); err != nil {
						t.Fatalf("release: %v", err)
					}
					if err := e.validate(vm, tk); !fault.Is(err, &types.InvalidGuestLogin{}) {
						t.Fatalf("validate after release: %v", err)
					}
					if _, err := e.list(vm, tk); !fault.Is(err, &types.InvalidGuestLogin{}) {
						t.Fatalf("list after release: %v", err)
					}
					if err := e.release(vm, tk); !fault.Is(err, &types.InvalidGuestLogin{}) {
						t.Fatalf("second release: %v", err)
					}
					if st := e.srv.Stats(); st.Released != 1 {
						t.Fatalf("stats %+v", st)
					}
					if n, p := e.srv.Sessions(vm); n != 0 || p != 0 {
						t.Fatalf("sessions %d/%d", n, p)
					}
				})
			}
		})
	}
}

func guestOpsAuthManager(c *vim25.Client) (types.ManagedObjectReference, error) {
	ref := *c.ServiceContent.GuestOperationsManager
	var props []types.ObjectContent
	req := types.RetrieveProperties{This: c.ServiceContent.PropertyCollector.Reference(), SpecSet: []types.PropertyFilterSpec{{
		ObjectSet: []types.ObjectSpec{{Obj: ref}},
		PropSet:   []types.PropertySpec{{Type: ref.Type, PathSet: []string{"authManager"}}},
	}}}
	res, err := methods.RetrieveProperties(context.Background(), c, &req)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	props = res.Returnval
	for _, oc := range props {
		for _, p := range oc.PropSet {
			if r, ok := p.Val.(types.ManagedObjectReference); ok {
				return r, nil
			}
		}
	}
	return types.ManagedObjectReference{}, nil
}

func TestInvalidTokens(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	e := newEnv(t, simulator.VPX(), k.Acceptor(t, krbaccept.Options{Realm: k.Name, MechListMIC: true}), simguest.Options{})
	vm, other := e.vms[0], e.vms[1]
	isInvalid := func(t *testing.T, err error) {
		t.Helper()
		if !fault.Is(err, &types.InvalidGuestLogin{}) {
			t.Fatalf("want InvalidGuestLogin, got %v", err)
		}
	}
	t.Run("garbage", func(t *testing.T) {
		_, err := e.acquire(t, vm, []byte("not a token"), 0)
		isInvalid(t, err)
	})
	t.Run("wrong-spn", func(t *testing.T) {
		tok, _, err := k.Initiator(t, sspi.Negotiate, "host/other.test", false, false).Step(nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.acquire(t, vm, tok, 0)
		isInvalid(t, err)
	})
	t.Run("replayed-first-token", func(t *testing.T) {
		tok, _, _ := k.Initiator(t, sspi.Negotiate, guestSPN, false, false).Step(nil)
		_, err := e.acquire(t, vm, tok, 0)
		challengeOf(t, err)
		_, err = e.acquire(t, vm, tok, 0)
		isInvalid(t, err)
	})
	t.Run("tampered-second-leg", func(t *testing.T) {
		in := k.Initiator(t, sspi.Negotiate, guestSPN, false, false)
		tok, _, _ := in.Step(nil)
		_, err := e.acquire(t, vm, tok, 0)
		ch, id := challengeOf(t, err)
		ans, _, err := in.Step(ch)
		if err != nil {
			t.Fatal(err)
		}
		ans[len(ans)-1] ^= 1
		_, err = e.acquire(t, vm, ans, id)
		isInvalid(t, err)
	})
	t.Run("answer-without-key", func(t *testing.T) {
		// Answering the challenge with a MIC made by another conversation's
		// initiator (which does not hold this one's session key).
		in1 := k.Initiator(t, sspi.Negotiate, guestSPN, false, false)
		in2 := k.Initiator(t, sspi.Negotiate, guestSPN, true, false)
		tok1, _, _ := in1.Step(nil)
		_, err := e.acquire(t, vm, tok1, 0)
		_, id1 := challengeOf(t, err)
		tok2, _, _ := in2.Step(nil)
		_, err = e.acquire(t, vm, tok2, 0)
		ch2, _ := challengeOf(t, err)
		ans2, _, err := in2.Step(ch2)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.acquire(t, vm, ans2, id1)
		isInvalid(t, err)
	})
	t.Run("unknown-session-id", func(t *testing.T) {
		in := k.Initiator(t, sspi.Negotiate, guestSPN, false, false)
		tok, _, _ := in.Step(nil)
		_, err := e.acquire(t, vm, tok, 0)
		ch, id := challengeOf(t, err)
		ans, _, _ := in.Step(ch)
		_, err = e.acquire(t, vm, ans, id+1)
		isInvalid(t, err)
	})
	t.Run("session-id-of-another-vm", func(t *testing.T) {
		in := k.Initiator(t, sspi.Negotiate, guestSPN, false, false)
		tok, _, _ := in.Step(nil)
		_, err := e.acquire(t, vm, tok, 0)
		ch, id := challengeOf(t, err)
		ans, _, _ := in.Step(ch)
		_, err = e.acquire(t, other, ans, id)
		isInvalid(t, err)
		// The conversation is gone: the right VM refuses it now too.
		_, err = e.acquire(t, vm, ans, id)
		isInvalid(t, err)
	})
	t.Run("fresh-token-instead-of-answer", func(t *testing.T) {
		// A new initial token as a follow-up restarts the exchange: it is
		// challenged again (same sessionID), and the answer to the first
		// challenge no longer fits.
		in := k.Initiator(t, sspi.Negotiate, guestSPN, false, false)
		tok, _, _ := in.Step(nil)
		_, err := e.acquire(t, vm, tok, 0)
		ch, id := challengeOf(t, err)
		ans, _, _ := in.Step(ch)
		tok2, _, _ := k.Initiator(t, sspi.Negotiate, guestSPN, true, false).Step(nil)
		_, err = e.acquire(t, vm, tok2, id)
		if _, id2 := challengeOf(t, err); id2 != id {
			t.Fatalf("sessionID changed: %d → %d", id, id2)
		}
		_, err = e.acquire(t, vm, ans, id)
		isInvalid(t, err)
	})
	t.Run("not-sspi", func(t *testing.T) {
		_, err := methods.AcquireCredentialsInGuest(context.Background(), e.c, &types.AcquireCredentialsInGuest{
			This: e.mgr, Vm: vm, RequestedAuth: &types.NamePasswordAuthentication{Username: "u", Password: "p"},
		})
		if !fault.Is(err, &types.InvalidArgument{}) {
			t.Fatalf("NamePassword acquire: %v", err)
		}
	})
	if st := e.srv.Stats(); st.Acquired != 0 || st.Rejected < 8 {
		t.Fatalf("stats %+v", st)
	}
	if n, _ := e.srv.Sessions(vm); n != 0 {
		t.Fatalf("%d tickets", n)
	}
}

// TestOneLegRefused: raw Kerberos without mutual authentication completes
// on the first token with no output: the guest has nothing to challenge
// with, and [SSPI] says it throws a challenge, which a complete client
// context could not answer; simguest issues no ticket.
func TestOneLegRefused(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	e := newEnv(t, simulator.ESX(), k.Acceptor(t, krbaccept.Options{Realm: k.Name}), simguest.Options{})
	tok, _, err := k.Initiator(t, sspi.Kerberos, guestSPN, false, true).Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.acquire(t, e.vms[0], tok, 0); !fault.Is(err, &types.InvalidGuestLogin{}) {
		t.Fatalf("one-leg: %v", err)
	}
	// With mutual authentication the AP-REP is the challenge: fine.
	e.login(t, e.vms[0], k.Initiator(t, sspi.Kerberos, guestSPN, false, false))
	if st := e.srv.Stats(); st.Rejected != 1 || st.Acquired != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestFinalTokenAnswer: when the challenge is the acceptor's final token,
// the only answer is the initiator's empty output; an empty token never
// starts an exchange.
func TestFinalTokenAnswer(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	e := newEnv(t, simulator.VPX(), k.Acceptor(t, krbaccept.Options{Realm: k.Name}), simguest.Options{})
	vm := e.vms[0]
	for _, pkg := range []sspi.Package{sspi.Kerberos, sspi.Negotiate} {
		in := k.Initiator(t, pkg, guestSPN, false, false)
		tok, _, _ := in.Step(nil)
		_, err := e.acquire(t, vm, tok, 0)
		ch, id := challengeOf(t, err)
		if ans, done, err := in.Step(ch); err != nil || !done || len(ans) != 0 {
			t.Fatalf("%s: the client's answer to the final token: done=%v %d bytes %v", pkg, done, len(ans), err)
		}
		if _, err := e.acquire(t, vm, []byte{0xa1, 0x00}, id); !fault.Is(err, &types.InvalidGuestLogin{}) {
			t.Fatalf("%s: non-empty answer: %v", pkg, err)
		}
	}
	if _, err := e.acquire(t, vm, nil, 0); !fault.Is(err, &types.InvalidGuestLogin{}) {
		t.Fatalf("empty first token: %v", err)
	}
	if st := e.srv.Stats(); st.Acquired != 0 || st.Rejected != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func powerOff(t *testing.T, c *vim25.Client, vm types.ManagedObjectReference) {
	t.Helper()
	task, err := object.NewVirtualMachine(c, vm).PowerOff(context.Background())
	if err == nil {
		err = task.Wait(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
}

func powerOn(t *testing.T, c *vim25.Client, vm types.ManagedObjectReference) {
	t.Helper()
	task, err := object.NewVirtualMachine(c, vm).PowerOn(context.Background())
	if err == nil {
		err = task.Wait(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestGuestState(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	for mname, newModel := range models() {
		t.Run(mname, func(t *testing.T) {
			e := newEnv(t, newModel(), k.Acceptor(t, krbaccept.Options{Realm: k.Name, MechListMIC: true}), simguest.Options{})
			vm := e.vms[0]
			tk := e.login(t, vm, k.Initiator(t, sspi.Negotiate, guestSPN, false, false))

			// [ACQ] InvalidPowerState "if the VM is not powered on".
			powerOff(t, e.c, vm)
			tok, _, _ := k.Initiator(t, sspi.Negotiate, guestSPN, false, false).Step(nil)
			_, err := e.acquire(t, vm, tok, 0)
			var ips *types.InvalidPowerState
			if _, ok := fault.As(err, &ips); !ok || ips.ExistingState != types.VirtualMachinePowerStatePoweredOff {
				t.Fatalf("acquire on powered-off VM: %v", err)
			}
			if err := e.validate(vm, tk); !fault.Is(err, &types.InvalidPowerState{}) {
				t.Fatalf("validate on powered-off VM: %v", err)
			}
			// The guest's state is gone with the power ([SSPI]: the ticketed
			// session stores state inside of the guest).
			powerOn(t, e.c, vm)
			if err := e.validate(vm, tk); !fault.Is(err, &types.InvalidGuestLogin{}) {
				t.Fatalf("validate after power cycle: %v", err)
			}
			if st := e.srv.Stats(); st.Dropped != 1 {
				t.Fatalf("stats %+v", st)
			}

			// [ACQ] GuestOperationsUnavailable "if the VM agent for guest
			// operations is not running".
			tk = e.login(t, vm, k.Initiator(t, sspi.Negotiate, guestSPN, false, false))
			e.srv.SetToolsRunning(vm, false)
			tok, _, _ = k.Initiator(t, sspi.Negotiate, guestSPN, false, false).Step(nil)
			if _, err := e.acquire(t, vm, tok, 0); !fault.Is(err, &types.GuestOperationsUnavailable{}) {
				t.Fatalf("acquire without tools: %v", err)
			}
			if _, err := e.list(vm, tk); !fault.Is(err, &types.GuestOperationsUnavailable{}) {
				t.Fatalf("list without tools: %v", err)
			}
			e.srv.SetToolsRunning(vm, true)
			if err := e.validate(vm, tk); !fault.Is(err, &types.InvalidGuestLogin{}) {
				t.Fatalf("ticket survived a tools restart: %v", err)
			}
		})
	}
}

func TestToolsNotRunningByDefaultWithKeepToolsStatus(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	e := newEnv(t, simulator.VPX(), k.Acceptor(t, krbaccept.Options{Realm: k.Name, MechListMIC: true}), simguest.Options{KeepToolsStatus: true})
	tok, _, _ := k.Initiator(t, sspi.Negotiate, guestSPN, false, false).Step(nil)
	if _, err := e.acquire(t, e.vms[0], tok, 0); !fault.Is(err, &types.GuestOperationsUnavailable{}) {
		t.Fatalf("vcsim VM without tools: %v", err)
	}
}

func TestTooManyGuestLogons(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	e := newEnv(t, simulator.ESX(), k.Acceptor(t, krbaccept.Options{Realm: k.Name, MechListMIC: true}), simguest.Options{MaxSessionsPerVM: 2})
	vm, other := e.vms[0], e.vms[1]
	t1 := e.login(t, vm, k.Initiator(t, sspi.Negotiate, guestSPN, false, false))
	// A pending conversation counts as a logon in progress.
	in := k.Initiator(t, sspi.Negotiate, guestSPN, true, false)
	tok, _, _ := in.Step(nil)
	_, err := e.acquire(t, vm, tok, 0)
	ch, id := challengeOf(t, err)
	tok3, _, _ := k.Initiator(t, sspi.Negotiate, guestSPN, false, false).Step(nil)
	if _, err := e.acquire(t, vm, tok3, 0); !fault.Is(err, &types.TooManyGuestLogons{}) {
		t.Fatalf("third logon: %v", err)
	}
	// The pending one completes (it was already counted).
	ans, _, _ := in.Step(ch)
	if _, err := e.acquire(t, vm, ans, id); err != nil {
		t.Fatalf("completing the second logon: %v", err)
	}
	// The limit is per VM.
	e.login(t, other, k.Initiator(t, sspi.Negotiate, guestSPN, false, false))
	// Releasing one makes room.
	if err := e.release(vm, t1); err != nil {
		t.Fatal(err)
	}
	e.login(t, vm, k.Initiator(t, sspi.Negotiate, guestSPN, false, false))
	if st := e.srv.Stats(); st.TooMany != 1 || st.Acquired != 4 || st.Released != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNamePassword(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	e := newEnv(t, simulator.VPX(), k.Acceptor(t, krbaccept.Options{Realm: k.Name, MechListMIC: true}), simguest.Options{Accounts: map[string]string{"guest": "guest-pw"}, Processes: procs})
	vm := e.vms[0]
	ps, err := e.list(vm, &types.NamePasswordAuthentication{Username: "guest", Password: "guest-pw"})
	if err != nil || len(ps) != 2 || ps[1].Owner != "guest" {
		t.Fatalf("list: %+v %v", ps, err)
	}
	if _, err := e.list(vm, &types.NamePasswordAuthentication{Username: "guest", Password: "wrong"}); !fault.Is(err, &types.InvalidGuestLogin{}) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := e.validate(vm, &types.NamePasswordAuthentication{Username: "guest", Password: "guest-pw"}); err != nil {
		t.Fatalf("validate: %v", err)
	}
}

func TestPerVMAcceptor(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	// VM 1's guest has its own SPN (host/other.test).
	other := k.Acceptor(t, krbaccept.Options{KeytabPath: k.Keytab("host/other.test", false), SPN: "host/other.test", MechListMIC: true})
	model := simulator.ESX()
	e := newEnvNamed(t, model, k.Acceptor(t, krbaccept.Options{Realm: k.Name, MechListMIC: true}), other)
	e.login(t, e.vms[1], k.Initiator(t, sspi.Negotiate, "host/other.test", false, false))
	tok, _, _ := k.Initiator(t, sspi.Negotiate, guestSPN, false, false).Step(nil)
	if _, err := e.acquire(t, e.vms[1], tok, 0); !fault.Is(err, &types.InvalidGuestLogin{}) {
		t.Fatalf("VM 0's SPN on VM 1: %v", err)
	}
	e.login(t, e.vms[0], k.Initiator(t, sspi.Negotiate, guestSPN, false, false))
}

// newEnvNamed installs acc for every VM but the second, which gets acc1
// (simguest.Options.Acceptors, keyed by VM name).
func newEnvNamed(t *testing.T, model *simulator.Model, acc, acc1 simguest.Acceptor) *env {
	t.Helper()
	byName := map[string]simguest.Acceptor{}
	e := newEnv(t, model, acc, simguest.Options{Acceptors: byName})
	// No call has been made yet: filling the map now is race-free.
	vm := model.Map().Get(e.vms[1]).(*simulator.VirtualMachine)
	byName[vm.Name] = acc1
	return e
}
