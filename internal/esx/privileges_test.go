package esx_test

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

const svcPassword = "Svc#Acct-2291x"

// leastPrivilegeList grants only roles whose privileges a user manager
// holds (ReadOnly's are in every role; NoAccess has none).
const leastPrivilegeList = `
- {id: op1, operation: add, description: Operator One, password: 'S3cr3tP455!', role: ReadOnly}
- {id: op2, operation: set, password: 'S3cr3tP455!', role: NoAccess}
- {id: op1, operation: set, password: 'An0ther#P455', role: NoAccess}
- {id: op2, operation: remove}
`

// simWithService starts an ESXi simulator and creates the service account
// svc with a role of exactly privs (nil: the system role sysRole), logged
// in as its own session; root is an administrator session.
func simWithService(t *testing.T, sysRole int32, privs ...string) (*esxsim.Server, *esx.Session, *esx.Session) {
	t.Helper()
	sim, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	root := dialSim(t, sim, "root", "")
	ctx := vctx(t)
	am := object.NewAuthorizationManager(root.Client)
	role := sysRole
	if privs != nil {
		if role, err = am.AddRole(ctx, "UserManager", privs); err != nil {
			t.Fatal(err)
		}
	}
	if err := object.NewHostAccountManager(root.Client, *root.Client.ServiceContent.AccountManager).Create(ctx, &types.HostAccountSpec{Id: "svc", Password: svcPassword}); err != nil {
		t.Fatal(err)
	}
	if err := am.SetEntityPermissions(ctx, root.Client.ServiceContent.RootFolder, []types.Permission{{Principal: "svc", RoleId: role, Propagate: true}}); err != nil {
		t.Fatal(err)
	}
	return sim, root, dialSim(t, sim, "svc", svcPassword)
}

