package krbaccept_test

import (
	"errors"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/krbaccept"
	"github.com/esxi-users/esxi-users/internal/krbaccept/gss"
	"github.com/esxi-users/esxi-users/internal/krbtest"
	"github.com/esxi-users/esxi-users/internal/sspi"
)

const spn = "host/esx.test"

type env struct {
	realm   *krbtest.Realm
	svcKT   string
	aliceKT string
	ccache  string
}

func setup(t *testing.T) *env {
	t.Helper()
	f := krbtest.NewFixture(t, spn)
	f.AddPrincipal("host/other.test", "")
	return &env{realm: f.Realm, svcKT: f.ServiceKeytab, aliceKT: f.UserKeytab, ccache: f.CCache}
}

func (e *env) acceptor(t *testing.T, opt krbaccept.Options) *krbaccept.Acceptor {
	t.Helper()
	if opt.KeytabPath == "" && opt.Keytab == nil {
		opt.KeytabPath = e.svcKT
	}
	if opt.SPN == "" {
		opt.SPN = spn
	}
	a, err := krbaccept.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) initiator(t *testing.T, pkg sspi.Package, fromKeytab, noMutual bool) sspi.Initiator {
	t.Helper()
	cfg := sspi.Config{Package: pkg, SPN: spn, Krb5Conf: e.realm.Krb5Conf(), NoMutual: noMutual}
	if fromKeytab {
		cfg.Keytab, cfg.Principal = e.aliceKT, "alice"
	} else {
		cfg.CCache = "FILE:" + e.ccache
	}
	in, err := sspi.NewInitiator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// run drives an initiator against an acceptor like LoginBySSPI would and
// returns the principal and the number of tokens the acceptor consumed.
func run(t *testing.T, in sspi.Initiator, a *krbaccept.Acceptor, conv string) (string, int, error) {
	t.Helper()
	tok, done, err := in.Step(nil)
	if err != nil {
		t.Fatalf("first Step: %v", err)
	}
	for legs := 1; legs <= 5; legs++ {
		ch, principal, ok, err := a.Accept(conv, tok)
		if err != nil {
			return "", legs, err
		}
		if ok {
			return principal, legs, nil
		}
		if done {
			t.Fatalf("acceptor challenged an initiator that is done")
		}
		tok, done, err = in.Step(ch)
		if err != nil {
			t.Fatalf("Step(challenge): %v", err)
		}
	}
	t.Fatal("too many legs")
	return "", 0, nil
}

func TestAcceptGoInitiator(t *testing.T) {
	e := setup(t)
	cases := []struct {
		name      string
		pkg       sspi.Package
		keytab    bool
		noMutual  bool
		secondLeg bool
		wantLegs  int
	}{
		{"negotiate/ccache/one-leg", sspi.Negotiate, false, true, false, 1},
		{"negotiate/keytab/one-leg", sspi.Negotiate, true, true, false, 1},
		{"negotiate/ccache/mutual", sspi.Negotiate, false, false, false, 2},
		{"negotiate/keytab/require-second-leg", sspi.Negotiate, true, false, true, 2},
		{"kerberos/ccache/one-leg", sspi.Kerberos, false, true, false, 1},
		{"kerberos/keytab/one-leg-mutual", sspi.Kerberos, true, false, false, 1},
		{"kerberos/keytab/require-second-leg", sspi.Kerberos, true, false, true, 2},
		{"kerberos/ccache/require-second-leg", sspi.Kerberos, false, false, true, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := e.acceptor(t, krbaccept.Options{RequireSecondLeg: tc.secondLeg, Realm: "ESXI.TEST"})
			in := e.initiator(t, tc.pkg, tc.keytab, tc.noMutual)
			p, legs, err := run(t, in, a, "c1")
			if err != nil {
				t.Fatalf("Accept: %v", err)
			}
			if p != "alice@ESXI.TEST" {
				t.Fatalf("principal %q", p)
			}
			if legs != tc.wantLegs {
				t.Fatalf("legs = %d, want %d", legs, tc.wantLegs)
			}
			if a.Pending("c1") {
				t.Fatal("conversation still pending after completion")
			}
		})
	}
}

