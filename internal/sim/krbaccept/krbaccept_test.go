package krbaccept_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/esxi-users/esxi-users/internal/gss"
	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/internal/testsupport/krbtest"
	"github.com/esxi-users/esxi-users/internal/vfault"
)

const spn = "host/esx.test"

// run drives an initiator against an acceptor the way a transport that
// delivers final tokens does (the guest's, or LoginBySSPI with
// simsspi.Options.ChallengeFinalToken): every output token goes to the
// initiator, and the initiator's output, if any, back to the acceptor. It
// returns the principal, the number of tokens the acceptor consumed and
// whether the initiator's context completed.
func run(t *testing.T, in sspi.Initiator, a *krbaccept.Acceptor, conv string) (string, int, bool, error) {
	t.Helper()
	tok, done, err := in.Step(nil)
	if err != nil {
		t.Fatalf("first Step: %v", err)
	}
	for legs := 1; legs <= 5; legs++ {
		out, principal, ok, err := a.Accept(conv, tok)
		if err != nil {
			return "", legs, done, err
		}
		if len(out) > 0 {
			if done {
				t.Fatalf("acceptor sent a token to an initiator that is done")
			}
			if tok, done, err = in.Step(out); err != nil {
				t.Fatalf("Step(acceptor's token): %v", err)
			}
		}
		if ok {
			if len(tok) > 0 && len(out) > 0 {
				t.Fatalf("the initiator answered the acceptor's final token")
			}
			return principal, legs, done, nil
		}
	}
	t.Fatal("too many legs")
	return "", 0, false, nil
}

func TestAcceptGoInitiator(t *testing.T) {
	e := krbtest.NewFixture(t, spn, "host/other.test")
	cases := []struct {
		name     string
		pkg      sspi.Package
		keytab   bool
		noMutual bool
		mic      bool
		wantLegs int
		// clientDone: the initiator's context completes (for mutual
		// authentication: it verified the acceptor's AP-REP).
		clientDone bool
	}{
		{"negotiate/ccache/no-mutual", sspi.Negotiate, false, true, false, 1, true},
		{"negotiate/keytab/no-mutual", sspi.Negotiate, true, true, false, 1, true},
		{"negotiate/ccache/mutual", sspi.Negotiate, false, false, false, 1, true},
		{"negotiate/keytab/mutual-mechlistmic", sspi.Negotiate, true, false, true, 2, true},
		{"negotiate/ccache/no-mutual-mechlistmic", sspi.Negotiate, false, true, true, 1, true},
		{"kerberos/ccache/no-mutual", sspi.Kerberos, false, true, false, 1, true},
		{"kerberos/keytab/mutual", sspi.Kerberos, true, false, false, 1, true},
		// MechListMIC is SPNEGO's: raw Kerberos still has two tokens only.
		{"kerberos/ccache/mutual-mechlistmic-option", sspi.Kerberos, false, false, true, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := e.Acceptor(t, krbaccept.Options{MechListMIC: tc.mic, Realm: "ESXI.TEST"})
			in := e.Initiator(t, tc.pkg, spn, tc.keytab, tc.noMutual)
			p, legs, done, err := run(t, in, a, "c1")
			if err != nil {
				t.Fatalf("Accept: %v", err)
			}
			if p != "alice@ESXI.TEST" {
				t.Fatalf("principal %q", p)
			}
			if legs != tc.wantLegs || done != tc.clientDone {
				t.Fatalf("legs = %d, client done %v; want %d, %v", legs, done, tc.wantLegs, tc.clientDone)
			}
			if a.Pending("c1") {
				t.Fatal("conversation still pending after completion")
			}
		})
	}
}

