package simsspi_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
	"github.com/esxi-users/esxi-users/internal/sim/simsspi"
	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/internal/testsupport/krbtest"
	"github.com/esxi-users/esxi-users/internal/testsupport/simtest"
	"github.com/esxi-users/esxi-users/internal/vfault"
)

const spn = "host/esx.test"

// countingInitiator counts the Step calls (legs) of an Initiator.
type countingInitiator struct {
	sspi.Initiator
	steps int
}

func (c *countingInitiator) Step(ch []byte) ([]byte, bool, error) {
	c.steps++
	return c.Initiator.Step(ch)
}

func TestLoginBySSPI(t *testing.T) {
	k := krbtest.NewFixture(t, spn, "bob")
	models := map[string]func() *simulator.Model{"ESX": simulator.ESX, "VPX": simulator.VPX}
	cases := []struct {
		name     string
		pkg      sspi.Package
		keytab   bool
		noMutual bool
		mic      bool // krbaccept.Options.MechListMIC
		final    bool // Options.ChallengeFinalToken
		legs     int
	}{
		{"negotiate/ccache/no-mutual", sspi.Negotiate, false, true, false, false, 1},
		{"negotiate/keytab/mutual", sspi.Negotiate, true, false, false, false, 1},
		{"negotiate/keytab/mutual/final-token", sspi.Negotiate, true, false, false, true, 2},
		{"negotiate/ccache/mutual/mechlistmic", sspi.Negotiate, false, false, true, false, 2},
		{"kerberos/keytab/no-mutual", sspi.Kerberos, true, true, false, true, 1},
		{"kerberos/ccache/mutual", sspi.Kerberos, false, false, false, false, 1},
		{"kerberos/ccache/mutual/final-ap-rep", sspi.Kerberos, false, false, false, true, 2},
	}
	for mname, newModel := range models {
		t.Run(mname, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					model := newModel()
					s := simtest.Serve(t, model, nil)
					acc := k.Acceptor(t, krbaccept.Options{Realm: k.Name, MechListMIC: tc.mic})
					simsspi.Install(model.Map(), acc, simsspi.Options{ChallengeFinalToken: tc.final})
					c := simtest.Client(t, s)
					in := &countingInitiator{Initiator: k.Initiator(t, tc.pkg, spn, tc.keytab, tc.noMutual)}
					ctx := context.Background()
					us, err := sspi.Login(ctx, c, in, "en_US")
					if err != nil {
						t.Fatalf("Login: %v", err)
					}
					if us.UserName != `ESXI.TEST\alice` || us.FullName != "alice@ESXI.TEST" || us.Locale != "en_US" {
						t.Fatalf("session %+v", us)
					}
					if in.steps != tc.legs {
						t.Fatalf("legs = %d, want %d", in.steps, tc.legs)
					}
					// The session works for normal calls.
					cur, err := session.NewManager(c).UserSession(ctx)
					if err != nil || cur == nil {
						t.Fatalf("UserSession: %v %v", cur, err)
					}
					if cur.UserName != `ESXI.TEST\alice` || cur.Key != us.Key {
						t.Fatalf("current session %q/%q, login %q/%q", cur.UserName, cur.Key, us.UserName, us.Key)
					}
					hosts, err := find.NewFinder(c).HostSystemList(ctx, "*")
					if err != nil || len(hosts) == 0 {
						t.Fatalf("HostSystemList: %v", err)
					}
					// Logging in again on a live session is refused.
					again := k.Initiator(t, tc.pkg, spn, tc.keytab, tc.noMutual)
					if _, err := sspi.Login(ctx, c, again, ""); !errors.Is(err, vfault.InvalidLogin) {
						t.Fatalf("second login: %v", err)
					}
				})
			}
		})
	}
}

