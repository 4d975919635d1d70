package esxsim

import (
	"net/url"
	"testing"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// TestSessionGauge: two hosts sharing a gauge count the sessions open on
// both: a successful Login opens one, Logout or the host ending it closes
// it, a refused Login opens none; Peak keeps the most open at once.
func TestSessionGauge(t *testing.T) {
	g := &SessionGauge{}
	a, b := start(t, Options{Sessions: g}), start(t, Options{Sessions: g})
	if a.Sessions() != g || b.Sessions() != g {
		t.Fatal("the hosts do not count in the shared gauge")
	}
	if own := start(t, Options{}); own.Sessions() == nil || own.Sessions() == g {
		t.Fatal("a host without Options.Sessions has no gauge of its own")
	}
	ctx := testContext(t)
	login := func(s *Server, pw string) (*vim25.Client, *session.Manager, error) {
		c := dialEndpoint(t, s.endpoint)
		sm := session.NewManager(c)
		return c, sm, sm.Login(ctx, url.UserPassword(s.URL.User.Username(), pw))
	}
	pw := func(s *Server) string { p, _ := s.URL.User.Password(); return p }
	_, sa, err := login(a, pw(a))
	if err != nil {
		t.Fatal(err)
	}
	cb, _, err := login(b, pw(b))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := login(a, "Wrong#Pass-1234"); err == nil {
		t.Fatal("a wrong password logged in")
	}
	if g.Open() != 2 || g.Peak() != 2 {
		t.Fatalf("after two logins and a refused one: open %d, peak %d", g.Open(), g.Peak())
	}
	if err := sa.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if g.Open() != 1 || g.Peak() != 2 {
		t.Fatalf("after a logout: open %d, peak %d", g.Open(), g.Peak())
	}
	// The host ends b's session at its next call.
	b.ExpireSessionAt(b.Requests() + 1)
	methods.CurrentTime(ctx, cb, &types.CurrentTime{This: vim25.ServiceInstance})
	if g.Open() != 0 {
		t.Fatalf("after the host ended a session: open %d", g.Open())
	}
	g.ResetPeak()
	if g.Peak() != 0 {
		t.Fatalf("peak after reset: %d", g.Peak())
	}
}
