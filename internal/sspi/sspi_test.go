package sspi_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
	"github.com/esxi-users/esxi-users/internal/sim/simsspi"
	"github.com/esxi-users/esxi-users/internal/sspi"
	"github.com/esxi-users/esxi-users/internal/testsupport/krbtest"
	"github.com/esxi-users/esxi-users/internal/testsupport/simtest"
	"github.com/esxi-users/esxi-users/internal/vfault"
)

const spn = "host/esx.test"

func TestLoginRealKerberos(t *testing.T) {
	r := krbtest.Start(t)
	r.AddPrincipal("alice", "alice-pw")
	r.AddPrincipal("carol", "carol-pw")
	r.AddPrincipal(spn, "")
	staleKT := r.Keytab(spn, false)
	svcKT := r.Keytab(spn, false) // rotates the key: staleKT no longer matches
	aliceKT := r.Keytab("alice", true)
	cc := r.Kinit("alice", "alice-pw")
	ccCarol := r.Kinit("carol", "carol-pw")
	ctx := context.Background()

	cases := []struct {
		name    string
		cfg     sspi.Config
		keytab  string
		mic     bool // krbaccept.Options.MechListMIC
		final   bool // simsspi.Options.ChallengeFinalToken
		allowed []string
		wantErr error
		user    string
		calls   int
	}{
		{name: "ccache/negotiate", cfg: sspi.Config{CCache: "FILE:" + cc}, keytab: svcKT, user: `ESXI.TEST\alice`, calls: 1},
		{name: "ccache-env-style-path/kerberos/final-ap-rep", cfg: sspi.Config{Package: sspi.Kerberos, CCache: cc}, keytab: svcKT, final: true, user: `ESXI.TEST\alice`, calls: 2},
		{name: "keytab/negotiate/mechlistmic", cfg: sspi.Config{Keytab: aliceKT, Principal: "alice@ESXI.TEST"}, keytab: svcKT, mic: true, user: `ESXI.TEST\alice`, calls: 2},
		{name: "keytab/negotiate/final-token", cfg: sspi.Config{Keytab: aliceKT, Principal: "alice@ESXI.TEST"}, keytab: svcKT, final: true, user: `ESXI.TEST\alice`, calls: 2},
		{name: "keytab/kerberos/one-leg", cfg: sspi.Config{Package: sspi.Kerberos, Keytab: aliceKT, Principal: "alice", NoMutual: true}, keytab: svcKT, final: true, user: `ESXI.TEST\alice`, calls: 1},
		{name: "stale-service-keytab", cfg: sspi.Config{CCache: cc}, keytab: staleKT, wantErr: vfault.InvalidLogin},
		{name: "stale-service-keytab/kerberos", cfg: sspi.Config{Package: sspi.Kerberos, CCache: cc}, keytab: staleKT, wantErr: vfault.InvalidLogin},
		{name: "not-allowed", cfg: sspi.Config{CCache: ccCarol}, keytab: svcKT, allowed: []string{"alice@ESXI.TEST"}, wantErr: vfault.NoPermission},
		{name: "allowed-by-user-name", cfg: sspi.Config{CCache: ccCarol}, keytab: svcKT, allowed: []string{`ESXI.TEST\carol`}, user: `ESXI.TEST\carol`, calls: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			model := simulator.ESX()
			c := simtest.Client(t, simtest.Serve(t, model, nil))
			acc, err := krbaccept.New(krbaccept.Options{KeytabPath: tc.keytab, SPN: spn, MechListMIC: tc.mic})
			if err != nil {
				t.Fatal(err)
			}
			simsspi.Install(model.Map(), acc, simsspi.Options{AllowedPrincipals: tc.allowed, ChallengeFinalToken: tc.final})
			calls := countLogins(model)
			cfg := tc.cfg
			cfg.SPN, cfg.Krb5Conf = spn, r.Krb5Conf()
			in, err := sspi.NewInitiator(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			us, err := sspi.Login(ctx, c, in, "")
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			cur, err := session.NewManager(c).UserSession(ctx)
			if err != nil || cur == nil || cur.UserName != tc.user || us.UserName != tc.user {
				t.Fatalf("session %+v / %+v, %v; want user %s", us, cur, err, tc.user)
			}
			if *calls != tc.calls {
				t.Fatalf("LoginBySSPI calls = %d, want %d", *calls, tc.calls)
			}
		})
	}
}

