package guestauth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/guest"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/guestauth"
	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
	"github.com/esxi-users/esxi-users/internal/sim/simguest"
	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/internal/testsupport/krbtest"
	"github.com/esxi-users/esxi-users/internal/testsupport/simtest"
	"github.com/esxi-users/esxi-users/internal/vfault"
)

// guestSPN is the guest's service principal. The tests' realm is
// krbtest.NewFixture(t, guestSPN, "host/other.test"); the guest's acceptor
// (Fixture.Acceptor) answers as MIT's: standard Kerberos (the challenge is
// its final token, answered with the client's empty output), and with
// MechListMIC SPNEGO's mechListMIC exchange (the answer is the client's
// mechListMIC).
const guestSPN = "host/guest.test"

type env struct {
	srv *simguest.Server
	c   *vim25.Client
	vms []types.ManagedObjectReference
}

func newEnv(t *testing.T, model *simulator.Model, acc simguest.Acceptor, opts *simguest.Options) *env {
	t.Helper()
	var srv *simguest.Server
	install := func(m *simulator.Registry) {
		if opts != nil {
			srv = simguest.Install(m, acc, *opts)
		}
	}
	c := simtest.Login(t, simtest.Serve(t, model, install))
	return &env{srv: srv, c: c, vms: simtest.VMs(t, c)}
}

func procs(vm types.ManagedObjectReference, owner string) []types.GuestProcessInfo {
	return []types.GuestProcessInfo{
		{Name: "init", Pid: 1, Owner: "root", CmdLine: "/sbin/init", StartTime: time.Unix(0, 0)},
		{Name: "explorer.exe", Pid: 4242, Owner: owner, CmdLine: "explorer.exe", StartTime: time.Unix(0, 0)},
	}
}

func (e *env) list(t *testing.T, vm types.ManagedObjectReference, auth types.BaseGuestAuthentication) ([]types.GuestProcessInfo, error) {
	t.Helper()
	pm, err := guest.NewOperationsManager(e.c, vm).ProcessManager(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pm.ListProcesses(context.Background(), auth, nil)
	return ps, guestauth.Wrap("ListProcessesInGuest", vm, err)
}

// countingInitiator counts Step calls and records every token it produced.
type countingInitiator struct {
	sspi.Initiator
	steps  int
	tokens [][]byte
}

func (c *countingInitiator) Step(ch []byte) ([]byte, bool, error) {
	c.steps++
	tok, done, err := c.Initiator.Step(ch)
	if tok != nil {
		c.tokens = append(c.tokens, tok)
	}
	return tok, done, err
}

func TestAcquireUseRelease(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	for _, mname := range []string{"ESX", "VPX"} {
		for _, pkg := range []sspi.Package{sspi.Negotiate, sspi.Kerberos} {
			t.Run(mname+"/"+string(pkg), func(t *testing.T) {
				model := simulator.ESX()
				if mname == "VPX" {
					model = simulator.VPX()
				}
				e := newEnv(t, model, k.Acceptor(t, krbaccept.Options{Realm: k.Name}), &simguest.Options{Processes: procs})
				ctx := context.Background()
				vm := e.vms[0]
				in := &countingInitiator{Initiator: k.Initiator(t, pkg, guestSPN, false, false)}
				tk, err := guestauth.Acquire(ctx, e.c, vm, in)
				if err != nil {
					t.Fatalf("Acquire: %v", err)
				}
				// [SSPI seed]: at least one challenge, then the ticket.
				if tk.Legs() != 2 || in.steps != 2 || e.srv.Stats().Challenges != 1 {
					t.Fatalf("legs %d, steps %d, stats %+v", tk.Legs(), in.steps, e.srv.Stats())
				}
				ticket := tk.Auth().(*types.TicketedSessionAuthentication).Ticket
				// The ticket never shows in formatting.
				for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
					if s := fmt.Sprintf(verb, tk); strings.Contains(s, ticket) || strings.Contains(s, hex.EncodeToString([]byte(ticket))) {
						t.Fatalf("%s shows the ticket: %s", verb, s)
					}
				}
				if err := tk.Validate(ctx); err != nil {
					t.Fatalf("Validate: %v", err)
				}
				ps, err := e.list(t, vm, tk.Auth())
				if err != nil || len(ps) != 2 || ps[1].Owner != "alice@ESXI.TEST" {
					t.Fatalf("ListProcessesInGuest: %+v %v", ps, err)
				}
				// Not valid on another VM.
				_, err = e.list(t, e.vms[1], tk.Auth())
				if !errors.Is(err, vfault.InvalidGuestLogin) || !fault.Is(err, &types.InvalidGuestLogin{}) {
					t.Fatalf("list on another VM: %v", err)
				}
				if err := tk.Release(ctx); err != nil {
					t.Fatalf("Release: %v", err)
				}
				if err := tk.Release(ctx); err != nil || !tk.Released() {
					t.Fatalf("second Release: %v", err)
				}
				if st := e.srv.Stats(); st.Released != 1 {
					t.Fatalf("releases on the server: %d", st.Released)
				}
				err = tk.Validate(ctx)
				var igl *types.InvalidGuestLogin
				if _, ok := fault.As(err, &igl); !ok || !errors.Is(err, vfault.InvalidGuestLogin) {
					t.Fatalf("Validate after release: %v", err)
				}
				if _, err := e.list(t, vm, tk.Auth()); !errors.Is(err, vfault.InvalidGuestLogin) {
					t.Fatalf("list after release: %v", err)
				}
				if strings.Contains(err.Error(), ticket) {
					t.Fatal("error shows the ticket")
				}
			})
		}
	}
}