func firstToken(t *testing.T, in sspi.Initiator) []byte {
	t.Helper()
	tok, _, err := in.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRejects(t *testing.T) {
	e := setup(t)
	otherKT := e.realm.Keytab("host/other.test", false)

	t.Run("replay", func(t *testing.T) {
		for _, pkg := range []sspi.Package{sspi.Negotiate, sspi.Kerberos} {
			a := e.acceptor(t, krbaccept.Options{})
			tok := firstToken(t, e.initiator(t, pkg, true, true))
			if _, p, done, err := a.Accept("x", tok); err != nil || !done || p == "" {
				t.Fatalf("%s first use: done=%v err=%v", pkg, done, err)
			}
			// A second acceptor instance (fresh own cache) must reject it too.
			for _, acc := range []*krbaccept.Acceptor{a, e.acceptor(t, krbaccept.Options{})} {
				_, _, done, err := acc.Accept("y", tok)
				if !errors.Is(err, krbaccept.ErrReplay) || done {
					t.Fatalf("%s replay: done=%v err=%v", pkg, done, err)
				}
			}
		}
	})

	t.Run("wrong-spn", func(t *testing.T) {
		a := e.acceptor(t, krbaccept.Options{SPN: "host/other.test", KeytabPath: otherKT})
		tok := firstToken(t, e.initiator(t, sspi.Negotiate, true, true))
		if _, _, _, err := a.Accept("x", tok); !errors.Is(err, krbaccept.ErrWrongSPN) || !errors.Is(err, krbaccept.ErrInvalidToken) {
			t.Fatalf("err = %v", err)
		}
		a = e.acceptor(t, krbaccept.Options{Realm: "OTHER.TEST"})
		if _, _, _, err := a.Accept("x", tok); !errors.Is(err, krbaccept.ErrWrongSPN) {
			t.Fatalf("realm: err = %v", err)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		a := e.acceptor(t, krbaccept.Options{})
		for _, pkg := range []sspi.Package{sspi.Negotiate, sspi.Kerberos} {
			tok := firstToken(t, e.initiator(t, pkg, false, true))
			// Flip bits near the end: inside the encrypted authenticator.
			for _, off := range []int{len(tok) - 5, len(tok) - 40} {
				bad := append([]byte(nil), tok...)
				bad[off] ^= 0x5a
				_, _, done, err := a.Accept("x", bad)
				if !errors.Is(err, krbaccept.ErrInvalidToken) || done {
					t.Fatalf("%s tampered at %d: done=%v err=%v", pkg, off, done, err)
				}
			}
			// Truncated and garbage tokens.
			for _, bad := range [][]byte{tok[:len(tok)/2], []byte("hello"), nil} {
				if _, _, _, err := a.Accept("x", bad); !errors.Is(err, krbaccept.ErrInvalidToken) {
					t.Fatalf("garbage: err = %v", err)
				}
			}
			// The untampered token still works (the failures did not poison the caches).
			if _, p, done, err := a.Accept("x", tok); err != nil || !done || p != "alice@ESXI.TEST" {
				t.Fatalf("%s original after tampering: %v", pkg, err)
			}
		}
	})

	t.Run("wrong-keytab-rotated", func(t *testing.T) {
		old := e.acceptor(t, krbaccept.Options{})
		rotated := e.realm.Keytab(spn, false) // new kvno; old keytab is stale
		tok := firstToken(t, e.initiator(t, sspi.Negotiate, true, true))
		if _, _, _, err := old.Accept("x", tok); !errors.Is(err, krbaccept.ErrWrongKey) {
			t.Fatalf("stale keytab: err = %v", err)
		}
		cur := e.acceptor(t, krbaccept.Options{KeytabPath: rotated})
		if _, p, done, err := cur.Accept("x", tok); err != nil || !done || p != "alice@ESXI.TEST" {
			t.Fatalf("current keytab: %v", err)
		}
		e.svcKT = rotated
	})

	t.Run("second-leg-bad-proof", func(t *testing.T) {
		for _, pkg := range []sspi.Package{sspi.Negotiate, sspi.Kerberos} {
			a := e.acceptor(t, krbaccept.Options{RequireSecondLeg: true})
			in := e.initiator(t, pkg, true, false)
			ch, _, done, err := a.Accept("c", firstToken(t, in))
			if err != nil || done || len(ch) == 0 {
				t.Fatalf("%s leg 1: done=%v err=%v", pkg, done, err)
			}
			tok2, fin, err := in.Step(ch)
			if err != nil || !fin {
				t.Fatalf("%s client leg 2: %v", pkg, err)
			}
			bad := append([]byte(nil), tok2...)
			bad[len(bad)-1] ^= 1
			if _, _, done, err := a.Accept("c", bad); !errors.Is(err, krbaccept.ErrBadMIC) || done {
				t.Fatalf("%s bad MIC: done=%v err=%v", pkg, done, err)
			}
			// One attempt per conversation: the good proof is now refused too.
			if _, _, _, err := a.Accept("c", tok2); !errors.Is(err, krbaccept.ErrNoConversation) {
				t.Fatalf("%s after failure: err = %v", pkg, err)
			}
			// A proof sent on another conversation is refused.
			in2 := e.initiator(t, pkg, true, false)
			ch2, _, _, err := a.Accept("c2", firstToken(t, in2))
			if err != nil {
				t.Fatal(err)
			}
			tok3, _, err := in2.Step(ch2)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := a.Accept("c3", tok3); !errors.Is(err, krbaccept.ErrNoConversation) {
				t.Fatalf("%s wrong conversation: err = %v", pkg, err)
			}
		}
	})

	t.Run("client-detects-forged-ap-rep", func(t *testing.T) {
		a := e.acceptor(t, krbaccept.Options{RequireSecondLeg: true})
		in := e.initiator(t, sspi.Kerberos, true, false)
		ch, _, _, err := a.Accept("c", firstToken(t, in))
		if err != nil {
			t.Fatal(err)
		}
		bad := append([]byte(nil), ch...)
		bad[len(bad)-3] ^= 0x20
		if _, _, err := in.Step(bad); !errors.Is(err, sspi.ErrMutualAuth) {
			t.Fatalf("forged AP-REP: err = %v", err)
		}
	})
}

func TestMICRoundTrip(t *testing.T) {
	key, err := gss.NewRandomKey(18)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("mech list")
	mic, err := gss.NewMIC(key, payload, 7, true, gss.MICAcceptorSubkey)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		payload []byte
		seq     uint64
		acc     bool
		flags   byte
		ok      bool
	}{
		{"good", payload, 7, true, gss.MICAcceptorSubkey, true},
		{"wrong-seq", payload, 8, true, gss.MICAcceptorSubkey, false},
		{"wrong-direction", payload, 7, false, gss.MICAcceptorSubkey, false},
		{"wrong-flags", payload, 7, true, 0, false},
		{"wrong-payload", []byte("mech lisT"), 7, true, gss.MICAcceptorSubkey, false},
	}
	for _, c := range cases {
		err := gss.VerifyMIC(mic, key, c.payload, c.seq, c.acc, c.flags)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
}

func TestConversationExpires(t *testing.T) {
	e := setup(t)
	now := time.Now()
	a := e.acceptor(t, krbaccept.Options{RequireSecondLeg: true, MaxSkew: time.Minute, Clock: func() time.Time { return now }})
	in := e.initiator(t, sspi.Negotiate, true, false)
	ch, _, done, err := a.Accept("c", firstToken(t, in))
	if err != nil || done {
		t.Fatalf("leg 1: %v", err)
	}
	tok, _, err := in.Step(ch)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Pending("c") {
		t.Fatal("not pending")
	}
	now = now.Add(2 * time.Minute)
	if a.Pending("c") {
		t.Fatal("still pending after MaxSkew")
	}
	if _, _, _, err := a.Accept("c", tok); !errors.Is(err, krbaccept.ErrNoConversation) {
		t.Fatalf("late leg 2: %v", err)
	}
}
