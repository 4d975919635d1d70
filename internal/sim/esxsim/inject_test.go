package esxsim

import (
	"crypto/tls"
	"net/url"
	"sync"
	"testing"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// A session the host ended is answered NotAuthenticated ("Thrown when an
// operation is denied because the session has not yet successfully logged
// in", vim.fault.NotAuthenticated; hosts end idle sessions, VMware KB
// 2040626, and all of them when hostd restarts), on that call and every
// later one, without effect, until the client logs in again.
func TestExpireSessionAt(t *testing.T) {
	for _, vc := range []bool{false, true} {
		name := map[bool]string{false: "esx", true: "vcenter"}[vc]
		t.Run(name, func(t *testing.T) {
			var ep *endpoint
			var user, pw string
			if vc {
				v := startVC(t, VCenterOptions{Hosts: 1})
				ep = v.endpoint
			} else {
				s := start(t, Options{})
				ep = s.endpoint
			}
			user = ep.URL.User.Username()
			pw, _ = ep.URL.User.Password()
			c := dialEndpoint(t, ep)
			ctx := testContext(t)
			sm := session.NewManager(c)
			if err := sm.Login(ctx, url.UserPassword(user, pw)); err != nil {
				t.Fatal(err)
			}
			// CurrentTime needs a session (vcsim lets RetrieveProperties
			// through without one).
			now := func() error {
				_, err := methods.CurrentTime(ctx, c, &types.CurrentTime{This: vim25.ServiceInstance})
				return err
			}
			ep.ExpireSessionAt(ep.Requests() + 2)
			if err := now(); err != nil { // request k-1: fine
				t.Fatalf("before k: %v", err)
			}
			wantFault[*types.NotAuthenticated](t, now()) // request k
			wantFault[*types.NotAuthenticated](t, now()) // the session is gone
			if ep.ExpiredSessions() != 1 {
				t.Errorf("ExpiredSessions = %d", ep.ExpiredSessions())
			}
			if err := sm.Login(ctx, url.UserPassword(user, pw)); err != nil {
				t.Fatalf("login again: %v", err)
			}
			if err := now(); err != nil {
				t.Fatalf("after login again: %v", err)
			}
			if ep.ExpiredSessions() != 1 {
				t.Errorf("more than one session ended: %d", ep.ExpiredSessions())
			}
		})
	}
}

// A write on an expired session has no effect.
func TestExpiredSessionWritesNothing(t *testing.T) {
	s := start(t, Options{})
	c := root(t, s)
	s.ExpireSessionsWhen(func(_ int, method string) bool { return method == "CreateUser" })
	err := accounts(c).Create(testContext(t), &types.HostAccountSpec{Id: "u1", Password: "S3cr3tP455!x"})
	wantFault[*types.NotAuthenticated](t, err)
	s.ExpireSessionsWhen(nil)
	if _, ok := users(t, root(t, s))["u1"]; ok {
		t.Error("CreateUser on an expired session created the user")
	}
}

// LoginRequests counts refused logins too; OnRequest sees every request in
// order.
func TestRequestHookAndLoginCount(t *testing.T) {
	s := start(t, Options{})
	var mu sync.Mutex
	var seen []string
	s.OnRequest(func(n int, method string) {
		mu.Lock()
		defer mu.Unlock()
		if n != len(seen)+1 {
			t.Errorf("request %d after %d", n, len(seen))
		}
		seen = append(seen, method)
	})
	if _, err := login(t, s, "root", "wrong-Passw0rd"); err == nil {
		t.Fatal("wrong password accepted")
	}
	root(t, s)
	if s.LoginRequests() != 2 || s.Logins() != 1 {
		t.Errorf("LoginRequests %d, Logins %d; want 2, 1", s.LoginRequests(), s.Logins())
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"RetrieveServiceContent", "Login", "RetrieveServiceContent", "Login"}
	if len(seen) != len(want) {
		t.Fatalf("seen %v", seen)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("request %d = %s, want %s", i+1, seen[i], want[i])
		}
	}
}

// dialEndpoint is dial for a Server or a VCenter.
func dialEndpoint(t *testing.T, ep *endpoint) *vim25.Client {
	t.Helper()
	u := *ep.URL
	u.User = nil
	sc := soap.NewClient(&u, false)
	sc.DefaultTransport().TLSClientConfig = &tls.Config{RootCAs: certPool(t, ep.CertPEM)}
	c, err := vim25.NewClient(testContext(t), sc)
	if err != nil {
		t.Fatalf("vim25.NewClient: %v", err)
	}
	return c
}