type extraState struct {
	round int
	nonce []byte
}

// extraInitiator adds n rounds before the Kerberos tokens: it sends
// "hello", echoes each nonce the server sends but the last, and answers
// the last with the Kerberos token. It exercises the client loop with more
// legs (as NTLM would need) under one sessionID. multiLeg is its server side.
type extraInitiator struct {
	sspi.Initiator
	n, round int
}

func (in *extraInitiator) Step(ch []byte) ([]byte, bool, error) {
	if ch == nil {
		return []byte("hello"), false, nil
	}
	if bytes.HasPrefix(ch, []byte("nonce:")) {
		in.round++
		if in.round < in.n {
			return append([]byte("echo:"), ch[len("nonce:"):]...), false, nil
		}
		// The last extra round: answer with the Kerberos token.
		return in.Initiator.Step(nil)
	}
	return in.Initiator.Step(ch)
}

func TestMultiLeg(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	// Extra rounds: "hello" → nonce, (echo → nonce)*, then Kerberos.
	acc := &multiLeg{inner: k.Acceptor(t, krbaccept.Options{Realm: k.Name}), extra: 2, state: map[string]*extraState{}}
	e := newEnv(t, simulator.VPX(), acc, &simguest.Options{})
	in := &countingInitiator{Initiator: &extraInitiator{Initiator: k.Initiator(t, sspi.Negotiate, guestSPN, false, false), n: 2}}
	tk, err := guestauth.Acquire(context.Background(), e.c, e.vms[0], in)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	defer tk.Release(context.Background())
	// hello, echo, Kerberos AP-REQ, the empty answer to the acceptor's
	// final token: four calls, three challenges.
	if tk.Legs() != 4 || e.srv.Stats().Challenges != 3 {
		t.Fatalf("legs %d, stats %+v", tk.Legs(), e.srv.Stats())
	}
	if err := tk.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A challenge after the initiator's context is complete ends the
	// exchange (sspi.Exchange): ErrProtocol, nothing issued.
	_, err = guestauth.Acquire(context.Background(), e.c, e.vms[0], doneInitiator{})
	if !errors.Is(err, guestauth.ErrProtocol) || !errors.Is(err, sspi.ErrUnexpectedChallenge) {
		t.Fatalf("challenge after completion: %v", err)
	}
}

// doneInitiator sends "hello" and says its context is complete.
type doneInitiator struct{}

func (doneInitiator) Step([]byte) ([]byte, bool, error) { return []byte("hello"), true, nil }
func (doneInitiator) Close() error                      { return nil }

// multiLeg is the acceptor side of extraInitiator: "hello" → nonce; each
// "echo:<nonce>" but the last → a new nonce; then Kerberos.
type multiLeg struct {
	inner *krbaccept.Acceptor
	extra int
	mu    sync.Mutex
	state map[string]*extraState
}

func (a *multiLeg) Forget(conv string) {
	a.mu.Lock()
	delete(a.state, conv)
	a.mu.Unlock()
	a.inner.Forget(conv)
}

func (a *multiLeg) Accept(conv string, tok []byte) ([]byte, string, bool, error) {
	a.mu.Lock()
	st := a.state[conv]
	if st == nil {
		st = &extraState{}
		a.state[conv] = st
	}
	a.mu.Unlock()
	if st.round < a.extra {
		want := []byte("hello")
		if st.round > 0 {
			want = append([]byte("echo:"), st.nonce...)
		}
		if !bytes.Equal(tok, want) {
			return nil, "", false, errors.New("bad extra-leg token")
		}
		st.round++
		st.nonce = make([]byte, 8)
		_, _ = rand.Read(st.nonce)
		return append([]byte("nonce:"), st.nonce...), "", false, nil
	}
	return a.inner.Accept(conv, tok)
}

