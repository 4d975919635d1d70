package esxsim

import (
	"crypto/tls"
	"encoding/xml"
	"errors"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"

	esxcli "github.com/vmware/govmomi/cli/esx"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/passwdqc"
)

func startVC(t *testing.T, opt VCenterOptions) *VCenter {
	t.Helper()
	v, err := StartVCenter(opt)
	if err != nil {
		t.Fatalf("StartVCenter: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

func vcLogin(t *testing.T, v *VCenter, user, password string) (*vim25.Client, error) {
	t.Helper()
	u := *v.URL
	u.User = nil
	sc := soap.NewClient(&u, false)
	sc.DefaultTransport().TLSClientConfig = &tls.Config{RootCAs: certPool(t, v.CertPEM)}
	c, err := vim25.NewClient(testContext(t), sc)
	if err != nil {
		t.Fatalf("vim25.NewClient: %v", err)
	}
	if err := session.NewManager(c).Login(testContext(t), url.UserPassword(user, password)); err != nil {
		return nil, err
	}
	return c, nil
}

func vcAdmin(t *testing.T, v *VCenter) *vim25.Client {
	t.Helper()
	pw, _ := v.URL.User.Password()
	c, err := vcLogin(t, v, v.URL.User.Username(), pw)
	if err != nil {
		t.Fatalf("vCenter login: %v", err)
	}
	return c
}

// vcHostSystem returns the named host's HostSystem properties.
func vcHostSystem(t *testing.T, c *vim25.Client, name string) mo.HostSystem {
	t.Helper()
	ctx := testContext(t)
	cv, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"HostSystem"}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cv.Destroy(ctx)
	var hosts []mo.HostSystem
	if err := cv.Retrieve(ctx, []string{"HostSystem"}, []string{"name", "configManager", "config.network.vnic"}, &hosts); err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("no host %q", name)
	return mo.HostSystem{}
}

func executor(t *testing.T, c *vim25.Client, h mo.HostSystem) *esxcli.Executor {
	t.Helper()
	e, err := esxcli.NewExecutor(testContext(t), c, h.Reference())
	if err != nil {
		t.Fatalf("esxcli.NewExecutor: %v", err)
	}
	return e
}

func runCLI(t *testing.T, e *esxcli.Executor, args ...string) (*esxcli.Response, error) {
	t.Helper()
	return e.Run(testContext(t), args)
}

// cliErrMsg extracts the errMsg lines of an esxcli fault.
func cliErrMsg(err error) string {
	var f *esxcli.Fault
	if !errors.As(err, &f) {
		return ""
	}
	var d struct {
		Fault struct {
			ErrMsg []string `xml:"errMsg"`
		} `xml:"fault"`
	}
	if xmlErr := xml.Unmarshal([]byte(f.Detail), &d); xmlErr != nil {
		return ""
	}
	return strings.Join(d.Fault.ErrMsg, "\n")
}

func cliAccounts(t *testing.T, e *esxcli.Executor) map[string]string {
	t.Helper()
	res, err := runCLI(t, e, "system", "account", "list")
	if err != nil {
		t.Fatalf("system account list: %v", err)
	}
	out := map[string]string{}
	for _, v := range res.Values {
		out[v.Value("UserID")] = v.Value("Description")
	}
	return out
}

func cliPerms(t *testing.T, e *esxcli.Executor) map[string]string {
	t.Helper()
	res, err := runCLI(t, e, "system", "permission", "list")
	if err != nil {
		t.Fatalf("system permission list: %v", err)
	}
	out := map[string]string{}
	for _, v := range res.Values {
		key := v.Value("Principal")
		if v.Value("IsGroup") != "false" {
			key += " (group)"
		}
		out[key] = v.Value("RoleName")
	}
	return out
}

var seededPerms = map[string]string{"root": "Admin", "dcui": "Admin", "vpxuser": "Admin"}
var seededUsers = map[string]string{"root": "Administrator", "dcui": "DCUI User", "vpxuser": "VMware VirtualCenter administration account"}

// TestVCenterModel: a vCenter (vcsim VPX model) with N hosts, half of them
// in a cluster; vCenter login checks its administrator; every host has
// ESXi's seeded local users and root-folder permissions ("esxcli system
// permission list" example: dcui, root, vpxuser Admin; vSphere CLI Concepts
// and Examples, Managing Permissions).
func TestVCenterModel(t *testing.T) {
	v := startVC(t, VCenterOptions{Hosts: 3})
	if len(v.Hosts) != 3 {
		t.Fatalf("Hosts = %v", v.Hosts)
	}
	if got := v.URL.User.Username(); got != DefaultVCenterUser {
		t.Errorf("URL user = %q", got)
	}
	if _, err := vcLogin(t, v, DefaultVCenterUser, "wrong"); !isFault[*types.InvalidLogin](err) {
		t.Errorf("wrong password: %v, want InvalidLogin", err)
	}
	if _, err := vcLogin(t, v, "root", "whatever"); !isFault[*types.InvalidLogin](err) {
		t.Errorf("host root on vCenter: %v, want InvalidLogin", err)
	}
	c := vcAdmin(t, v)
	if c.ServiceContent.About.ApiType != "VirtualCenter" {
		t.Errorf("ApiType = %q", c.ServiceContent.About.ApiType)
	}
	if c.ServiceContent.AccountManager != nil {
		t.Errorf("vCenter ServiceContent has an AccountManager")
	}
	ips := map[string]bool{}
	for _, name := range v.Hosts {
		h := vcHostSystem(t, c, name)
		cm := h.ConfigManager
		if cm.AccountManager == nil || cm.HostAccessManager == nil || cm.AdvancedOption == nil {
			t.Fatalf("%s: configManager %+v", name, cm)
		}
		ip := h.Config.Network.Vnic[0].Spec.Ip.IpAddress
		if want, _ := v.HostIP(name); ip != want || ips[ip] {
			t.Errorf("%s: vmk0 %q (want %q, unique)", name, ip, want)
		}
		ips[ip] = true
		e := executor(t, c, h)
		if got := cliAccounts(t, e); !reflect.DeepEqual(got, seededUsers) {
			t.Errorf("%s: accounts %v", name, got)
		}
		if got := cliPerms(t, e); !reflect.DeepEqual(got, seededPerms) {
			t.Errorf("%s: permissions %v", name, got)
		}
		// vcsim's own esxcli commands still answer.
		if _, err := runCLI(t, e, "hardware", "clock", "get"); err != nil {
			t.Errorf("%s: hardware clock get: %v", name, err)
		}
	}
	if v.Logins() != 1 {
		t.Errorf("Logins = %d", v.Logins())
	}
}

func isFault[T types.BaseMethodFault](err error) bool {
	if err == nil {
		return false
	}
	_, ok := vimFault(err).(T)
	return ok
}

// TestVCenterHostAccountsArePerHost: the host's HostLocalAccountManager
// through vCenter changes that host only, with ESXi's rules (password
// policy and "Weak password" SystemError, AlreadyExists, UserNotFound).
func TestVCenterHostAccountsArePerHost(t *testing.T) {
	v := startVC(t, VCenterOptions{Common: Common{WeakPasswordFault: WeakPasswordReason}, Hosts: 2})
	c := vcAdmin(t, v)
	ctx := testContext(t)
	h0, h1 := vcHostSystem(t, c, v.Hosts[0]), vcHostSystem(t, c, v.Hosts[1])
	am := object.NewHostAccountManager(c, *h0.ConfigManager.AccountManager)

	err := am.Create(ctx, &types.HostAccountSpec{Id: "alice", Description: "Alice", Password: "Ab1!x"})
	checkWeak(t, err, "too short", "Ab1!x")
	if err := am.Create(ctx, &types.HostAccountSpec{Id: "alice", Description: "Alice", Password: "Vc-Sim.Pass4ward"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := am.Create(ctx, &types.HostAccountSpec{Id: "alice", Password: "Vc-Sim.Pass4ward"}); !isFault[*types.AlreadyExists](err) {
		t.Errorf("second CreateUser: %v", err)
	}
	if err := am.Update(ctx, &types.HostAccountSpec{Id: "nobody", Password: "Vc-Sim.Pass4ward"}); !isFault[*types.UserNotFound](err) {
		t.Errorf("UpdateUser nobody: %v", err)
	}
	if got := cliAccounts(t, executor(t, c, h0)); got["alice"] != "Alice" {
		t.Errorf("host 0 accounts %v", got)
	}
	if got := cliAccounts(t, executor(t, c, h1)); !reflect.DeepEqual(got, seededUsers) {
		t.Errorf("host 1 accounts changed: %v", got)
	}
	if valid, access, _ := v.CheckHostLogin(v.Hosts[0], "alice", "Vc-Sim.Pass4ward"); !valid || access {
		t.Errorf("alice on host 0: valid=%v access=%v, want valid without access", valid, access)
	}
	if valid, _, _ := v.CheckHostLogin(v.Hosts[1], "alice", "Vc-Sim.Pass4ward"); valid {
		t.Errorf("alice valid on host 1")
	}
	if err := am.Remove(ctx, "alice"); err != nil {
		t.Fatalf("RemoveUser: %v", err)
	}
	if err := am.Remove(ctx, "root"); !isFault[*types.SecurityError](err) {
		t.Errorf("RemoveUser root: %v, want SecurityError", err)
	}
}

// TestVCenterHostAccessManager: ChangeAccessMode sets a propagating role on
// the host's root folder and accessNone removes it; entries report the mode
// (HostAccessManager / HostAccessMode reference).
func TestVCenterHostAccessManager(t *testing.T) {
	v := startVC(t, VCenterOptions{Hosts: 2})
	c := vcAdmin(t, v)
	ctx := testContext(t)
	h0, h1 := vcHostSystem(t, c, v.Hosts[0]), vcHostSystem(t, c, v.Hosts[1])
	am := object.NewHostAccountManager(c, *h0.ConfigManager.AccountManager)
	if err := am.Create(ctx, &types.HostAccountSpec{Id: "bob", Password: "Vc-Sim.Pass4ward"}); err != nil {
		t.Fatal(err)
	}
	ham := *h0.ConfigManager.HostAccessManager
	change := func(user string, mode types.HostAccessMode) error {
		_, err := methods.ChangeAccessMode(ctx, c, &types.ChangeAccessMode{This: ham, Principal: user, AccessMode: mode})
		return err
	}
	entries := func() map[string]types.HostAccessMode {
		res, err := methods.RetrieveHostAccessControlEntries(ctx, c, &types.RetrieveHostAccessControlEntries{This: ham})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]types.HostAccessMode{}
		for _, e := range res.Returnval {
			m[e.Principal] = e.AccessMode
		}
		return m
	}
	if err := change("bob", types.HostAccessModeAccessReadOnly); err != nil {
		t.Fatal(err)
	}
	if got := entries()["bob"]; got != types.HostAccessModeAccessReadOnly {
		t.Errorf("bob = %q", got)
	}
	if got := cliPerms(t, executor(t, c, h0))["bob"]; got != "ReadOnly" {
		t.Errorf("esxcli bob = %q", got)
	}
	if got := cliPerms(t, executor(t, c, h1)); !reflect.DeepEqual(got, seededPerms) {
		t.Errorf("host 1 permissions changed: %v", got)
	}
	if valid, access, _ := v.CheckHostLogin(v.Hosts[0], "bob", "Vc-Sim.Pass4ward"); !valid || !access {
		t.Errorf("bob: valid=%v access=%v", valid, access)
	}
	if err := change("bob", types.HostAccessModeAccessOther); !isFault[*types.InvalidArgument](err) {
		t.Errorf("accessOther: %v, want InvalidArgument", err)
	}
	if err := change("nobody", types.HostAccessModeAccessAdmin); !isFault[*types.UserNotFound](err) {
		t.Errorf("unknown user: %v, want UserNotFound", err)
	}
	if err := change("bob", types.HostAccessModeAccessNone); err != nil {
		t.Fatal(err)
	}
	if _, ok := entries()["bob"]; ok {
		t.Errorf("bob still has an entry")
	}
	// Demote every Admin: the last one is refused.
	for _, u := range []string{"dcui", "vpxuser"} {
		if err := change(u, types.HostAccessModeAccessNone); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
	if err := change("root", types.HostAccessModeAccessNone); !isFault[*types.AuthMinimumAdminPermission](err) {
		t.Errorf("last admin: %v, want AuthMinimumAdminPermission", err)
	}
}

// TestVCenterESXCLI: system account add|set|remove and system permission
// set|unset through vCenter change the chosen host only; failures come back
// as EsxCLI.CLIFault.summary with the reason in errMsg.
func TestVCenterESXCLI(t *testing.T) {
	v := startVC(t, VCenterOptions{Common: Common{WeakPasswordFault: WeakPasswordReason}, Hosts: 2})
	c := vcAdmin(t, v)
	h0, h1 := vcHostSystem(t, c, v.Hosts[0]), vcHostSystem(t, c, v.Hosts[1])
	e := executor(t, c, h0)

	if _, err := runCLI(t, e, "system", "account", "add", "--id=carol", "--description=Carol", "--password=Vc-Sim.Pass4ward", "--password-confirmation=nope"); !strings.Contains(cliErrMsg(err), "do not match") {
		t.Errorf("mismatch: %v %q", err, cliErrMsg(err))
	}
	_, err := runCLI(t, e, "system", "account", "add", "--id=carol", "--password=Ab1!x", "--password-confirmation=Ab1!x")
	if msg := cliErrMsg(err); msg != "A general system error occurred: Weak password: too short." {
		t.Errorf("weak: %v %q", err, msg)
	}
	var f *esxcli.Fault
	if !errors.As(err, &f) || f.Message != "EsxCLI.CLIFault.summary" {
		t.Errorf("fault message: %v", err)
	}
	// Values are XML fragments (cli/esx does not escape them): escape.
	if _, err := runCLI(t, e, "system", "account", "add", "--id=carol", "--description=Carol &amp; Co &lt;x&gt;", "--password=Vc-Sim.Pass4ward", "--password-confirmation=Vc-Sim.Pass4ward"); err != nil {
		t.Fatalf("add: %v %q", err, cliErrMsg(err))
	}
	if got := cliAccounts(t, e)["carol"]; got != "Carol & Co <x>" {
		t.Errorf("description %q", got)
	}
	if _, err := runCLI(t, e, "system", "account", "set", "--id=carol", "--description=Carol"); err != nil {
		t.Fatalf("set: %v", err)
	}
	if _, err := runCLI(t, e, "system", "account", "set", "--id=nobody", "--description=x"); !strings.Contains(cliErrMsg(err), "'nobody' does not exist") {
		t.Errorf("set nobody: %q", cliErrMsg(err))
	}
	if _, err := runCLI(t, e, "system", "permission", "set", "--id=carol", "--role=Admin"); err != nil {
		t.Fatalf("permission set: %v", err)
	}
	if _, err := runCLI(t, e, "system", "permission", "set", "--id=carol", "--role=View"); !strings.Contains(cliErrMsg(err), "Invalid role") {
		t.Errorf("role View: %q", cliErrMsg(err))
	}
	if _, err := runCLI(t, e, "system", "permission", "set", "--id=nobody", "--role=ReadOnly"); !strings.Contains(cliErrMsg(err), "does not exist") {
		t.Errorf("permission set nobody: %q", cliErrMsg(err))
	}
	res, err := runCLI(t, e, "system", "permission", "list")
	if err != nil {
		t.Fatal(err)
	}
	var carol esxcli.Values
	for _, r := range res.Values {
		if r.Value("Principal") == "carol" {
			carol = r
		}
	}
	if carol.Value("RoleName") != "Admin" || carol.Value("IsGroup") != "false" || carol.Value("RoleDescription") != "Full access rights" {
		t.Errorf("carol permission %v", carol)
	}
	if valid, access, _ := v.CheckHostLogin(v.Hosts[0], "carol", "Vc-Sim.Pass4ward"); !valid || !access {
		t.Errorf("carol login: %v %v", valid, access)
	}
	if _, err := runCLI(t, e, "system", "permission", "unset", "--id=carol"); err != nil {
		t.Fatalf("unset: %v", err)
	}
	if _, err := runCLI(t, e, "system", "permission", "unset", "--id=carol"); cliErrMsg(err) == "" {
		t.Errorf("second unset: %v", err)
	}
	if _, err := runCLI(t, e, "system", "account", "remove", "--id=carol"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, ok := cliAccounts(t, e)["carol"]; ok {
		t.Errorf("carol not removed")
	}
	if got := cliAccounts(t, executor(t, c, h1)); !reflect.DeepEqual(got, seededUsers) {
		t.Errorf("host 1 accounts: %v", got)
	}
	// Command descriptions as the executor sees them.
	m, err := e.CommandInfoMethod(testContext(t), esxcli.NewCommand([]string{"system", "permission", "list"}))
	if err != nil || !reflect.DeepEqual(m.Hints.Fields(), []string{"Principal", "Is Group", "Role Name", "Role Description"}) {
		t.Errorf("permission list info: %v %v", m, err)
	}
}

// TestVCenterPasswordPolicyPerHost: each host has its own
// Security.PasswordQualityControl; hardening one host leaves the others.
func TestVCenterPasswordPolicyPerHost(t *testing.T) {
	v := startVC(t, VCenterOptions{Common: Common{WeakPasswordFault: WeakPasswordReason}, Hosts: 2})
	c := vcAdmin(t, v)
	ctx := testContext(t)
	h0, h1 := vcHostSystem(t, c, v.Hosts[0]), vcHostSystem(t, c, v.Hosts[1])
	const hard = "retry=3 min=disabled,disabled,disabled,disabled,20"
	om0 := object.NewOptionManager(c, *h0.ConfigManager.AdvancedOption)
	if err := om0.Update(ctx, []types.BaseOptionValue{&types.OptionValue{Key: optPasswordQualityControl, Value: hard}}); err != nil {
		t.Fatal(err)
	}
	if err := om0.Update(ctx, []types.BaseOptionValue{&types.OptionValue{Key: optPasswordQualityControl, Value: "min=bogus"}}); !isFault[*types.InvalidArgument](err) {
		t.Errorf("invalid policy: %v", err)
	}
	for i, h := range []mo.HostSystem{h0, h1} {
		vals, err := object.NewOptionManager(c, *h.ConfigManager.AdvancedOption).Query(ctx, optPasswordQualityControl)
		if err != nil || len(vals) != 1 {
			t.Fatalf("query: %v %v", vals, err)
		}
		want := []string{hard, passwdqc.ESXiDefault}[i]
		if got := vals[0].GetOptionValue().Value; got != want {
			t.Errorf("host %d policy %q, want %q", i, got, want)
		}
	}
	err := object.NewHostAccountManager(c, *h0.ConfigManager.AccountManager).Create(ctx, &types.HostAccountSpec{Id: "dave", Password: "Vc-Sim.Pass4ward"})
	checkWeak(t, err, "too short", "Vc-Sim.Pass4ward")
	if err := object.NewHostAccountManager(c, *h1.ConfigManager.AccountManager).Create(ctx, &types.HostAccountSpec{Id: "dave", Password: "Vc-Sim.Pass4ward"}); err != nil {
		t.Errorf("host 1 (default policy): %v", err)
	}
}

// TestVCenterFailWrite: the k-th write to any host's state fails, through
// the API with the fault and through esxcli as an esxcli error, and changes
// nothing; reads and vCenter calls are not writes.
func TestVCenterFailWrite(t *testing.T) {
	v := startVC(t, VCenterOptions{Common: Common{FailWrite: 2}, Hosts: 2})
	c := vcAdmin(t, v)
	ctx := testContext(t)
	h0 := vcHostSystem(t, c, v.Hosts[0])
	am := object.NewHostAccountManager(c, *h0.ConfigManager.AccountManager)
	e := executor(t, c, h0)
	cliAccounts(t, e)
	if v.Writes() != 0 {
		t.Fatalf("Writes after reads = %d", v.Writes())
	}
	if err := am.Create(ctx, &types.HostAccountSpec{Id: "erin", Password: "Vc-Sim.Pass4ward"}); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI(t, e, "system", "permission", "set", "--id=erin", "--role=Admin")
	if msg := cliErrMsg(err); msg != "A general system error occurred: injected fault" {
		t.Errorf("injected via esxcli: %v %q", err, msg)
	}
	if _, ok := cliPerms(t, e)["erin"]; ok {
		t.Errorf("failed write changed the host")
	}
	v.SetFailWrite(v.Writes()+1, nil)
	if err := am.Remove(ctx, "erin"); !isFault[*types.SystemError](err) {
		t.Errorf("injected via API: %v", err)
	}
	if _, ok := cliAccounts(t, e)["erin"]; !ok {
		t.Errorf("failed RemoveUser removed erin")
	}
	if v.Writes() != 3 {
		t.Errorf("Writes = %d, want 3", v.Writes())
	}
}

// TestVCenterParallel: several vCenters run side by side.
func TestVCenterParallel(t *testing.T) {
	var names [][]string
	for i := 0; i < 2; i++ {
		v := startVC(t, VCenterOptions{Hosts: i + 1})
		names = append(names, append([]string(nil), v.Hosts...))
		vcAdmin(t, v)
	}
	if len(names[0]) != 1 || len(names[1]) != 2 || !sort.StringsAreSorted(names[1]) {
		t.Errorf("hosts %v", names)
	}
}
