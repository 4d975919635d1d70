package sspi_test

import (
	"context"
	"crypto/tls"
	"errors"
	"path/filepath"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/krbaccept"
	"github.com/esxi-users/esxi-users/internal/krbtest"
	"github.com/esxi-users/esxi-users/internal/simsspi"
	"github.com/esxi-users/esxi-users/internal/sspi"
)

const spn = "host/esx.test"

func server(t *testing.T, model *simulator.Model) (*simulator.Model, *vim25.Client) {
	t.Helper()
	if err := model.Create(); err != nil {
		t.Fatal(err)
	}
	model.Service.TLS = new(tls.Config)
	s := model.Service.NewServer()
	t.Cleanup(func() { s.Close(); model.Remove() })
	c, err := vim25.NewClient(context.Background(), soap.NewClient(s.URL, true))
	if err != nil {
		t.Fatal(err)
	}
	return model, c
}

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
		second  bool
		allowed []string
		wantErr error
		user    string
	}{
		{name: "ccache/negotiate", cfg: sspi.Config{CCache: "FILE:" + cc}, keytab: svcKT, user: `ESXI.TEST\alice`},
		{name: "ccache-env-style-path/kerberos", cfg: sspi.Config{Package: sspi.Kerberos, CCache: cc}, keytab: svcKT, second: true, user: `ESXI.TEST\alice`},
		{name: "keytab/negotiate/two-legs", cfg: sspi.Config{Keytab: aliceKT, Principal: "alice@ESXI.TEST"}, keytab: svcKT, second: true, user: `ESXI.TEST\alice`},
		{name: "keytab/kerberos/one-leg", cfg: sspi.Config{Package: sspi.Kerberos, Keytab: aliceKT, Principal: "alice", NoMutual: true}, keytab: svcKT, user: `ESXI.TEST\alice`},
		{name: "stale-service-keytab", cfg: sspi.Config{CCache: cc}, keytab: staleKT, wantErr: sspi.ErrInvalidLogin},
		{name: "stale-service-keytab/kerberos", cfg: sspi.Config{Package: sspi.Kerberos, CCache: cc}, keytab: staleKT, wantErr: sspi.ErrInvalidLogin},
		{name: "not-allowed", cfg: sspi.Config{CCache: ccCarol}, keytab: svcKT, allowed: []string{"alice@ESXI.TEST"}, wantErr: sspi.ErrNoPermission},
		{name: "allowed-by-user-name", cfg: sspi.Config{CCache: ccCarol}, keytab: svcKT, allowed: []string{`ESXI.TEST\carol`}, user: `ESXI.TEST\carol`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			model, c := server(t, simulator.ESX())
			acc, err := krbaccept.New(krbaccept.Options{KeytabPath: tc.keytab, SPN: spn, RequireSecondLeg: tc.second})
			if err != nil {
				t.Fatal(err)
			}
			simsspi.Install(model.Map(), acc, simsspi.Options{AllowedPrincipals: tc.allowed})
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
		})
	}
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

// scripted is a non-Kerberos initiator for exercising the Login loop.
type scripted struct {
	steps  int
	doneAt int // Step number (1-based) at which done is reported; 0 = never
	tokens [][]byte
}

func (s *scripted) Step(ch []byte) ([]byte, bool, error) {
	s.steps++
	s.tokens = append(s.tokens, ch)
	return []byte{byte(s.steps)}, s.doneAt != 0 && s.steps >= s.doneAt, nil
}
func (s *scripted) Close() error { return nil }

// challenger answers every LoginBySSPI with an SSPIChallenge echoing the
// token, or with a fixed fault.
type challenger struct {
	calls int
	fault types.BaseMethodFault
}

var challengerRef = types.ManagedObjectReference{Type: "TestSSPI", Value: "test-sspi"}

func (c *challenger) Reference() types.ManagedObjectReference { return challengerRef }

func (c *challenger) Login(ctx *simulator.Context, req *types.LoginBySSPI) soap.HasFault {
	c.calls++
	f := c.fault
	if f == nil {
		f = &types.SSPIChallenge{Base64Token: req.Base64Token}
	}
	return &methods.LoginBySSPIBody{Fault_: simulator.Fault("", f)}
}

func TestLoginLoop(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name      string
		fault     types.BaseMethodFault
		doneAt    int
		wantErr   error
		wantCalls int
	}{
		{"endless-challenges", nil, 0, sspi.ErrTooManyLegs, sspi.MaxLegs},
		{"challenge-after-done", nil, 2, sspi.ErrUnexpectedChallenge, 2},
		{"invalid-login", &types.InvalidLogin{}, 0, sspi.ErrInvalidLogin, 1},
		{"no-permission", &types.NoPermission{}, 0, sspi.ErrNoPermission, 1},
		{"invalid-locale", &types.InvalidLocale{}, 0, sspi.ErrInvalidLocale, 1},
		{"not-supported", &types.NotSupported{}, 0, sspi.ErrNotSupported, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			model, c := server(t, simulator.VPX())
			h := &challenger{fault: tc.fault}
			model.Map().Handler = func(_ *simulator.Context, m *simulator.Method) (mo.Reference, types.BaseMethodFault) {
				if m.Name == "LoginBySSPI" {
					m.Name, m.This = "Login", challengerRef
					return h, nil
				}
				return nil, nil
			}
			in := &scripted{doneAt: tc.doneAt}
			_, err := sspi.Login(ctx, c, in, "")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
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
			// Each challenge reached the initiator decoded.
			for i, tok := range in.tokens[1:] {
				if len(tok) != 1 || tok[0] != byte(i+1) {
					t.Fatalf("challenge %d = %v", i, tok)
				}
			}
		})
	}
}