// countLogins counts the LoginBySSPI calls model's server receives (a
// Registry.Handler in front of simsspi's, to which it passes every call).
func countLogins(model *simulator.Model) *int {
	n := new(int)
	prev := model.Map().Handler
	model.Map().Handler = func(ctx *simulator.Context, m *simulator.Method) (mo.Reference, types.BaseMethodFault) {
		if m.Name == "LoginBySSPI" {
			*n++
		}
		if prev != nil {
			return prev(ctx, m)
		}
		return nil, nil
	}
	return n
}

func TestNewInitiatorConfig(t *testing.T) {
	dir := t.TempDir()
	for name, cfg := range map[string]sspi.Config{
		"bad-package":     {Package: "NTLM", SPN: spn},
		"no-spn":          {},
		"spn-with-realm":  {SPN: spn + "@ESXI.TEST"},
		"missing-conf":    {SPN: spn, Krb5Conf: filepath.Join(dir, "nope.conf")},
		"keytab-no-princ": {SPN: spn, Keytab: filepath.Join(dir, "nope.keytab")},
	} {
		if in, err := sspi.NewInitiator(cfg); err == nil {
			in.Close()
			t.Errorf("%s: no error", name)
		}
	}
	if got := sspi.SPNFor("vc.example.com"); got != "host/vc.example.com" {
		t.Errorf("SPNFor = %q", got)
	}
}

// scripted is a non-Kerberos initiator for exercising the Login loop: its
// Step n returns the token {n} (empty when done and emptyWhenDone).
type scripted struct {
	steps         int
	doneAt        int // Step number (1-based) at which done is reported; 0 = never
	emptyWhenDone bool
	noFirst       bool
	tokens        [][]byte
}

func (s *scripted) Step(ch []byte) ([]byte, bool, error) {
	s.steps++
	s.tokens = append(s.tokens, ch)
	done := s.doneAt != 0 && s.steps >= s.doneAt
	if (done && s.emptyWhenDone) || (s.steps == 1 && s.noFirst) {
		return nil, done, nil
	}
	return []byte{byte(s.steps)}, done, nil
}
func (s *scripted) Close() error { return nil }

// challenger answers LoginBySSPI with an SSPIChallenge echoing the token
// (with a session once succeedAt calls were made), or with a fixed fault.
// It records the tokens it received.
type challenger struct {
	calls     int
	succeedAt int
	fault     types.BaseMethodFault
	got       []string
}

var challengerRef = types.ManagedObjectReference{Type: "TestSSPI", Value: "test-sspi"}

func (c *challenger) Reference() types.ManagedObjectReference { return challengerRef }

func (c *challenger) Login(ctx *simulator.Context, req *types.LoginBySSPI) soap.HasFault {
	c.calls++
	c.got = append(c.got, req.Base64Token)
	if c.succeedAt != 0 && c.calls >= c.succeedAt {
		return &methods.LoginBySSPIBody{Res: &types.LoginBySSPIResponse{Returnval: types.UserSession{Key: "k", UserName: `R\u`}}}
	}
	f := c.fault
	if f == nil {
		f = &types.SSPIChallenge{Base64Token: req.Base64Token}
	}
	return &methods.LoginBySSPIBody{Fault_: simulator.Fault("", f)}
}

