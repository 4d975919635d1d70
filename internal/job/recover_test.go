package job

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

// simConfig is a run against sim with its root password.
func simConfig(sim *esxsim.Server, doc string) Config {
	pw, _ := sim.URL.User.Password()
	return Config{
		Connection: Connection{
			Server: sim.URL.Host, Username: "root", Password: params.NewPassword(pw), Thumbprint: sim.Thumbprint,
			Retry: tasks.RetryPolicy{Backoff: time.Millisecond},
		},
		Options: Options{Input: []byte(doc)},
	}
}

func startSim(t *testing.T) *esxsim.Server {
	t.Helper()
	sim, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// rootClient is an independent govmomi session on sim as root.
func rootClient(t *testing.T, sim *esxsim.Server) *vim25.Client {
	t.Helper()
	ctx := context.Background()
	c, logout, err := sim.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(logout)
	return c
}

// A refused login is final: exactly one Login request, exit 3. (Real ESXi
// locks an account after Security.AccountLockFailures failed logins; a
// retry loop must never be what locks root out.)
func TestRefusedLoginIsFinal(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, sim *esxsim.Server, cfg *Config)
		want  string
	}{
		{"InvalidLogin", func(t *testing.T, _ *esxsim.Server, cfg *Config) {
			cfg.Password = params.NewPassword("Wr0ng-Passw0rd!")
		}, "InvalidLogin"},
		{"NoPermission", func(t *testing.T, sim *esxsim.Server, cfg *Config) {
			c := rootClient(t, sim)
			am := object.NewHostAccountManager(c, *c.ServiceContent.AccountManager)
			if err := am.Create(context.Background(), &types.HostAccountSpec{Id: "noaccess", Password: "N0-Access!pw"}); err != nil {
				t.Fatal(err)
			}
			cfg.Username, cfg.Password = "noaccess", params.NewPassword("N0-Access!pw")
		}, "NoPermission"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t)
			cfg := simConfig(sim, seed)
			tt.setup(t, sim, &cfg)
			l0 := sim.LoginRequests()
			_, err := Run(context.Background(), cfg)
			if errkind.ExitCode(err) != errkind.ExitConnect || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v", err)
			}
			if n := sim.LoginRequests() - l0; n != 1 {
				t.Errorf("%d Login requests, want exactly 1", n)
			}
		})
	}
}

// A session that expires while the password has been changed: the one
// login again is refused, and then no more Login is sent; the entry fails
// and the host could not be read (observed null).
func TestReloginRefusedIsFinal(t *testing.T) {
	sim := startSim(t)
	c := rootClient(t, sim)
	am := object.NewHostAccountManager(c, *c.ServiceContent.AccountManager)
	ctx := context.Background()
	if err := am.Create(ctx, &types.HostAccountSpec{Id: "admin2", Password: "Adm1n-Two!pw"}); err != nil {
		t.Fatal(err)
	}
	authz := object.NewAuthorizationManager(c)
	if err := authz.SetEntityPermissions(ctx, c.ServiceContent.RootFolder, []types.Permission{{Principal: "admin2", RoleId: -1, Propagate: true}}); err != nil {
		t.Fatal(err)
	}
	cfg := simConfig(sim, seed)
	cfg.Username, cfg.Password = "admin2", params.NewPassword("Adm1n-Two!pw")
	// When the run's CreateUser arrives, another administrator changes
	// admin2's password, and the host ends admin2's session.
	expired := false
	sim.ExpireSessionsWhen(func(_ int, method string) bool {
		if method == "CreateUser" && !expired {
			expired = true
			return true
		}
		return false
	})
	sim.OnRequest(func(_ int, method string) {
		if method == "CreateUser" {
			sim.OnRequest(nil)
			if err := am.Update(ctx, &types.HostAccountSpec{Id: "admin2", Password: "Ch4nged-Pw!x"}); err != nil {
				t.Error(err)
			}
		}
	})
	l0 := sim.LoginRequests()
	rep, err := Run(context.Background(), cfg)
	if !errors.Is(err, errkind.ErrApply) || !strings.Contains(err.Error(), "InvalidLogin") {
		t.Fatalf("err = %v", err)
	}
	if n := sim.LoginRequests() - l0; n != 2 {
		t.Errorf("%d Login requests, want 2 (the first, one login again)", n)
	}
	if r := rep.Results[0]; r.Outcome != tasks.Failed || r.Observed == nil || !r.Observed.Unreadable {
		t.Errorf("entry 1 = %+v", r)
	}
}

