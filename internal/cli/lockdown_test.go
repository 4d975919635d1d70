package cli

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
)

// simulatedArgs are the connection flags and environment of a run against
// a simulator started by `simulate` (its printed URL and thumbprint).
func simulatedArgs(t *testing.T, s simulated, args ...string) ([]string, map[string]string) {
	t.Helper()
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	return append(args, "--server", u.Host, "--thumbprint", s.thumbprint, "--username", u.User.Username()), map[string]string{"ESXI_PASSWORD": pw}
}

// Lockdown mode through vCenter: `simulate --vcenter --host-lockdown DC0_H0=normal`
// and `apply --vihost DC0_H0` with an entry that needs a role for a user
// who is not an exception user exits 3 naming lockdown mode; plan says the
// same; the host is unchanged; list shows the mode.
func TestApplyViHostInLockdownExits3(t *testing.T) {
	sim := startSimulateUntil(t, func(s simulated) bool { return len(s.hosts) == 2 }, "--vcenter", "--host-lockdown", "DC0_H0=normal")
	doc := "- {id: svc1, operation: add, password: 'S3cr3tP455!', role: ReadOnly}\n"
	for _, cmd := range []string{"plan", "apply"} {
		args, vars := simulatedArgs(t, sim, cmd, "--vihost", "DC0_H0")
		code, out, errb := run(args, vars, doc)
		if code != 3 {
			t.Fatalf("%s: exit %d\n%s\n%s", cmd, code, out, errb)
		}
		for _, want := range []string{"host DC0_H0 is in lockdown mode (normal)", `entry 1 (id "svc1", add) would be refused`, "lockdown exception list"} {
			if !strings.Contains(errb, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", cmd, want, errb)
			}
		}
	}
	args, vars := simulatedArgs(t, sim, "list", "--vihost", "DC0_H0")
	code, out, errb := run(args, vars, "")
	if code != 0 || !strings.Contains(out, "3 local users, lockdown mode normal") || strings.Contains(out, "svc1") {
		t.Errorf("list: exit %d\n%s\n%s", code, out, errb)
	}
	args, vars = simulatedArgs(t, sim, "list", "--vihost", "DC0_C0_H0")
	if code, out, _ := run(args, vars, ""); code != 0 || strings.Contains(out, "lockdown") {
		t.Errorf("the other host: exit %d\n%s", code, out)
	}
}

// Lockdown mode on a direct connection: a direct apply to `simulate --lockdown normal`
// as a user who is not an exception user (root) says the host is in
// lockdown mode, and the way out; exit 3.
func TestDirectApplyInLockdownSaysSo(t *testing.T) {
	sim := startSimulateUntil(t, func(s simulated) bool { return s.thumbprint != "" }, "--lockdown", "normal")
	for _, cmd := range []string{"apply", "plan", "list"} {
		args, vars := simulatedArgs(t, sim, cmd)
		code, out, errb := run(args, vars, fixture(t, "seed.yaml"))
		if code != 3 || !strings.Contains(errb, esx.LockdownHint) {
			t.Errorf("%s: exit %d\n%s\n%s", cmd, code, out, errb)
		}
		if strings.Contains(out+errb, vars["ESXI_PASSWORD"]) {
			t.Errorf("%s: the password is printed", cmd)
		}
	}
}

// The lockdown flags: --lockdown for a standalone host, --host-lockdown
// NAME=MODE with --vcenter; mistakes exit 2 naming the flag.
func TestSimulateLockdownFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--vcenter", "--lockdown", "normal"}, "--lockdown is for a standalone host"},
		{[]string{"--host-lockdown", "DC0_H0=normal"}, "--host-lockdown goes with --vcenter"},
		{[]string{"--lockdown", "closed"}, `--lockdown: "closed" is not a lockdown mode`},
		{[]string{"--vcenter", "--host-lockdown", "DC0_H0"}, "want NAME=MODE"},
		{[]string{"--vcenter", "--host-lockdown", "DC0_H0=lax"}, `"lax" is not a lockdown mode`},
		{[]string{"--vcenter", "--host-lockdown", "DC0_H0=normal", "--host-lockdown", "DC0_H0=strict"}, `host "DC0_H0" given twice`},
		{[]string{"--vcenter", "--host-lockdown", "DC0_X=strict"}, `--host-lockdown: no host "DC0_X"`},
	} {
		code, out, errb := run(append([]string{"simulate", "--listen", "127.0.0.1:0"}, tc.args...), nil, "")
		if code != 2 || !strings.Contains(errb, tc.want) || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errb, tc.want)
		}
	}
}

// A fleet with one locked-down host is refused before any write anywhere:
// every host is checked, the locked-down one reports why, the others are
// not applied, exit 3.
func TestFleetWithLockedDownHostWritesNothing(t *testing.T) {
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 4, Clusters: 2, HostLockdown: map[string]string{"DC0_H1": "lockdownStrict"}})
	code, out, errb := fleetRun(context.Background(), fixture(t, "seed.yaml"), vcVars(vc),
		vcArgs(vc, "apply", "--output", "json", "--vihost", "DC0_*", "--parallel", "2")...)
	if code != 3 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	r := decodeFleet(t, out)
	if r.OK || len(r.Hosts) != 4 || !strings.Contains(r.Error, "host DC0_H1: ") || !strings.Contains(r.Error, "is in lockdown mode (strict)") {
		t.Fatalf("report: %+v", r)
	}
	for _, h := range r.Hosts {
		if h.OK {
			t.Errorf("%s: %+v", h.Host, h)
		}
		if h.Host != "DC0_H1" && !strings.Contains(h.Error, "not applied: host DC0_H1 refuses the list: nothing was changed on any host") {
			t.Errorf("%s error %q", h.Host, h.Error)
		}
	}
	for h, w := range hostWrites(vc) {
		if w != 0 {
			t.Errorf("host %s: %d writes", h, w)
		}
	}
}

// list marks the lockdown exception users of a host in lockdown mode, in
// text and JSON.
func TestListMarksLockdownExceptions(t *testing.T) {
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 2, HostLockdown: map[string]string{"DC0_H0": "lockdownNormal"}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, logout, err := vc.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer logout()
	ref, _ := vc.HostRef("DC0_H0")
	var hs mo.HostSystem
	if err := property.DefaultCollector(c).RetrieveOne(ctx, ref, []string{"configManager"}, &hs); err != nil {
		t.Fatal(err)
	}
	if err := object.NewHostAccountManager(c, *hs.ConfigManager.AccountManager).Create(ctx, &types.HostAccountSpec{Id: "backup", Password: "S3cr3tP455!"}); err != nil {
		t.Fatal(err)
	}
	if _, err := methods.UpdateLockdownExceptions(ctx, c, &types.UpdateLockdownExceptions{This: *hs.ConfigManager.HostAccessManager, Users: []string{"backup"}}); err != nil {
		t.Fatal(err)
	}
	code, out, errb := fleetRun(ctx, "", vcVars(vc), vcArgs(vc, "list", "--vihost", "DC0_H0")...)
	if code != 0 || !strings.Contains(out, "lockdown mode normal") || !strings.Contains(out, "lockdown exception") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	code, out, errb = fleetRun(ctx, "", vcVars(vc), vcArgs(vc, "list", "--output", "json", "--vihost", "DC0_H0")...)
	l := decodeStrict[Listing](t, out)
	if code != 0 || l.Lockdown != "lockdownNormal" {
		t.Fatalf("exit %d %+v\n%s", code, l, errb)
	}
	for _, u := range l.Users {
		if u.LockdownException != (u.ID == "backup") {
			t.Errorf("%+v", u)
		}
	}
}