// TestStandardReplies checks the acceptor's output against RFC 4121 and
// RFC 4178: raw Kerberos answers nothing or a final AP-REP and never waits
// for a third token; SPNEGO answers accept-completed with the AP-REP, or
// (MechListMIC) accept-incomplete with a mechListMIC.
func TestStandardReplies(t *testing.T) {
	e := krbtest.NewFixture(t, spn, "host/other.test")
	for _, tc := range []struct {
		name     string
		pkg      sspi.Package
		noMutual bool
		mic      bool
		want     string // "" no output, "ap-rep", or "resp" (a NegTokenResp as below)
		state    spnego.NegState
		apRep    bool
		withMIC  bool
		wantDone bool
	}{
		{name: "kerberos/no-mutual", pkg: sspi.Kerberos, noMutual: true, want: "", wantDone: true},
		{name: "kerberos/mutual", pkg: sspi.Kerberos, want: "ap-rep", wantDone: true},
		{name: "kerberos/mutual/mic-option", pkg: sspi.Kerberos, mic: true, want: "ap-rep", wantDone: true},
		{name: "negotiate/no-mutual", pkg: sspi.Negotiate, noMutual: true, want: "resp", state: spnego.NegStateAcceptCompleted, wantDone: true},
		{name: "negotiate/mutual", pkg: sspi.Negotiate, want: "resp", state: spnego.NegStateAcceptCompleted, apRep: true, wantDone: true},
		{name: "negotiate/mutual/mic", pkg: sspi.Negotiate, mic: true, want: "resp", state: spnego.NegStateAcceptIncomplete, apRep: true, withMIC: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.Acceptor(t, krbaccept.Options{MechListMIC: tc.mic})
			out, p, done, err := a.Accept("c", firstToken(t, e.Initiator(t, tc.pkg, spn, true, tc.noMutual)))
			if err != nil || done != tc.wantDone || (done && p != "alice@ESXI.TEST") {
				t.Fatalf("done=%v principal=%q err=%v", done, p, err)
			}
			switch tc.want {
			case "":
				if len(out) != 0 {
					t.Fatalf("output %d bytes, want none", len(out))
				}
			case "ap-rep":
				if id, _, err := gss.UnwrapKRB5(out); err != nil || id != gss.TokAPRep {
					t.Fatalf("output is not a Kerberos AP-REP token: %v %v", id, err)
				}
			case "resp":
				r, err := gss.ParseNegTokenResp(out)
				if err != nil || spnego.NegState(r.NegState) != tc.state || !r.SupportedMech.Equal(gss.OIDKRB5) {
					t.Fatalf("NegTokenResp %+v %v", r, err)
				}
				if tc.apRep != (len(r.ResponseToken) > 0) || tc.withMIC != (len(r.MechListMIC) > 0) {
					t.Fatalf("responseToken %d bytes, mechListMIC %d bytes", len(r.ResponseToken), len(r.MechListMIC))
				}
				if tc.apRep {
					if id, _, err := gss.UnwrapKRB5(r.ResponseToken); err != nil || id != gss.TokAPRep {
						t.Fatalf("responseToken is not an AP-REP: %v %v", id, err)
					}
				}
			}
			// Raw Kerberos has no continuation: a further token is not a conversation's.
			if tc.pkg == sspi.Kerberos {
				if _, _, _, err := a.Accept("c", []byte{0x04, 0x04, 0, 0xff}); !errors.Is(err, krbaccept.ErrInvalidToken) {
					t.Fatalf("a third token: %v", err)
				}
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
	e := krbtest.NewFixture(t, spn, "host/other.test")
	otherKT := e.Keytab("host/other.test", false)

	t.Run("replay", func(t *testing.T) {
		for _, pkg := range []sspi.Package{sspi.Negotiate, sspi.Kerberos} {
			a := e.Acceptor(t, krbaccept.Options{})
			tok := firstToken(t, e.Initiator(t, pkg, spn, true, true))
			if _, p, done, err := a.Accept("x", tok); err != nil || !done || p == "" {
				t.Fatalf("%s first use: done=%v err=%v", pkg, done, err)
			}
			// A second acceptor instance (fresh own cache) must reject it too.
			for _, acc := range []*krbaccept.Acceptor{a, e.Acceptor(t, krbaccept.Options{})} {
				_, _, done, err := acc.Accept("y", tok)
				if !errors.Is(err, krbaccept.ErrReplay) || done {
					t.Fatalf("%s replay: done=%v err=%v", pkg, done, err)
				}
			}
		}
	})

	t.Run("wrong-spn", func(t *testing.T) {
		a := e.Acceptor(t, krbaccept.Options{SPN: "host/other.test", KeytabPath: otherKT})
		tok := firstToken(t, e.Initiator(t, sspi.Negotiate, spn, true, true))
		if _, _, _, err := a.Accept("x", tok); !errors.Is(err, krbaccept.ErrWrongSPN) || !errors.Is(err, krbaccept.ErrInvalidToken) {
			t.Fatalf("err = %v", err)
		}
		a = e.Acceptor(t, krbaccept.Options{Realm: "OTHER.TEST"})
		if _, _, _, err := a.Accept("x", tok); !errors.Is(err, krbaccept.ErrWrongSPN) {
			t.Fatalf("realm: err = %v", err)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		a := e.Acceptor(t, krbaccept.Options{})
		for _, pkg := range []sspi.Package{sspi.Negotiate, sspi.Kerberos} {
			tok := firstToken(t, e.Initiator(t, pkg, spn, false, true))
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
		old := e.Acceptor(t, krbaccept.Options{})
		rotated := e.Keytab(spn, false) // new kvno; old keytab is stale
		tok := firstToken(t, e.Initiator(t, sspi.Negotiate, spn, true, true))
		if _, _, _, err := old.Accept("x", tok); !errors.Is(err, krbaccept.ErrWrongKey) {
			t.Fatalf("stale keytab: err = %v", err)
		}
		cur := e.Acceptor(t, krbaccept.Options{KeytabPath: rotated})
		if _, p, done, err := cur.Accept("x", tok); err != nil || !done || p != "alice@ESXI.TEST" {
			t.Fatalf("current keytab: %v", err)
		}
		e.ServiceKeytab = rotated
	})

	t.Run("bad-mechlistmic", func(t *testing.T) {
		a := e.Acceptor(t, krbaccept.Options{MechListMIC: true})
		in := e.Initiator(t, sspi.Negotiate, spn, true, false)
		ch, _, done, err := a.Accept("c", firstToken(t, in))
		if err != nil || done || len(ch) == 0 {
			t.Fatalf("leg 1: done=%v err=%v", done, err)
		}
		tok2, fin, err := in.Step(ch)
		if err != nil || !fin {
			t.Fatalf("client leg 2: %v", err)
		}
		bad := append([]byte(nil), tok2...)
		bad[len(bad)-1] ^= 1
		if _, _, done, err := a.Accept("c", bad); !errors.Is(err, krbaccept.ErrBadMIC) || done {
			t.Fatalf("bad MIC: done=%v err=%v", done, err)
		}
		// One attempt per conversation: the good MIC is now refused too.
		if _, _, _, err := a.Accept("c", tok2); !errors.Is(err, krbaccept.ErrNoConversation) {
			t.Fatalf("after failure: err = %v", err)
		}
		// A MIC sent on another conversation is refused.
		in2 := e.Initiator(t, sspi.Negotiate, spn, true, false)
		ch2, _, _, err := a.Accept("c2", firstToken(t, in2))
		if err != nil {
			t.Fatal(err)
		}
		tok3, _, err := in2.Step(ch2)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := a.Accept("c3", tok3); !errors.Is(err, krbaccept.ErrNoConversation) {
			t.Fatalf("wrong conversation: err = %v", err)
		}
		// And a MIC made by another initiator (another session key) does not verify.
		in4 := e.Initiator(t, sspi.Negotiate, spn, true, false)
		if _, _, _, err := a.Accept("c4", firstToken(t, in4)); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := a.Accept("c4", tok3); !errors.Is(err, krbaccept.ErrBadMIC) {
			t.Fatalf("another context's MIC: err = %v", err)
		}
	})

	t.Run("client-detects-forged-ap-rep", func(t *testing.T) {
		for _, pkg := range []sspi.Package{sspi.Kerberos, sspi.Negotiate} {
			a := e.Acceptor(t, krbaccept.Options{})
			in := e.Initiator(t, pkg, spn, true, false)
			out, _, done, err := a.Accept("c", firstToken(t, in))
			if err != nil || !done || len(out) == 0 {
				t.Fatalf("%s: done=%v err=%v", pkg, done, err)
			}
			// The last bytes of the AP-REP (in a NegTokenResp for Negotiate,
			// whose responseToken ends the message) are ciphertext.
			bad := append([]byte(nil), out...)
			bad[len(bad)-3] ^= 0x20
			if _, _, err := in.Step(bad); !errors.Is(err, sspi.ErrMutualAuth) {
				t.Fatalf("%s forged AP-REP: err = %v", pkg, err)
			}
		}
	})

	t.Run("client-requires-ap-rep", func(t *testing.T) {
		// A SPNEGO reply that completes without the AP-REP the client asked for.
		in := e.Initiator(t, sspi.Negotiate, spn, true, false)
		firstToken(t, in)
		resp, _ := gss.MarshalNegTokenResp(spnego.NegTokenResp{NegState: 0, SupportedMech: gss.OIDKRB5})
		if _, _, err := in.Step(resp); !errors.Is(err, sspi.ErrMutualAuth) {
			t.Fatalf("no AP-REP: err = %v", err)
		}
		in = e.Initiator(t, sspi.Negotiate, spn, true, false)
		firstToken(t, in)
		resp, _ = gss.MarshalNegTokenResp(spnego.NegTokenResp{NegState: 2})
		if _, _, err := in.Step(resp); !errors.Is(err, vfault.InvalidLogin) {
			t.Fatalf("reject: err = %v", err)
		}
	})
}

func TestConversationExpires(t *testing.T) {
	e := krbtest.NewFixture(t, spn, "host/other.test")
	now := time.Now()
	a := e.Acceptor(t, krbaccept.Options{MechListMIC: true, MaxSkew: time.Minute, Clock: func() time.Time { return now }})
	in := e.Initiator(t, sspi.Negotiate, spn, true, false)
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

func TestFinalAsChallenge(t *testing.T) {
	e := krbtest.NewFixture(t, spn, "host/other.test")
	now := time.Now()
	f := &krbaccept.FinalAsChallenge{TTL: time.Minute, Now: func() time.Time { return now }}
	a := f.Wrap(e.Acceptor(t, krbaccept.Options{}))

	// The AP-REP comes as a challenge; the client's empty answer completes.
	for _, pkg := range []sspi.Package{sspi.Kerberos, sspi.Negotiate} {
		in := e.Initiator(t, pkg, spn, true, false)
		ch, p, done, err := a.Accept("c", firstToken(t, in))
		if err != nil || done || p != "" || len(ch) == 0 {
			t.Fatalf("%s leg 1: done=%v p=%q err=%v", pkg, done, p, err)
		}
		ans, fin, err := in.Step(ch)
		if err != nil || !fin || len(ans) != 0 {
			t.Fatalf("%s client: done=%v answer %d bytes err=%v", pkg, fin, len(ans), err)
		}
		if _, p, done, err := a.Accept("c", ans); err != nil || !done || p != "alice@ESXI.TEST" {
			t.Fatalf("%s close: done=%v p=%q err=%v", pkg, done, p, err)
		}
		// Closed: another empty token is no conversation's.
		if _, _, _, err := a.Accept("c", nil); !errors.Is(err, krbaccept.ErrInvalidToken) {
			t.Fatalf("%s second close: %v", pkg, err)
		}
	}
	// Without a final token nothing changes: one call.
	if _, p, done, err := a.Accept("n", firstToken(t, e.Initiator(t, sspi.Kerberos, spn, true, true))); err != nil || !done || p == "" {
		t.Fatalf("no final token: done=%v err=%v", done, err)
	}
	// A non-empty answer to a final token is refused.
	if _, _, _, err := a.Accept("x", firstToken(t, e.Initiator(t, sspi.Kerberos, spn, true, false))); err != nil {
		t.Fatal(err)
	}
	if _, _, done, err := a.Accept("x", []byte{0xa1, 0x00}); !errors.Is(err, krbaccept.ErrFinalAnswer) || done {
		t.Fatalf("non-empty answer: done=%v err=%v", done, err)
	}
	// A new initial token restarts; an expired or forgotten conversation cannot be closed.
	for _, end := range []func(conv string){
		func(string) { now = now.Add(2 * time.Minute) },
		a.Forget,
	} {
		if _, _, _, err := a.Accept("y", firstToken(t, e.Initiator(t, sspi.Kerberos, spn, true, false))); err != nil {
			t.Fatal(err)
		}
		ch, _, done, err := a.Accept("y", firstToken(t, e.Initiator(t, sspi.Kerberos, spn, false, false)))
		if err != nil || done || len(ch) == 0 {
			t.Fatalf("restart: done=%v err=%v", done, err)
		}
		end("y")
		if _, _, done, err := a.Accept("y", nil); err == nil || done {
			t.Fatalf("closed after the end: done=%v err=%v", done, err)
		}
	}
}