func dialSim(t *testing.T, sim *esxsim.Server, user, pw string) *esx.Session {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sim.CertPEM)
	if pw == "" {
		pw, _ = sim.URL.User.Password()
	}
	s, err := esx.Dial(vctx(t), esx.Config{Server: sim.URL.Host, Username: user, Password: params.NewPassword(pw), RootCAs: pool, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("Dial as %s: %v", user, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func runAs(t *testing.T, s *esx.Session, list string, opt tasks.Options) (*tasks.Report, error) {
	t.Helper()
	h, err := esx.NewHost(s)
	if err != nil {
		t.Fatal(err)
	}
	opt.Checker = checker{}
	return tasks.Run(vctx(t), h, parse(t, list), opt)
}

// A role with exactly the privileges the list needs (Host.Local.
// ManageUserGroups for the accounts, Authorization.ModifyPermissions for the
// permissions, granting only roles whose privileges it holds) succeeds end
// to end.
func TestLeastPrivilegeRoleSucceeds(t *testing.T) {
	sim, root, svc := simWithService(t, 0, "Host.Local.ManageUserGroups", "Authorization.ModifyPermissions")
	rep, err := runAs(t, svc, leastPrivilegeList, tasks.Options{})
	if err != nil {
		t.Fatalf("%v\n%+v", err, rep)
	}
	want := []tasks.Outcome{tasks.Created, tasks.Created, tasks.Updated, tasks.Removed}
	if got := outcomes(rep); !equalOutcomes(got, want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	rh, err := esx.NewHost(root)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := rh.Read(vctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Permissions["op1"] != "NoAccess" || snap.Users["op1"].Description != "ESXi User" {
		t.Errorf("host %+v", snap)
	}
	if _, ok := snap.Users["op2"]; ok {
		t.Errorf("op2 not removed: %+v", snap)
	}
	if sim.Writes() == 0 {
		t.Error("no writes")
	}
}

// Without the privileges the run stops before the first write, exit 3
// (ErrConnect), naming what is missing; plan says the same.
func TestMissingPrivilegesStopBeforeWriting(t *testing.T) {
	cases := []struct {
		name    string
		sysRole int32
		privs   []string
		list    string
		want    []string
	}{
		// ReadOnly cannot even list the users (RetrieveUserGroups needs
		// Authorization.ModifyPermissions): the read fails.
		{"ReadOnly", -2, nil, leastPrivilegeList, []string{"read users", "Authorization.ModifyPermissions"}},
		{"no ManageUserGroups", 0, []string{"Authorization.ModifyPermissions"}, leastPrivilegeList,
			[]string{"lacks privileges the list needs", "Host.Local.ManageUserGroups on the root folder (to create, update or remove local users)"}},
		{"granting Admin", 0, []string{"Host.Local.ManageUserGroups", "Authorization.ModifyPermissions"},
			"- {id: boss, operation: add, password: 'S3cr3tP455!', role: Admin}\n",
			[]string{"to grant role Admin, the session must hold its privileges", "privileges (Alarm.Acknowledge"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim, _, svc := simWithService(t, tc.sysRole, tc.privs...)
			for _, plan := range []bool{true, false} {
				w := sim.Writes()
				rep, err := runAs(t, svc, tc.list, tasks.Options{Plan: plan})
				if !errors.Is(err, errkind.ErrConnect) || errkind.ExitCode(err) != errkind.ExitConnect {
					t.Fatalf("plan=%v: err %v, want ErrConnect (exit 3)", plan, err)
				}
				for _, s := range tc.want {
					if !strings.Contains(err.Error(), s) || !strings.Contains(rep.Error, s) {
						t.Errorf("plan=%v: %q lacks %q", plan, err, s)
					}
				}
				if sim.Writes() != w {
					t.Errorf("plan=%v: %d writes", plan, sim.Writes()-w)
				}
				for _, r := range rep.Results {
					if r.Outcome != tasks.NotRun {
						t.Errorf("plan=%v: %+v", plan, r)
					}
				}
			}
		})
	}
}

// A user demoted by another session in the middle of a run gets a clear
// NoPermission failure for the next write, naming the privilege; the
// earlier entries stay applied.
func TestDemotedMidRun(t *testing.T) {
	sim, root, svc := simWithService(t, 0, "Host.Local.ManageUserGroups", "Authorization.ModifyPermissions")
	ctx := vctx(t)
	demoted := false
	opt := tasks.Options{Progress: func(r tasks.Result) {
		if r.Index == 0 && !demoted {
			demoted = true
			err := object.NewAuthorizationManager(root.Client).SetEntityPermissions(ctx, root.Client.ServiceContent.RootFolder,
				[]types.Permission{{Principal: "svc", RoleId: -5, Propagate: true}})
			if err != nil {
				t.Errorf("demote: %v", err)
			}
		}
	}}
	rep, err := runAs(t, svc, leastPrivilegeList, opt)
	if !errors.Is(err, errkind.ErrApply) {
		t.Fatalf("err %v, want ErrApply", err)
	}
	if got := outcomes(rep); !equalOutcomes(got, []tasks.Outcome{tasks.Created, tasks.Failed, tasks.NotRun, tasks.NotRun}) {
		t.Errorf("outcomes %v", got)
	}
	msg := rep.Results[1].Error
	if !strings.Contains(msg, "lacks the privilege Host.Local.ManageUserGroups") || !strings.Contains(msg, "NoPermission") {
		t.Errorf("entry 2 error %q", msg)
	}
	if sim.Locked("svc") {
		t.Error("svc locked")
	}
}

func equalOutcomes(a, b []tasks.Outcome) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Through vCenter the privileges are vCenter's on the host: a vCenter user
// with a role of exactly Host.Local.ManageUserGroups and Global.Settings
// runs the seed's list; without Host.Local.ManageUserGroups the run stops
// before any write, naming it; a ReadOnly user cannot read the host's
// access entries (Global.Settings).
func TestViHostLeastPrivilege(t *testing.T) {
	const svc, pw = "svc@vsphere.local", "Svc#Acct-2291x"
	for _, tc := range []struct {
		name    string
		privs   []string // nil: ReadOnly
		wantErr []string
	}{
		{"exact role", []string{"Host.Local.ManageUserGroups", "Global.Settings"}, nil},
		{"no ManageUserGroups", []string{"Global.Settings"}, []string{"Host.Local.ManageUserGroups on host DC0_H0"}},
		{"ReadOnly", nil, []string{"read permissions of DC0_H0", "Global.Settings"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := startVC(t, esxsim.VCenterOptions{Hosts: 2})
			admin := dialVC(t, v)
			ctx := vctx(t)
			if err := v.AddUser(svc, pw); err != nil {
				t.Fatal(err)
			}
			am := object.NewAuthorizationManager(admin.Client)
			role := int32(-2)
			if tc.privs != nil {
				var err error
				if role, err = am.AddRole(ctx, "HostUserManager", tc.privs); err != nil {
					t.Fatal(err)
				}
			}
			if err := am.SetEntityPermissions(ctx, admin.Client.ServiceContent.RootFolder, []types.Permission{{Principal: svc, RoleId: role, Propagate: true}}); err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(v.CertPEM)
			s, err := esx.Dial(ctx, esx.Config{Server: v.URL.Host, Username: svc, Password: params.NewPassword(pw), RootCAs: pool, Timeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			h, err := esx.NewViHost(ctx, s, "DC0_H0")
			if err != nil {
				t.Fatal(err)
			}
			w := v.Writes()
			rep, err := tasks.Run(ctx, h, parse(t, seedYAML), tasks.Options{Checker: checker{}})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("%v\n%+v", err, rep)
				}
				return
			}
			if !errors.Is(err, errkind.ErrConnect) || v.Writes() != w {
				t.Fatalf("err %v (writes %d), want ErrConnect and no write", err, v.Writes()-w)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q lacks %q", err, s)
				}
			}
		})
	}
}
