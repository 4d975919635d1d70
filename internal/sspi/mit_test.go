package sspi_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/sim/simsspi"
	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/internal/testsupport/krbtest"
	"github.com/esxi-users/esxi-users/internal/testsupport/simtest"
	"github.com/esxi-users/esxi-users/internal/vfault"
)

// recorder remembers what the initiator did.
type recorder struct {
	sspi.Initiator
	steps int
	done  bool
	// tamper flips a bit near the end of every challenge before Step sees it.
	tamper bool
}

func (r *recorder) Step(ch []byte) ([]byte, bool, error) {
	r.steps++
	if r.tamper && len(ch) > 3 {
		ch = append([]byte(nil), ch...)
		ch[len(ch)-3] ^= 0x20
	}
	tok, done, err := r.Initiator.Step(ch)
	r.done = done
	return tok, done, err
}

// TestLoginMITAcceptor: this project's initiator (the client that will talk
// to a real vCenter) logs in to an SSPI endpoint whose acceptor is MIT's
// GSSAPI (python3-gssapi, SecurityContext(usage="accept") with the service
// keytab), a third-party implementation, through the simulator's
// LoginBySSPI. With ChallengeFinalToken the server delivers MIT's final
// token (its AP-REP, in a NegTokenResp for Negotiate) as a challenge, so the
// client must verify MIT's mutual-authentication reply and complete.
func TestLoginMITAcceptor(t *testing.T) {
	f := krbtest.NewFixture(t, spn)
	mit := f.MITAcceptor(t)
	ctx := context.Background()
	cases := []struct {
		name     string
		pkg      sspi.Package
		noMutual bool
		final    bool
		calls    int
		steps    int
		done     bool // the initiator's context completed
	}{
		{"negotiate/mutual", sspi.Negotiate, false, false, 1, 1, false},
		{"negotiate/mutual/final-token", sspi.Negotiate, false, true, 2, 2, true},
		{"negotiate/no-mutual/final-token", sspi.Negotiate, true, true, 2, 2, true},
		{"kerberos/mutual", sspi.Kerberos, false, false, 1, 1, false},
		{"kerberos/mutual/final-ap-rep", sspi.Kerberos, false, true, 2, 2, true},
		{"kerberos/no-mutual/final-token", sspi.Kerberos, true, true, 1, 1, true},
	}
	for i, tc := range cases {
		// Credentials from a kinit cache or a keytab, in turn.
		keytab := i%2 == 1
		t.Run(tc.name, func(t *testing.T) {
			model := simulator.VPX()
			c := simtest.Client(t, simtest.Serve(t, model, nil))
			simsspi.Install(model.Map(), mit, simsspi.Options{ChallengeFinalToken: tc.final})
			calls := countLogins(model)
			cfg := sspi.Config{Package: tc.pkg, SPN: spn, Krb5Conf: f.Krb5Conf(), NoMutual: tc.noMutual, CCache: f.CCache}
			if keytab {
				cfg.CCache, cfg.Keytab, cfg.Principal = "", f.UserKeytab, f.User
			}
			in, err := sspi.NewInitiator(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			rec := &recorder{Initiator: in}
			before := mit.Tokens()
			us, err := sspi.Login(ctx, c, rec, "")
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			cur, err := session.NewManager(c).UserSession(ctx)
			if err != nil || cur == nil || us.UserName != `ESXI.TEST\alice` || cur.UserName != us.UserName || us.FullName != "alice@ESXI.TEST" {
				t.Fatalf("session %+v / %+v %v", us, cur, err)
			}
			if *calls != tc.calls || rec.steps != tc.steps || rec.done != tc.done {
				t.Fatalf("calls %d, steps %d, client done %v; want %d, %d, %v", *calls, rec.steps, rec.done, tc.calls, tc.steps, tc.done)
			}
			// MIT's acceptor saw the initiator's tokens: one (the empty
			// close after a final token is the server's, not MIT's).
			if got := mit.Tokens() - before; got != 1 {
				t.Fatalf("MIT acceptor got %d tokens", got)
			}
		})
	}

	t.Run("client-rejects-forged-mit-ap-rep", func(t *testing.T) {
		for _, pkg := range []sspi.Package{sspi.Kerberos, sspi.Negotiate} {
			model := simulator.VPX()
			c := simtest.Client(t, simtest.Serve(t, model, nil))
			simsspi.Install(model.Map(), mit, simsspi.Options{ChallengeFinalToken: true})
			in, err := sspi.NewInitiator(sspi.Config{Package: pkg, SPN: spn, Krb5Conf: f.Krb5Conf(), CCache: f.CCache})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			if _, err := sspi.Login(ctx, c, &recorder{Initiator: in, tamper: true}, ""); !errors.Is(err, sspi.ErrMutualAuth) {
				t.Fatalf("%s: err = %v", pkg, err)
			}
		}
	})

	t.Run("mit-rejects-tampered-token", func(t *testing.T) {
		model := simulator.VPX()
		c := simtest.Client(t, simtest.Serve(t, model, nil))
		simsspi.Install(model.Map(), mit, simsspi.Options{})
		in, err := sspi.NewInitiator(sspi.Config{Package: sspi.Kerberos, SPN: spn, Krb5Conf: f.Krb5Conf(), CCache: f.CCache})
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		_, err = sspi.Login(ctx, c, tamperFirst{in}, "")
		if !errors.Is(err, vfault.InvalidLogin) || !fault.Is(err, &types.InvalidLogin{}) {
			t.Fatalf("err = %v", err)
		}
	})
}

// tamperFirst flips a bit inside the encrypted authenticator of the first token.
type tamperFirst struct{ sspi.Initiator }

func (t tamperFirst) Step(ch []byte) ([]byte, bool, error) {
	tok, done, err := t.Initiator.Step(ch)
	if ch == nil && len(tok) > 5 {
		tok[len(tok)-5] ^= 0x5a
	}
	return tok, done, err
}