// TestLoginLoop: the loop's rules (package documentation), with the SSPI
// documentation they follow.
func TestLoginLoop(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name      string
		fault     types.BaseMethodFault
		in        scripted
		succeedAt int
		wantErr   error
		wantCalls int
		wantSent  []string // base64 tokens the server received
	}{
		{name: "endless-challenges", wantErr: sspi.ErrTooManyLegs, wantCalls: sspi.MaxLegs},
		// ISC: "If the return code is SEC_E_OK, there will be no second
		// InitializeSecurityContext call, and no response from the server
		// is expected"; [MS-NNS] 3.1.5.4: a further in-progress message fails.
		{name: "challenge-after-done", in: scripted{doneAt: 2}, wantErr: sspi.ErrUnexpectedChallenge, wantCalls: 2, wantSent: []string{"AQ==", "Ag=="}},
		{name: "challenge-after-first-token-done", in: scripted{doneAt: 1}, wantErr: sspi.ErrUnexpectedChallenge, wantCalls: 1},
		// ISC SEC_E_OK: "If the function returns an output token … that
		// token must be sent to the server"; an empty one too, as [MS-NNS]
		// 3.1.5.1 sends it with HandshakeDone: the server waits for a call.
		{name: "empty-final-output-is-sent", in: scripted{doneAt: 2, emptyWhenDone: true}, succeedAt: 2, wantCalls: 2, wantSent: []string{"AQ==", ""}},
		{name: "final-output-is-sent", in: scripted{doneAt: 2}, succeedAt: 2, wantCalls: 2, wantSent: []string{"AQ==", "Ag=="}},
		// The server completes before the initiator saw its reply: accepted.
		{name: "server-completes-first", succeedAt: 1, wantCalls: 1},
		{name: "three-legs", succeedAt: 3, wantCalls: 3, wantSent: []string{"AQ==", "Ag==", "Aw=="}},
		{name: "no-first-token", in: scripted{noFirst: true}, wantErr: sspi.ErrNoToken, wantCalls: 0},
		{name: "invalid-login", fault: &types.InvalidLogin{}, wantErr: vfault.InvalidLogin, wantCalls: 1},
		{name: "no-permission", fault: &types.NoPermission{}, wantErr: vfault.NoPermission, wantCalls: 1},
		{name: "invalid-locale", fault: &types.InvalidLocale{}, wantErr: vfault.InvalidLocale, wantCalls: 1},
		{name: "not-supported", fault: &types.NotSupported{}, wantErr: vfault.NotSupported, wantCalls: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			model := simulator.VPX()
			c := simtest.Client(t, simtest.Serve(t, model, nil))
			h := &challenger{fault: tc.fault, succeedAt: tc.succeedAt}
			model.Map().Handler = func(_ *simulator.Context, m *simulator.Method) (mo.Reference, types.BaseMethodFault) {
				if m.Name == "LoginBySSPI" {
					m.Name, m.This = "Login", challengerRef
					return h, nil
				}
				return nil, nil
			}
			in := tc.in
			us, err := sspi.Login(ctx, c, &in, "")
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (us == nil || us.UserName != `R\u`) {
				t.Fatalf("session %+v", us)
			}
			if tc.fault != nil && !fault.Is(err, tc.fault) {
				t.Fatalf("the server fault is not reachable with fault.Is: %v", err)
			}
			if tc.fault != nil {
				var mf types.BaseMethodFault
				if _, ok := fault.As(err, &mf); !ok || mf == nil {
					t.Fatalf("the server fault is not reachable with fault.As: %v", err)
				}
			}
			if h.calls != tc.wantCalls {
				t.Fatalf("LoginBySSPI calls = %d, want %d", h.calls, tc.wantCalls)
			}
			if tc.wantSent != nil && strings.Join(h.got, ",") != strings.Join(tc.wantSent, ",") {
				t.Fatalf("server received %q, want %q", h.got, tc.wantSent)
			}
			// Each challenge reached the initiator decoded.
			for i, tok := range in.tokens[1:] {
				if len(tok) != 1 || tok[0] != byte(i+1) {
					t.Fatalf("challenge %d = %v", i, tok)
				}
			}
		})
	}
}
