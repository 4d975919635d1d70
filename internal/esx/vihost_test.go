package esx_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	esxcli "github.com/vmware/govmomi/cli/esx"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/passwdqc"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

// The seed of the esxi/manage-users Param (its documentation's YAML example).
const seedYAML = `- id: user1
  operation: add
  description: User One
  password: S3cr3tP455!
  role: Admin
- id: user2
  operation: set
  password: S3cr3tP455!
  role: ReadOnly
- id: user1
  operation: set
  password: S3cr3tP455!
  role: NoAccess
- id: user1
  operation: remove
- id: user2
  operation: remove
`

// checker is the project's pam_passwdqc port, as the CLI uses it.
type checker struct{}

func (checker) CheckPassword(policy, id, description string, pw params.Password) (string, error) {
	return passwdqc.CheckESXi(policy, id, description, pw.Reveal())
}

func vctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startVC(t *testing.T, opt esxsim.VCenterOptions) *esxsim.VCenter {
	t.Helper()
	v, err := esxsim.StartVCenter(opt)
	if err != nil {
		t.Fatalf("StartVCenter: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

func dialVC(t *testing.T, v *esxsim.VCenter) *esx.Session {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(v.CertPEM) {
		t.Fatal("bad CertPEM")
	}
	pw, _ := v.URL.User.Password()
	s, err := esx.Dial(vctx(t), esx.Config{Server: v.URL.Host, Username: v.URL.User.Username(), Password: params.NewPassword(pw), RootCAs: pool, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func parse(t *testing.T, yaml string) []params.Entry {
	t.Helper()
	entries, err := params.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("params.Parse: %v", err)
	}
	return entries
}

func outcomes(r *tasks.Report) []tasks.Outcome {
	var out []tasks.Outcome
	for _, res := range r.Results {
		out = append(out, res.Outcome)
	}
	return out
}

// hostView is a host's accounts and root-folder permissions read back
// independently of ViHost: through the host's esxcli via vCenter.
type hostView struct {
	Users map[string]string // id -> description
	Perms map[string]string // principal -> role name
}

func readHost(t *testing.T, c *vim25.Client, ref types.ManagedObjectReference) hostView {
	t.Helper()
	e, err := esxcli.NewExecutor(vctx(t), c, object.NewHostSystem(c, ref))
	if err != nil {
		t.Fatal(err)
	}
	hv := hostView{Users: map[string]string{}, Perms: map[string]string{}}
	res, err := e.Run(vctx(t), []string{"system", "account", "list"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Values {
		hv.Users[v.Value("UserID")] = v.Value("Description")
	}
	res, err = e.Run(vctx(t), []string{"system", "permission", "list"})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Values {
		if v.Value("IsGroup") == "false" {
			hv.Perms[v.Value("Principal")] = v.Value("RoleName")
		}
	}
	return hv
}

func seeded() hostView {
	return hostView{
		Users: map[string]string{"root": "Administrator", "dcui": "DCUI User", "vpxuser": "VMware VirtualCenter administration account"},
		Perms: map[string]string{"root": "Admin", "dcui": "Admin", "vpxuser": "Admin"},
	}
}

func with(hv hostView, users, perms map[string]string) hostView {
	for k, v := range users {
		hv.Users[k] = v
	}
	for k, v := range perms {
		hv.Perms[k] = v
	}
	return hv
}

// checkHosts compares every host with want[name] (seeded() when absent).
func checkHosts(t *testing.T, v *esxsim.VCenter, c *vim25.Client, want map[string]hostView) {
	t.Helper()
	for _, name := range v.Hosts {
		ref, _ := v.HostRef(name)
		w, ok := want[name]
		if !ok {
			w = seeded()
		}
		if got := readHost(t, c, ref); !reflect.DeepEqual(got, w) {
			t.Errorf("host %s:\n got  %+v\n want %+v", name, got, w)
		}
	}
}

// TestViHostSeed applies the Param's seed through vCenter to one of three
// hosts: first its three writes (user1 ends NoAccess and user2 ReadOnly,
// both with ESXi's default description "ESXi User": the third entry sets
// user1 without a description, and "An empty description field will result
// in the ESXi system default description of ESXi User being set on add and
// set operations"), then the whole
// seed (ending with both removed). Only the chosen host changes.
func TestViHostSeed(t *testing.T) {
	v := startVC(t, esxsim.VCenterOptions{Hosts: 3})
	s := dialVC(t, v)
	target := v.Hosts[1]
	h, err := esx.NewViHost(vctx(t), s, target)
	if err != nil {
		t.Fatalf("NewViHost: %v", err)
	}
	entries := parse(t, seedYAML)

	rep, err := tasks.Run(vctx(t), h, entries[:3], tasks.Options{Checker: checker{}})
	if err != nil {
		t.Fatalf("Run (writes): %v", err)
	}
	if want := []tasks.Outcome{tasks.Created, tasks.Created, tasks.Updated}; !reflect.DeepEqual(outcomes(rep), want) {
		t.Errorf("outcomes %v, want %v", outcomes(rep), want)
	}
	if rep.Host != target || rep.User != esxsim.DefaultVCenterUser {
		t.Errorf("report host %q user %q", rep.Host, rep.User)
	}
	checkHosts(t, v, s.Client, map[string]hostView{
		target: with(seeded(), map[string]string{"user1": params.DefaultDescription, "user2": params.DefaultDescription}, map[string]string{"user1": "NoAccess", "user2": "ReadOnly"}),
	})
	// The passwords were set on that host only (a direct login would check
	// them; user1 has NoAccess, user2 ReadOnly).
	if valid, access, _ := v.CheckHostLogin(target, "user2", "S3cr3tP455!"); !valid || !access {
		t.Errorf("user2 on %s: valid=%v access=%v", target, valid, access)
	}
	if valid, access, _ := v.CheckHostLogin(target, "user1", "S3cr3tP455!"); !valid || access {
		t.Errorf("user1 on %s: valid=%v access=%v (NoAccess)", target, valid, access)
	}
	for _, other := range []string{v.Hosts[0], v.Hosts[2]} {
		if valid, _, _ := v.CheckHostLogin(other, "user2", "S3cr3tP455!"); valid {
			t.Errorf("user2 exists on %s", other)
		}
	}

	rep, err = tasks.Run(vctx(t), h, entries, tasks.Options{Checker: checker{}})
	if err != nil {
		t.Fatalf("Run (seed): %v", err)
	}
	if want := []tasks.Outcome{tasks.Updated, tasks.Updated, tasks.Updated, tasks.Removed, tasks.Removed}; !reflect.DeepEqual(outcomes(rep), want) {
		t.Errorf("outcomes %v, want %v", outcomes(rep), want)
	}
	checkHosts(t, v, s.Client, nil)

	// Removing users that are gone: absent, and nothing is written.
	w := v.Writes()
	rep, err = tasks.Run(vctx(t), h, entries[3:], tasks.Options{Checker: checker{}})
	if err != nil {
		t.Fatalf("Run (absent): %v", err)
	}
	if want := []tasks.Outcome{tasks.Absent, tasks.Absent}; !reflect.DeepEqual(outcomes(rep), want) {
		t.Errorf("outcomes %v, want %v", outcomes(rep), want)
	}
	if v.Writes() != w {
		t.Errorf("absent entries wrote %d times", v.Writes()-w)
	}
}

// TestViHostFreshSeed: the whole seed on a fresh host creates, updates and
// removes; the host ends as it began.
func TestViHostFreshSeed(t *testing.T) {
	v := startVC(t, esxsim.VCenterOptions{Hosts: 3})
	s := dialVC(t, v)
	h, err := esx.NewViHost(vctx(t), s, v.Hosts[2])
	if err != nil {
		t.Fatal(err)
	}
	rep, err := tasks.Run(vctx(t), h, parse(t, seedYAML), tasks.Options{Checker: checker{}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := []tasks.Outcome{tasks.Created, tasks.Created, tasks.Updated, tasks.Removed, tasks.Removed}; !reflect.DeepEqual(outcomes(rep), want) {
		t.Errorf("outcomes %v, want %v", outcomes(rep), want)
	}
	// 2 creates + 2 roles, 1 update + 1 role, 2 x (role removal + user removal)
	if v.Writes() != 10 {
		t.Errorf("Writes = %d, want 10", v.Writes())
	}
	checkHosts(t, v, s.Client, nil)
}

// TestViHostInvalidWritesNothing: an entry whose password fails the host's
// policy makes the run invalid before any write.
func TestViHostInvalidWritesNothing(t *testing.T) {
	v := startVC(t, esxsim.VCenterOptions{Hosts: 3})
	s := dialVC(t, v)
	h, err := esx.NewViHost(vctx(t), s, v.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	list := seedYAML + "- id: user3\n  operation: add\n  password: Ab1!x\n  role: ReadOnly\n"
	rep, err := tasks.Run(vctx(t), h, parse(t, list), tasks.Options{Checker: checker{}})
	if !errors.Is(err, errkind.ErrInvalid) {
		t.Fatalf("Run: %v, want ErrInvalid", err)
	}
	if got := rep.Results[5]; got.Outcome != tasks.Invalid || !strings.Contains(got.Error, "too short") {
		t.Errorf("entry 5: %+v", got)
	}
	if v.Writes() != 0 {
		t.Errorf("Writes = %d", v.Writes())
	}
	checkHosts(t, v, s.Client, nil)
}

// TestViHostFailWriteStops: the host refuses the 3rd write (user2's
// creation); the run stops there, the first entry stays applied, nothing
// else is written.
func TestViHostFailWriteStops(t *testing.T) {
	v := startVC(t, esxsim.VCenterOptions{Common: esxsim.Common{FailWrite: 3}, Hosts: 3})
	s := dialVC(t, v)
	target := v.Hosts[0]
	h, err := esx.NewViHost(vctx(t), s, target)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := tasks.Run(vctx(t), h, parse(t, seedYAML), tasks.Options{Checker: checker{}})
	if !errors.Is(err, errkind.ErrApply) {
		t.Fatalf("Run: %v, want ErrApply", err)
	}
	want := []tasks.Outcome{tasks.Created, tasks.Failed, tasks.NotRun, tasks.NotRun, tasks.NotRun}
	if !reflect.DeepEqual(outcomes(rep), want) {
		t.Errorf("outcomes %v, want %v", outcomes(rep), want)
	}
	if e := rep.Results[1].Error; !strings.Contains(e, "system error") || !strings.Contains(e, "injected fault") {
		t.Errorf("failed entry error %q", e)
	}
	if v.Writes() != 3 {
		t.Errorf("Writes = %d, want 3", v.Writes())
	}
	checkHosts(t, v, s.Client, map[string]hostView{
		target: with(seeded(), map[string]string{"user1": "User One"}, map[string]string{"user1": "Admin"}),
	})
}

// TestViHostPasswordPolicyIsTheHosts: a hardened policy on one host applies
// to that host only.
func TestViHostPasswordPolicyIsTheHosts(t *testing.T) {
	v := startVC(t, esxsim.VCenterOptions{Hosts: 3})
	s := dialVC(t, v)
	const hard = "retry=3 min=disabled,disabled,disabled,disabled,16"
	hardened := v.Hosts[1]
	ref, _ := v.HostRef(hardened)
	var hs mo.HostSystem
	if err := object.NewHostSystem(s.Client, ref).Properties(vctx(t), ref, []string{"configManager.advancedOption"}, &hs); err != nil {
		t.Fatal(err)
	}
	om := object.NewOptionManager(s.Client, *hs.ConfigManager.AdvancedOption)
	if err := om.Update(vctx(t), []types.BaseOptionValue{&types.OptionValue{Key: esx.PasswordQualityOption, Value: hard}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range v.Hosts {
		h, err := esx.NewViHost(vctx(t), s, name)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := h.Read(vctx(t))
		if err != nil {
			t.Fatal(err)
		}
		want := passwdqc.ESXiDefault
		if name == hardened {
			want = hard
		}
		if snap.PasswordPolicy != want {
			t.Errorf("%s: policy %q, want %q", name, snap.PasswordPolicy, want)
		}
		// The seed's 11-character password: fine by default, too short
		// for the hardened host, and refused before any write.
		w := v.Writes()
		_, err = tasks.Run(vctx(t), h, parse(t, seedYAML), tasks.Options{Checker: checker{}})
		if name == hardened {
			if !errors.Is(err, errkind.ErrInvalid) || v.Writes() != w {
				t.Errorf("%s: %v (writes %d)", name, err, v.Writes()-w)
			}
		} else if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Without the pre-check the host itself refuses it (ESXi 7/8: "passwd:
	// Authentication token manipulation error"), described as a rejected
	// password.
	h, _ := esx.NewViHost(vctx(t), s, hardened)
	err := h.CreateUser(vctx(t), "user9", "", params.NewPassword("S3cr3tP455!"))
	if !esx.IsFault(err, &types.SystemError{}) || !strings.Contains(err.Error(), "the host rejected the password") ||
		!strings.Contains(err.Error(), "passwd: Authentication token manipulation error") {
		t.Errorf("CreateUser on hardened host: %v", err)
	}
}

// TestViHostLookup: by name (any case), by VMkernel address, by unique short
// name; unknown and ambiguous names fail clearly; a direct ESXi connection
// is refused.
func TestViHostLookup(t *testing.T) {
	v := startVC(t, esxsim.VCenterOptions{Hosts: 3})
	s := dialVC(t, v)
	for _, name := range v.Hosts {
		ip, _ := v.HostIP(name)
		for _, q := range []string{name, strings.ToLower(name), " " + name + " ", ip} {
			h, err := esx.NewViHost(vctx(t), s, q)
			if err != nil {
				t.Errorf("%q: %v", q, err)
				continue
			}
			if h.Name() != name {
				t.Errorf("%q found %s, want %s", q, h.Name(), name)
			}
		}
	}
	_, err := esx.NewViHost(vctx(t), s, "esx-nope.example.com")
	if err == nil || !strings.Contains(err.Error(), `host pattern "esx-nope.example.com" matches no host (`) || !errors.Is(err, errkind.ErrInvalid) {
		t.Errorf("unknown host: %v", err)
	}
	if pw, _ := v.URL.User.Password(); err != nil && strings.Contains(err.Error(), pw) {
		t.Errorf("error shows the password")
	}
	if _, err := esx.NewViHost(vctx(t), s, "192.0.2.99"); err == nil {
		t.Errorf("unknown address found a host")
	}
	if _, err := esx.NewViHost(vctx(t), s, ""); err == nil {
		t.Errorf("empty name accepted")
	}

	ctx := vctx(t)
	// Hosts added to vCenter by FQDN whose short names collide: ambiguous.
	fq := startVC(t, esxsim.VCenterOptions{HostNames: []string{"esx01.a.example", "esx01.b.example", "esx02.a.example"}})
	fs := dialVC(t, fq)
	_, err = esx.NewViHost(ctx, fs, "esx01")
	if err == nil || !strings.Contains(err.Error(), "ambiguous") || !strings.Contains(err.Error(), "esx01.a.example, esx01.b.example") {
		t.Errorf("ambiguous: %v", err)
	}
	for q, want := range map[string]string{"esx01.b.example": "esx01.b.example", "ESX01.A.EXAMPLE.": "esx01.a.example", "esx02": "esx02.a.example"} {
		if h, err := esx.NewViHost(ctx, fs, q); err != nil || h.Name() != want {
			t.Errorf("%q: %v", q, err)
		}
	}

	// A direct ESXi connection is not a vCenter.
	srv, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CertPEM)
	pw, _ := srv.URL.User.Password()
	ds, err := esx.Dial(ctx, esx.Config{Server: srv.URL.Host, Password: params.NewPassword(pw), RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	if _, err := esx.NewViHost(ctx, ds, "localhost"); err == nil || !strings.Contains(err.Error(), "not a vCenter") {
		t.Errorf("ESXi as vCenter: %v", err)
	}
}

// TestViHostReadAndRoles: Read reports the host's users, its access entries
// as role names, the grantable roles and the vCenter user.
func TestViHostReadAndRoles(t *testing.T) {
	v := startVC(t, esxsim.VCenterOptions{Hosts: 2})
	s := dialVC(t, v)
	h, err := esx.NewViHost(vctx(t), s, v.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	snap, err := h.Read(vctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := seeded()
	got := hostView{Users: map[string]string{}, Perms: snap.Permissions}
	for id, a := range snap.Users {
		got.Users[id] = a.Description
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("snapshot %+v", got)
	}
	if !reflect.DeepEqual(snap.Roles, map[string]bool{"Admin": true, "ReadOnly": true, "NoAccess": true}) {
		t.Errorf("roles %v", snap.Roles)
	}
	if snap.Host != v.Hosts[0] || snap.User != esxsim.DefaultVCenterUser {
		t.Errorf("host %q user %q", snap.Host, snap.User)
	}
	if err := h.SetRole(vctx(t), "vpxuser", "View"); err == nil {
		t.Errorf("View granted")
	}
	// Removing the host's last Admin is refused with the host's fault.
	for _, u := range []string{"dcui", "vpxuser"} {
		if err := h.RemoveRole(vctx(t), u); err != nil {
			t.Fatal(err)
		}
	}
	err = h.RemoveRole(vctx(t), "root")
	var fe *esx.FaultError
	if !errors.As(err, &fe) || !esx.IsFault(err, &types.AuthMinimumAdminPermission{}) {
		t.Errorf("last admin: %v", err)
	}
	if err := h.UpdateUser(vctx(t), "ghost", "", params.NewPassword("S3cr3tP455!")); !esx.IsFault(err, &types.UserNotFound{}) {
		t.Errorf("update ghost: %v", err)
	}
	// The other host is untouched.
	ref, _ := v.HostRef(v.Hosts[1])
	if got := readHost(t, s.Client, ref); !reflect.DeepEqual(got, seeded()) {
		t.Errorf("other host %+v", got)
	}
}

// TestDialViHost: the one-call form the job uses; a missing user name or an
// unknown host fail before anything is written, the session is closed.
func TestDialViHost(t *testing.T) {
	v := startVC(t, esxsim.VCenterOptions{Hosts: 2})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(v.CertPEM)
	pw, _ := v.URL.User.Password()
	cfg := esx.Config{Server: v.URL.String(), Username: v.URL.User.Username(), Password: params.NewPassword(pw), RootCAs: pool}
	h, closeFn, err := esx.DialViHost(vctx(t), cfg, v.Hosts[1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Read(vctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := closeFn(); err != nil {
		t.Errorf("close: %v", err)
	}
	noUser := cfg
	noUser.Username = ""
	if _, _, err := esx.DialViHost(vctx(t), noUser, v.Hosts[1]); err == nil || !strings.Contains(err.Error(), "user name") {
		t.Errorf("no user: %v", err)
	}
	if _, _, err := esx.DialViHost(vctx(t), cfg, "nope"); err == nil {
		t.Errorf("unknown host accepted")
	}
	if v.Writes() != 0 {
		t.Errorf("Writes = %d", v.Writes())
	}
}

// TestViHostCanary: neither the client trace nor the simulator's trace nor
// the report shows a password being set, including when the host rejects
// it.
func TestViHostCanary(t *testing.T) {
	const canary = "Canary-7qX!pZ2w"
	// esx and esxsim write their traces whole (one write at a time).
	var simTrace, cliTrace strings.Builder
	v := startVC(t, esxsim.VCenterOptions{Common: esxsim.Common{Trace: &simTrace}, Hosts: 2})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(v.CertPEM)
	pw, _ := v.URL.User.Password()
	cfg := esx.Config{Server: v.URL.Host, Username: v.URL.User.Username(), Password: params.NewPassword(pw), RootCAs: pool, Trace: &cliTrace, TraceSecrets: []string{canary, "Ab1!x"}}
	h, closeFn, err := esx.DialViHost(vctx(t), cfg, v.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	list := "- id: canary\n  operation: add\n  password: " + canary + "\n  role: ReadOnly\n"
	rep, err := tasks.Run(vctx(t), h, parse(t, list), tasks.Options{Checker: checker{}})
	if err != nil {
		t.Fatal(err)
	}
	// The host's own rejection (no pre-check) must not echo it either.
	_ = h.UpdateUser(vctx(t), "canary", "", params.NewPassword("Ab1!x"))
	for name, text := range map[string]string{"client trace": cliTrace.String(), "simulator trace": simTrace.String(), "report": fmt.Sprintf("%+v", rep)} {
		if strings.Contains(text, canary) || strings.Contains(text, "Ab1!x") || strings.Contains(text, pw) {
			t.Errorf("%s shows a password", name)
		}
	}
	if !strings.Contains(cliTrace.String(), "ChangeAccessMode") || !strings.Contains(simTrace.String(), "ChangeAccessMode") {
		t.Errorf("traces miss the calls")
	}
	if valid, _, _ := v.CheckHostLogin(v.Hosts[0], "canary", canary); !valid {
		t.Errorf("canary password not set")
	}
}
