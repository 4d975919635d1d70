package esx_test

import (
	"crypto/x509"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

func dialVCenter(t *testing.T, v *esxsim.VCenter, user, pw string) *esx.VCenter {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(v.CertPEM)
	vc, err := esx.DialVCenter(vctx(t), esx.Config{Server: v.URL.Host, Username: user, Password: params.NewPassword(pw), RootCAs: pool, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("DialVCenter: %v", err)
	}
	t.Cleanup(func() { vc.Close() })
	return vc
}

// viHosts are every host of vc.
func viHosts(t *testing.T, vc *esx.VCenter) []*esx.ViHost {
	t.Helper()
	listed, err := vc.Hosts(vctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var hosts []*esx.ViHost
	for _, mh := range listed {
		h, err := vc.ViHost(mh)
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	return hosts
}

// Hosts lists every host with the name, inventory path and address the
// simulator gives it, in three requests whatever the number of hosts.
func TestVCenterHosts(t *testing.T) {
	v := startVC(t, esxsim.VCenterOptions{Hosts: 7, Clusters: 2})
	pw, _ := v.URL.User.Password()
	vc := dialVCenter(t, v, v.URL.User.Username(), pw)
	r := v.Requests()
	hosts, err := vc.Hosts(vctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := v.Requests() - r; n != 3 {
		t.Errorf("Hosts made %d requests, want 3 (create the view, read it, destroy it)", n)
	}
	var names []string
	for _, h := range hosts {
		names = append(names, h.Name)
		path, _ := v.HostPath(h.Name)
		ip, _ := v.HostIP(h.Name)
		if h.Path != path || !slices.Contains(h.Addresses, ip) {
			t.Errorf("%s: path %q addresses %v, want %q and %s", h.Name, h.Path, h.Addresses, path, ip)
		}
	}
	slices.Sort(names)
	if !reflect.DeepEqual(names, v.Hosts) {
		t.Errorf("hosts %v, want %v", names, v.Hosts)
	}
	if vc.User() != v.URL.User.Username() {
		t.Errorf("user %q", vc.User())
	}
}

// Reading a host through vCenter costs four requests: its esxcli executer,
// the account list (one ExecuteSoap: a command without options needs no
// command information), its access entries and its password policy; then
// three, the executer being known. The users read are the host's.
func TestViHostReadRequests(t *testing.T) {
	v := startVC(t, esxsim.VCenterOptions{Hosts: 2})
	pw, _ := v.URL.User.Password()
	vc := dialVCenter(t, v, v.URL.User.Username(), pw)
	h := viHosts(t, vc)[0]
	for i, want := range []int{4, 3} {
		r := v.Requests()
		snap, err := h.Read(vctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if n := v.Requests() - r; n != want {
			t.Errorf("read %d: %d requests, want %d", i+1, n, want)
		}
		if got := snap.Users["vpxuser"].Description; got != "VMware VirtualCenter administration account" || len(snap.Users) != 3 {
			t.Errorf("users %v", snap.Users)
		}
	}
}

// DialVCenter refuses an ESXi host, naming what to do instead.
func TestDialVCenterRefusesESXi(t *testing.T) {
	sim, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sim.CertPEM)
	pw, _ := sim.URL.User.Password()
	_, err = esx.DialVCenter(vctx(t), esx.Config{Server: sim.URL.Host, Username: "root", Password: params.NewPassword(pw), RootCAs: pool})
	if err == nil || !strings.Contains(err.Error(), "is not a vCenter") {
		t.Fatalf("err = %v", err)
	}
	if _, err := esx.DialVCenter(vctx(t), esx.Config{Server: sim.URL.Host}); err == nil || !strings.Contains(err.Error(), "user name") {
		t.Fatalf("no user: %v", err)
	}
}

// CheckPrivileges reads the session's privileges on every host in one
// request; each host's privilege check then answers from it: a vCenter user
// whose role is on one cluster only can run the list there and nowhere
// else.
func TestVCenterCheckPrivileges(t *testing.T) {
	const svc, svcPW = "svc@vsphere.local", "Svc#Acct-2291x"
	v := startVC(t, esxsim.VCenterOptions{Hosts: 4})
	if err := v.AddUser(svc, svcPW); err != nil {
		t.Fatal(err)
	}
	admin := dialVC(t, v)
	ctx := vctx(t)
	am := object.NewAuthorizationManager(admin.Client)
	role, err := am.AddRole(ctx, "HostUserManager", []string{"Host.Local.ManageUserGroups", "Global.Settings", "System.Read"})
	if err != nil {
		t.Fatal(err)
	}
	// The hosts' parent compute resources: DC0_H0's and the cluster's.
	grant := func(host string) {
		ref, _ := v.HostRef(host)
		parent, err := object.NewHostSystem(admin.Client, ref).ResourcePool(ctx)
		if err != nil {
			t.Fatal(err)
		}
		owner, err := parent.Owner(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := am.SetEntityPermissions(ctx, owner.Reference(), []types.Permission{{Principal: svc, RoleId: role, Propagate: true}}); err != nil {
			t.Fatal(err)
		}
	}
	grant("DC0_H0")
	if err := am.SetEntityPermissions(ctx, admin.Client.ServiceContent.RootFolder, []types.Permission{{Principal: svc, RoleId: -2, Propagate: true}}); err != nil {
		t.Fatal(err)
	}
	vc := dialVCenter(t, v, svc, svcPW)
	hosts := viHosts(t, vc)
	r := v.Requests()
	if err := vc.CheckPrivileges(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	if n := v.Requests() - r; n != 1 {
		t.Errorf("CheckPrivileges made %d requests for %d hosts, want 1", n, len(hosts))
	}
	r = v.Requests()
	a := tasks.Access{ManageUsers: true, GrantRoles: []string{"Admin"}}
	for _, h := range hosts {
		missing, err := h.MissingPrivileges(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name() == "DC0_H0" {
			if len(missing) != 0 {
				t.Errorf("DC0_H0: missing %v", missing)
			}
			continue
		}
		if want := "Host.Local.ManageUserGroups on host " + h.Name(); len(missing) != 2 || !strings.Contains(missing[0], want) || !strings.Contains(missing[1], "Global.Settings") {
			t.Errorf("%s: missing %v, want %q and Global.Settings", h.Name(), missing, want)
		}
	}
	if n := v.Requests() - r; n != 0 {
		t.Errorf("MissingPrivileges asked again: %d requests", n)
	}
}

// Hosts share one session. When the server ends it, the call that sees
// NotAuthenticated first logs in again; a call of another host that was sent
// with the old session and answered NotAuthenticated after that login goes
// on with the new session: one more login, not one per host.
func TestVCenterSharedSessionLogsInOnce(t *testing.T) {
	v := startVC(t, esxsim.VCenterOptions{Hosts: 2})
	pw, _ := v.URL.User.Password()
	vc := dialVCenter(t, v, v.URL.User.Username(), pw)
	ctx := vctx(t)
	hosts := viHosts(t, vc)
	// Host B's first request (RetrieveManagedMethodExecuter, reading its
	// users) is held at the server until host A's call has met the ended
	// session and logged in again; then it is answered NotAuthenticated, as
	// the old session is gone.
	var mu sync.Mutex
	heldN, endedA := 0, false
	held, release := make(chan struct{}), make(chan struct{})
	v.OnRequest(func(n int, method string) {
		mu.Lock()
		hold := method == "RetrieveManagedMethodExecuter" && heldN == 0
		if hold {
			heldN = n
		}
		mu.Unlock()
		if hold {
			close(held)
			<-release
		}
	})
	v.ExpireSessionsWhen(func(n int, method string) bool {
		mu.Lock()
		defer mu.Unlock()
		if method == "HasPrivilegeOnEntities" && !endedA {
			endedA = true
			return true
		}
		return n == heldN
	})
	logins := v.Logins()
	readB := make(chan error, 1)
	go func() {
		_, err := hosts[1].Read(ctx)
		readB <- err
	}()
	<-held
	if err := vc.CheckPrivileges(ctx, hosts[:1]); err != nil {
		t.Fatal(err)
	}
	if n := v.Logins() - logins; n != 1 {
		t.Fatalf("%d logins after A's call met the ended session, want 1", n)
	}
	close(release)
	if err := <-readB; err != nil {
		t.Fatal(err)
	}
	if v.ExpiredSessions() != 2 {
		t.Fatalf("%d NotAuthenticated answers, want 2 (A's call, B's held call)", v.ExpiredSessions())
	}
	if n := v.Logins() - logins; n != 1 {
		t.Errorf("%d logins in all, want 1: B logged in again although A already had", n)
	}
}