// Retries add no request to a fault-free run: the seed costs what it cost
// before recovery existed (16 requests directly, 16 through vCenter: connect
// and log in 2, read 7 (vCenter 7: find the host 3, its esxcli executer, the
// account list, access entries, policy), 6 writes, log out 1), plus the one
// least-privilege question before the first write (HasPrivilegeOnEntities
// with the key the login returned), and one login.
func TestFaultFreeRequestCount(t *testing.T) {
	sim := startSim(t)
	if _, err := Run(context.Background(), simConfig(sim, seed)); err != nil {
		t.Fatal(err)
	}
	if sim.Requests() != 17 || sim.Logins() != 1 || sim.LoginRequests() != 1 {
		t.Errorf("direct: %d requests, %d logins (%d Login requests); want 17, 1, 1", sim.Requests(), sim.Logins(), sim.LoginRequests())
	}

	vc, err := esxsim.StartVCenter(esxsim.VCenterOptions{Hosts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	pw, _ := vc.URL.User.Password()
	cfg := Config{
		Connection: Connection{Server: vc.URL.Host, Username: vc.URL.User.Username(), Password: params.NewPassword(pw), Thumbprint: vc.Thumbprint},
		Options:    Options{Input: []byte(seed)},
		ViHost:     vc.Hosts[0],
	}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if vc.Requests() != 17 || vc.Logins() != 1 {
		t.Errorf("through vCenter: %d requests, %d logins; want 17, 1", vc.Requests(), vc.Logins())
	}
}

// Another writer changes the host between the run's read and its write (on
// the real stack: the change is made by an independent client when the
// write reaches the simulator): the run converges.
func TestConvergesWithAnotherWriter(t *testing.T) {
	tests := []struct {
		name, doc, at string
		other         func(ctx context.Context, am *object.HostAccountManager) error
		setup         func(ctx context.Context, am *object.HostAccountManager) error
		want          tasks.Outcome
	}{
		{
			name: "add meets AlreadyExists", at: "CreateUser",
			doc: `[{id: u1, operation: add, description: Mine, password: S3cr3tP455!, role: Admin}]`,
			other: func(ctx context.Context, am *object.HostAccountManager) error {
				return am.Create(ctx, &types.HostAccountSpec{Id: "u1", Description: "Theirs", Password: "Th31rs-Pw!x"})
			},
			want: tasks.Updated,
		},
		{
			name: "set meets UserNotFound", at: "UpdateUser",
			doc: `[{id: u1, operation: set, description: Mine, password: S3cr3tP455!, role: Admin}]`,
			setup: func(ctx context.Context, am *object.HostAccountManager) error {
				return am.Create(ctx, &types.HostAccountSpec{Id: "u1", Description: "Theirs", Password: "Th31rs-Pw!x"})
			},
			other: func(ctx context.Context, am *object.HostAccountManager) error { return am.Remove(ctx, "u1") },
			want:  tasks.Created,
		},
		{
			name: "remove meets UserNotFound", at: "RemoveUser",
			doc: `[{id: u1, operation: remove}]`,
			setup: func(ctx context.Context, am *object.HostAccountManager) error {
				return am.Create(ctx, &types.HostAccountSpec{Id: "u1", Description: "Theirs", Password: "Th31rs-Pw!x"})
			},
			other: func(ctx context.Context, am *object.HostAccountManager) error { return am.Remove(ctx, "u1") },
			want:  tasks.Absent,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t)
			c := rootClient(t, sim)
			am := object.NewHostAccountManager(c, *c.ServiceContent.AccountManager)
			ctx := context.Background()
			if tt.setup != nil {
				if err := tt.setup(ctx, am); err != nil {
					t.Fatal(err)
				}
			}
			var done atomic.Bool
			sim.OnRequest(func(_ int, method string) {
				// (The other writer's own request comes through here too.)
				if method == tt.at && done.CompareAndSwap(false, true) {
					if err := tt.other(ctx, am); err != nil {
						t.Error(err)
					}
				}
			})
			rep, err := Run(context.Background(), simConfig(sim, tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if r := rep.Results[0]; r.Outcome != tt.want || !strings.Contains(r.Note, "another writer") {
				t.Errorf("result = %+v, want %s", r, tt.want)
			}
		})
	}
}

// A signal (the context cancelled) while a write is in flight on a host
// that does not answer: the call is given its share of the grace period,
// the entry is read back on a new connection, the report says what the
// host holds, the session is logged out, and the error is ErrInterrupted.
func TestSignalDuringUnansweredCall(t *testing.T) {
	sim := startSim(t)
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim.OnRequest(func(_ int, method string) {
		if method == "SetEntityPermissions" {
			cancel()  // the signal
			<-release // the host never answers (until the test ends)
		}
	})
	var logs bytes.Buffer
	cfg := simConfig(sim, seed)
	cfg.Grace, cfg.Log = time.Second, slog.New(slog.NewTextHandler(&logs, nil))
	rep, err := Run(ctx, cfg)
	if !errors.Is(err, errkind.ErrInterrupted) || errkind.ExitCode(err) != errkind.ExitApply {
		t.Fatalf("err = %v", err)
	}
	r := rep.Results[0]
	want := tasks.Observation{Exists: true, Description: "User One"}
	if r.Outcome != tasks.Failed || r.Observed == nil || *r.Observed != want {
		t.Errorf("entry 1 = %+v, observed %+v, want %+v", r, r.Observed, want)
	}
	for _, r := range rep.Results[1:] {
		if r.Outcome != tasks.NotRun {
			t.Errorf("entry %d = %s", r.Index+1, r.Outcome)
		}
	}
	if sim.LogoutRequests() != 1 || !strings.Contains(logs.String(), "logged out") {
		t.Errorf("%d Logout requests; log:\n%s", sim.LogoutRequests(), &logs)
	}
}