func TestLoginBySSPIFailures(t *testing.T) {
	k := krbtest.NewFixture(t, spn, "bob")
	model := simulator.VPX()
	s := simtest.Serve(t, model, nil)
	acc := k.Acceptor(t, krbaccept.Options{MechListMIC: true})
	srv := simsspi.Install(model.Map(), acc, simsspi.Options{AllowedPrincipals: []string{`ESXI.TEST\alice`}})
	ctx := context.Background()

	t.Run("not-allowed", func(t *testing.T) {
		c := simtest.Client(t, s)
		_, err := sspi.Login(ctx, c, k.InitiatorConfig(t, sspi.Config{Package: sspi.Negotiate, SPN: spn, Keytab: k.Keytab("bob", true), Principal: "bob"}), "")
		if !errors.Is(err, vfault.NoPermission) || !fault.Is(err, &types.NoPermission{}) {
			t.Fatalf("err = %v", err)
		}
		// The pending session was dropped: the client is anonymous.
		if us, err := session.NewManager(c).UserSession(ctx); err != nil || us != nil {
			t.Fatalf("still has a session: %+v %v", us, err)
		}
		if _, err := currentTime(c); !fault.Is(err, &types.NotAuthenticated{}) {
			t.Fatalf("CurrentTime after NoPermission: %v", err)
		}
		// And may log in properly afterwards.
		if _, err := sspi.Login(ctx, c, k.Initiator(t, sspi.Negotiate, spn, true, false), ""); err != nil {
			t.Fatalf("login after failure: %v", err)
		}
	})

	t.Run("bad-locale", func(t *testing.T) {
		c := simtest.Client(t, s)
		_, err := sspi.Login(ctx, c, k.Initiator(t, sspi.Negotiate, spn, true, false), "english!")
		if !errors.Is(err, vfault.InvalidLocale) {
			t.Fatalf("err = %v", err)
		}
	})

	rawLogin := func(c *vim25.Client, tok []byte) error {
		_, err := methods.LoginBySSPI(ctx, c, &types.LoginBySSPI{This: *c.ServiceContent.SessionManager, Base64Token: base64.StdEncoding.EncodeToString(tok)})
		return err
	}

	t.Run("replayed-token", func(t *testing.T) {
		in := k.Initiator(t, sspi.Kerberos, spn, true, true)
		tok, _, err := in.Step(nil)
		if err != nil {
			t.Fatal(err)
		}
		c1 := simtest.Client(t, s)
		if err := rawLogin(c1, tok); err != nil {
			t.Fatalf("first use: %v", err)
		}
		c2 := simtest.Client(t, s)
		if err := rawLogin(c2, tok); !fault.Is(err, &types.InvalidLogin{}) {
			t.Fatalf("replay: %v", err)
		}
	})

	t.Run("tampered-token", func(t *testing.T) {
		in := k.Initiator(t, sspi.Negotiate, spn, true, true)
		tok, _, err := in.Step(nil)
		if err != nil {
			t.Fatal(err)
		}
		tok[len(tok)-7] ^= 0xff
		if err := rawLogin(simtest.Client(t, s), tok); !fault.Is(err, &types.InvalidLogin{}) {
			t.Fatalf("tampered: %v", err)
		}
	})

	t.Run("pending-session-is-not-authenticated", func(t *testing.T) {
		c := simtest.Client(t, s)
		in := k.Initiator(t, sspi.Negotiate, spn, true, false)
		tok, _, err := in.Step(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rawLogin(c, tok); !fault.Is(err, &types.SSPIChallenge{}) {
			t.Fatalf("leg 1: %v", err)
		}
		// With only the pending cookie, privileged calls fail...
		if _, err := currentTime(c); !fault.Is(err, &types.NotAuthenticated{}) {
			t.Fatalf("CurrentTime during conversation: %v", err)
		}
		// ...and the current session is empty.
		if us, err := session.NewManager(c).UserSession(ctx); err != nil || us != nil {
			t.Fatalf("UserSession during conversation: %+v %v", us, err)
		}
		// A wrong second-leg token (a NegTokenResp without the mechListMIC)
		// ends the conversation with InvalidLogin.
		bad := []byte{0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x00}
		if err := rawLogin(c, bad); !fault.Is(err, &types.InvalidLogin{}) {
			t.Fatalf("bad leg 2: %v", err)
		}
		if _, err := currentTime(c); !fault.Is(err, &types.NotAuthenticated{}) {
			t.Fatalf("CurrentTime after failure: %v", err)
		}
		// The same client can then complete a login and make the call.
		if _, err := sspi.Login(ctx, c, k.Initiator(t, sspi.Negotiate, spn, true, false), ""); err != nil {
			t.Fatalf("login after failed conversation: %v", err)
		}
		if _, err := currentTime(c); err != nil {
			t.Fatalf("CurrentTime after login: %v", err)
		}
	})

	t.Run("wrong-spn", func(t *testing.T) {
		k.AddPrincipal("host/other.test", "")
		in := k.Initiator(t, sspi.Negotiate, "host/other.test", true, false)
		if _, err := sspi.Login(ctx, simtest.Client(t, s), in, ""); !errors.Is(err, vfault.InvalidLogin) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("not-supported", func(t *testing.T) {
		m2 := simulator.ESX()
		s2 := simtest.Serve(t, m2, nil)
		simsspi.Install(m2.Map(), acc, simsspi.Options{NotSupported: true})
		_, err := sspi.Login(ctx, simtest.Client(t, s2), k.Initiator(t, sspi.Negotiate, spn, true, false), "")
		if !errors.Is(err, vfault.NotSupported) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("uninstalled", func(t *testing.T) {
		srv.Uninstall()
		defer simsspi.Install(model.Map(), acc, simsspi.Options{})
		_, err := sspi.Login(ctx, simtest.Client(t, s), k.Initiator(t, sspi.Negotiate, spn, true, false), "")
		if !fault.Is(err, &types.NotAuthenticated{}) {
			t.Fatalf("without the hook: %v", err)
		}
	})
}

func currentTime(c *vim25.Client) (*types.CurrentTimeResponse, error) {
	return methods.CurrentTime(context.Background(), c, &types.CurrentTime{This: vim25.ServiceInstance})
}

func TestDefaultUserName(t *testing.T) {
	for in, want := range map[string]string{"alice@ESXI.TEST": `ESXI.TEST\alice`, "host/x@R": `R\host/x`, "nobody": "nobody"} {
		if got := simsspi.DefaultUserName(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

// TestChallengeFinalToken: the acceptor's final token (here the AP-REP of
// raw Kerberos) comes as an SSPIChallenge; only the initiator's empty
// output completes the login.
func TestChallengeFinalToken(t *testing.T) {
	k := krbtest.NewFixture(t, spn, "bob")
	model := simulator.VPX()
	s := simtest.Serve(t, model, nil)
	acc := k.Acceptor(t, krbaccept.Options{})
	simsspi.Install(model.Map(), acc, simsspi.Options{ChallengeFinalToken: true})
	ctx := context.Background()
	login := func(c *vim25.Client, tok []byte) (*types.LoginBySSPIResponse, error) {
		return methods.LoginBySSPI(ctx, c, &types.LoginBySSPI{This: *c.ServiceContent.SessionManager, Base64Token: base64.StdEncoding.EncodeToString(tok)})
	}
	challenge := func(err error) []byte {
		t.Helper()
		var ch *types.SSPIChallenge
		if _, ok := fault.As(err, &ch); !ok {
			t.Fatalf("want SSPIChallenge, got %v", err)
		}
		b, _ := base64.StdEncoding.DecodeString(ch.Base64Token)
		return b
	}

	t.Run("empty-answer-logs-in", func(t *testing.T) {
		c := simtest.Client(t, s)
		in := k.Initiator(t, sspi.Kerberos, spn, true, false)
		tok, _, _ := in.Step(nil)
		_, err := login(c, tok)
		ans, done, err := in.Step(challenge(err))
		if err != nil || !done || len(ans) != 0 {
			t.Fatalf("client on the AP-REP: done=%v answer %d bytes err=%v", done, len(ans), err)
		}
		res, err := login(c, ans)
		if err != nil || res.Returnval.UserName != `ESXI.TEST\alice` {
			t.Fatalf("close: %+v %v", res, err)
		}
	})
	t.Run("other-answer-is-refused", func(t *testing.T) {
		c := simtest.Client(t, s)
		in := k.Initiator(t, sspi.Kerberos, spn, true, false)
		tok, _, _ := in.Step(nil)
		_, err := login(c, tok)
		challenge(err)
		if _, err := login(c, []byte{0xa1, 0x00}); !fault.Is(err, &types.InvalidLogin{}) {
			t.Fatalf("non-empty answer: %v", err)
		}
		if _, err := currentTime(c); !fault.Is(err, &types.NotAuthenticated{}) {
			t.Fatalf("CurrentTime after failure: %v", err)
		}
	})
	t.Run("empty-token-without-conversation", func(t *testing.T) {
		if _, err := login(simtest.Client(t, s), nil); !fault.Is(err, &types.InvalidLogin{}) {
			t.Fatalf("empty first token: %v", err)
		}
	})
}