func TestFaults(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	ctx := context.Background()

	t.Run("invalid-token", func(t *testing.T) {
		e := newEnv(t, simulator.ESX(), k.Acceptor(t, krbaccept.Options{Realm: k.Name}), &simguest.Options{})
		// A ticket for another service: the guest cannot decrypt it.
		_, err := guestauth.Acquire(ctx, e.c, e.vms[0], k.Initiator(t, sspi.Negotiate, "host/other.test", false, false))
		var ge *guestauth.Error
		if !errors.As(err, &ge) || ge.Kind != vfault.InvalidGuestLogin || ge.Op != "AcquireCredentialsInGuest" || !fault.Is(err, &types.InvalidGuestLogin{}) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad-second-leg", func(t *testing.T) {
		// SPNEGO's mechListMIC exchange: the answer is a MIC; tampered, it fails.
		e := newEnv(t, simulator.ESX(), k.Acceptor(t, krbaccept.Options{Realm: k.Name, MechListMIC: true}), &simguest.Options{})
		_, err := guestauth.Acquire(ctx, e.c, e.vms[0], &tamper{Initiator: k.Initiator(t, sspi.Negotiate, guestSPN, false, false)})
		if !errors.Is(err, vfault.InvalidGuestLogin) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("powered-off", func(t *testing.T) {
		e := newEnv(t, simulator.VPX(), k.Acceptor(t, krbaccept.Options{Realm: k.Name}), &simguest.Options{})
		task, err := object.NewVirtualMachine(e.c, e.vms[0]).PowerOff(ctx)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = guestauth.Acquire(ctx, e.c, e.vms[0], k.Initiator(t, sspi.Negotiate, guestSPN, false, false))
		var ips *types.InvalidPowerState
		if _, ok := fault.As(err, &ips); !ok || !errors.Is(err, vfault.InvalidPowerState) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("tools-not-running", func(t *testing.T) {
		e := newEnv(t, simulator.VPX(), k.Acceptor(t, krbaccept.Options{Realm: k.Name}), &simguest.Options{})
		e.srv.SetToolsRunning(e.vms[0], false)
		_, err := guestauth.Acquire(ctx, e.c, e.vms[0], k.Initiator(t, sspi.Negotiate, guestSPN, false, false))
		if !errors.Is(err, vfault.GuestOperationsUnavailable) || !fault.Is(err, &types.GuestOperationsUnavailable{}) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("too-many", func(t *testing.T) {
		e := newEnv(t, simulator.ESX(), k.Acceptor(t, krbaccept.Options{Realm: k.Name}), &simguest.Options{MaxSessionsPerVM: 1})
		tk, err := guestauth.Acquire(ctx, e.c, e.vms[0], k.Initiator(t, sspi.Negotiate, guestSPN, false, false))
		if err != nil {
			t.Fatal(err)
		}
		_, err = guestauth.Acquire(ctx, e.c, e.vms[0], k.Initiator(t, sspi.Negotiate, guestSPN, false, false))
		if !errors.Is(err, vfault.TooManyGuestLogons) || !fault.Is(err, &types.TooManyGuestLogons{}) {
			t.Fatalf("err = %v", err)
		}
		if err := tk.Release(ctx); err != nil {
			t.Fatal(err)
		}
		tk, err = guestauth.Acquire(ctx, e.c, e.vms[0], k.Initiator(t, sspi.Negotiate, guestSPN, false, false))
		if err != nil {
			t.Fatalf("after release: %v", err)
		}
		tk.Release(ctx)
	})
	t.Run("no-auth-manager", func(t *testing.T) {
		// Plain vcsim: GuestOperationsManager.authManager is unset.
		e := newEnv(t, simulator.ESX(), nil, nil)
		_, err := guestauth.Acquire(ctx, e.c, e.vms[0], k.Initiator(t, sspi.Negotiate, guestSPN, false, false))
		if !errors.Is(err, guestauth.ErrNotSupported) {
			t.Fatalf("err = %v", err)
		}
	})
}

// tamper flips a bit of every answer to a challenge.
type tamper struct{ sspi.Initiator }

func (t *tamper) Step(ch []byte) ([]byte, bool, error) {
	tok, done, err := t.Initiator.Step(ch)
	if ch != nil && len(tok) > 0 {
		tok[len(tok)-1] ^= 1
	}
	return tok, done, err
}

// TestAcquireMITAcceptor: the guest's acceptor is MIT's GSSAPI
// (python3-gssapi): its final token (AP-REP; for Negotiate in an
// accept-completed NegTokenResp) is the challenge, the client verifies it
// and answers with its empty output, and gets the ticket.
func TestAcquireMITAcceptor(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	mit := k.MITAcceptor(t)
	e := newEnv(t, simulator.VPX(), mit, &simguest.Options{})
	ctx := context.Background()
	for _, pkg := range []sspi.Package{sspi.Negotiate, sspi.Kerberos} {
		in := &countingInitiator{Initiator: k.Initiator(t, pkg, guestSPN, false, false)}
		tk, err := guestauth.Acquire(ctx, e.c, e.vms[0], in)
		if err != nil {
			t.Fatalf("%s: Acquire: %v", pkg, err)
		}
		ticket := tk.Auth().(*types.TicketedSessionAuthentication).Ticket
		if p, ok := e.srv.TicketPrincipal(ticket); !ok || p != "alice@ESXI.TEST" || tk.Legs() != 2 || in.steps != 2 {
			t.Fatalf("%s: principal %q, legs %d, steps %d", pkg, p, tk.Legs(), in.steps)
		}
		if err := tk.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A ticket for another service: MIT's acceptor refuses it.
	_, err := guestauth.Acquire(ctx, e.c, e.vms[0], k.Initiator(t, sspi.Kerberos, "host/other.test", false, false))
	if !errors.Is(err, vfault.InvalidGuestLogin) {
		t.Fatalf("other service: %v", err)
	}
}

// TestNoMutualKerberosRefused: a raw Kerberos context without mutual
// authentication is complete after its first token; the guest, which must
// challenge, has nothing to challenge with and refuses.
func TestNoMutualKerberosRefused(t *testing.T) {
	k := krbtest.NewFixture(t, guestSPN, "host/other.test")
	e := newEnv(t, simulator.ESX(), k.Acceptor(t, krbaccept.Options{Realm: k.Name}), &simguest.Options{})
	in := k.Initiator(t, sspi.Kerberos, guestSPN, false, true)
	if _, err := guestauth.Acquire(context.Background(), e.c, e.vms[0], in); !errors.Is(err, vfault.InvalidGuestLogin) {
		t.Fatalf("err = %v", err)
	}
}

func TestWrapTable(t *testing.T) {
	vm := types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-1"}
	cases := []struct {
		f    types.BaseMethodFault
		kind error
	}{
		{&types.InvalidGuestLogin{}, vfault.InvalidGuestLogin},
		{&types.GuestOperationsUnavailable{}, vfault.GuestOperationsUnavailable},
		{&types.TooManyGuestLogons{}, vfault.TooManyGuestLogons},
		{&types.InvalidPowerState{}, vfault.InvalidPowerState},
		{&types.InvalidState{}, vfault.InvalidState},
		{&types.TaskInProgress{}, vfault.TaskInProgress},
		{&types.GuestComponentsOutOfDate{}, vfault.GuestComponentsOutOfDate},
		{&types.OperationNotSupportedByGuest{}, vfault.OperationNotSupportedByGuest},
		{&types.OperationDisabledByGuest{}, vfault.OperationDisabledByGuest},
		{&types.GuestOperationsFault{}, vfault.GuestOperationsFault},
		{&types.GuestPermissionDenied{}, vfault.GuestOperationsFault},
		{&types.NoPermission{}, vfault.NoPermission},
		{&types.NotAuthenticated{}, vfault.NotAuthenticated},
		{&types.ManagedObjectNotFound{}, vfault.ManagedObjectNotFound},
		{&types.InvalidArgument{}, vfault.InvalidArgument},
		{&types.SystemError{}, vfault.SystemError}, // the fault table's row (internal/vfault)
		{&types.DuplicateName{}, guestauth.ErrOther},
	}
	for _, tc := range cases {
		err := guestauth.Wrap("AcquireCredentialsInGuest", vm, soap.WrapVimFault(tc.f))
		if !errors.Is(err, tc.kind) || !fault.Is(err, tc.f) {
			t.Errorf("%T: %v", tc.f, err)
		}
		for _, other := range cases {
			if other.kind != tc.kind && errors.Is(err, other.kind) {
				t.Errorf("%T also matches %v", tc.f, other.kind)
			}
		}
	}
	if guestauth.Wrap("x", vm, nil) != nil {
		t.Fatal("Wrap(nil) != nil")
	}
}
