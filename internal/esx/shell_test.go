package esx_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/tasks"
)

// simWithoutShell starts a simulator with an Admin user "mgr" that has no
// shell access, and "shelly", who has (created by root, whose default it
// passes on); it returns root's and mgr's sessions.
func simWithoutShell(t *testing.T) (*esxsim.Server, *esx.Session, *esx.Session) {
	t.Helper()
	sim, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	root := dialSim(t, sim, "root", "")
	ctx := vctx(t)
	no := false
	if _, err := methods.CreateUser(ctx, root.Client, &types.CreateUser{This: *root.Client.ServiceContent.AccountManager,
		User: &types.HostPosixAccountSpec{HostAccountSpec: types.HostAccountSpec{Id: "mgr", Password: svcPassword}, ShellAccess: &no}}); err != nil {
		t.Fatal(err)
	}
	am := object.NewHostAccountManager(root.Client, *root.Client.ServiceContent.AccountManager)
	if err := am.Create(ctx, &types.HostAccountSpec{Id: "shelly", Password: svcPassword, Description: "Has a shell"}); err != nil {
		t.Fatal(err)
	}
	if err := object.NewAuthorizationManager(root.Client).SetEntityPermissions(ctx, root.Client.ServiceContent.RootFolder,
		[]types.Permission{{Principal: "mgr", RoleId: -1, Propagate: true}}); err != nil {
		t.Fatal(err)
	}
	return sim, root, dialSim(t, sim, "mgr", svcPassword)
}

// A session without shell access whose list would change the password of
// a user with shell access is refused before the first write, like a
// missing privilege: exit 3, the entry and the reason named, nothing
// written; plan says the same. Users without shell access, and users the
// list itself creates, are no reason.
func TestShellAccessStopsBeforeWriting(t *testing.T) {
	sim, _, mgr := simWithoutShell(t)
	list := `
- {id: op1, operation: add, password: 'S3cr3tP455!', role: ReadOnly}
- {id: op1, operation: set, password: 'An0ther#P455', role: ReadOnly}
- {id: shelly, operation: set, password: 'S3cr3tP455!', role: ReadOnly}
`
	for _, plan := range []bool{true, false} {
		w := sim.Writes()
		rep, err := runAs(t, mgr, list, tasks.Options{Plan: plan})
		if !errors.Is(err, errkind.ErrConnect) || errkind.ExitCode(err) != errkind.ExitConnect {
			t.Fatalf("plan=%v: err %v, want exit 3", plan, err)
		}
		for _, s := range []string{`user "mgr" has no shell access`, `entry 3 (id "shelly", set) would be refused`, "log in as a user with shell access"} {
			if !strings.Contains(err.Error(), s) || !strings.Contains(rep.Error, s) {
				t.Errorf("plan=%v: %q lacks %q", plan, err, s)
			}
		}
		if strings.Contains(err.Error(), `"op1"`) {
			t.Errorf("plan=%v: a user the list creates is named: %v", plan, err)
		}
		if sim.Writes() != w {
			t.Errorf("plan=%v: %d writes", plan, sim.Writes()-w)
		}
	}
	// Without the user with shell access, the list runs.
	rep, err := runAs(t, mgr, strings.Join(strings.Split(list, "\n")[:3], "\n"), tasks.Options{})
	if err != nil {
		t.Fatalf("%v\n%+v", err, rep)
	}
}

// Another writer gives a user shell access after the run read the host:
// the host refuses the password change in the middle of the run; the entry
// fails with what the host now holds and why, the rest are not run.
func TestShellAccessGrantedMidRun(t *testing.T) {
	_, root, mgr := simWithoutShell(t)
	ctx := vctx(t)
	yes := true
	granted := false
	list := `
- {id: op1, operation: add, password: 'S3cr3tP455!', role: ReadOnly}
- {id: op1, operation: set, password: 'An0ther#P455', role: ReadOnly}
- {id: op2, operation: add, password: 'S3cr3tP455!', role: ReadOnly}
`
	opt := tasks.Options{Progress: func(r tasks.Result) {
		if r.Index == 0 && r.Outcome == tasks.Created && !granted {
			granted = true
			if _, err := methods.UpdateUser(ctx, root.Client, &types.UpdateUser{This: *root.Client.ServiceContent.AccountManager,
				User: &types.HostPosixAccountSpec{HostAccountSpec: types.HostAccountSpec{Id: "op1"}, ShellAccess: &yes}}); err != nil {
				t.Errorf("grant shell access: %v", err)
			}
		}
	}}
	rep, err := runAs(t, mgr, list, opt)
	if !errors.Is(err, errkind.ErrApply) {
		t.Fatalf("err %v, want ErrApply", err)
	}
	if got := outcomes(rep); !equalOutcomes(got, []tasks.Outcome{tasks.Created, tasks.Failed, tasks.NotRun}) {
		t.Fatalf("outcomes %v", got)
	}
	res := rep.Results[1]
	for _, s := range []string{"update user", "SecurityError", "the host now has op1 with role ReadOnly", `the user has shell access and user "mgr" has not`} {
		if !strings.Contains(res.Error+" "+err.Error(), s) {
			t.Errorf("entry 2: %q / %v lacks %q", res.Error, err, s)
		}
	}
	if res.Observed == nil || !res.Observed.Exists || res.Observed.Role != "ReadOnly" {
		t.Errorf("observed %+v", res.Observed)
	}
}
