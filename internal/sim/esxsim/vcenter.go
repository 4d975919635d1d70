package esxsim

// A simulated vCenter whose managed ESXi hosts each carry their own faithful
// local-user state (the same state a single simulated ESXi host has, see
// state.go), reachable the ways a real vCenter makes a host's local users
// reachable:
//
//   - HostSystem.configManager.accountManager: the host's
//     HostLocalAccountManager (CreateUser/UpdateUser/RemoveUser). The vSphere
//     API reference lists it as a HostConfigManager property, "A manager for
//     host local user accounts. Since vSphere API 6.0"
//     (https://developer.broadcom.com/xapis/vsan-management-api/6.7U3/vim.host.ConfigManager.html);
//   - HostSystem.configManager.hostAccessManager: the host's HostAccessManager
//     (ChangeAccessMode, RetrieveHostAccessControlEntries), "used to control
//     users and privileges on the host directly, which are different from the
//     users and privileges defined in vCenter", since vSphere API 6.0
//     (https://developer.broadcom.com/xapis/vmware-storage-policy-api/8.0u2/vim.host.HostAccessManager.html);
//     see vcenter_access.go;
//   - HostSystem.configManager.advancedOption: the host's OptionManager with
//     its Security.* options (options.go);
//   - the host's esxcli through vCenter (govmomi cli/esx.NewExecutor: the
//     host's ManagedMethodExecuter), with the namespaces system account and
//     system permission bound to the host's state (vcenter_cli.go).
//
// vCenter's own SessionManager, UserDirectory and AuthorizationManager are
// vcsim's and stay vCenter's: a host's local users and permissions are not
// vCenter's ("When you manage local users on your ESXi host, you are not
// affecting the vCenter Server users", vSphere CLI Concepts and Examples,
// https://docs.vmware.com/en/VMware-vSphere/6.7/vspherecli-concepts-examples/GUID-3C1F3933-E86C-478F-80F7-EC8AE1105CF2.html).

import (
	"context"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/vmware/govmomi/simulator"
	simesx "github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/passwdqc"
	"github.com/esxi-users/esxi-users/internal/sim/simguest"
	"github.com/esxi-users/esxi-users/internal/sim/simsspi"
)

// DefaultVCenterUser is the vCenter administrator of StartVCenter.
const DefaultVCenterUser = "administrator@vsphere.local"

// vcenterAgent is the host account vCenter manages its hosts with ("The
// vpxuser user is a vCenter Server entity with root rights on the ESXi
// host, allowing it to manage activities for that host", vSphere CLI
// "Managing Users"): a call that reaches a host through vCenter acts as it.
const vcenterAgent = "vpxuser"

// hostRootFolder is the moid of an ESXi host's own root folder, the entity
// holding its local permissions (ServiceContent.rootFolder on the host).
var hostRootFolder = types.ManagedObjectReference{Type: "Folder", Value: "ha-folder-root"}

// OptionError is a VCenterOptions field StartVCenter cannot use, such as a
// host name that is not one of the hosts.
type OptionError struct {
	Option string // the field: "Hosts", "Clusters", "HostPasswordPolicies", "FailHost", "PasswordQualityControl"
	Err    error
}

func (e *OptionError) Error() string { return "esxsim: " + e.Option + ": " + e.Err.Error() }

func (e *OptionError) Unwrap() error { return e.Err }

// VCenterOptions configures StartVCenter. The zero value is usable.
type VCenterOptions struct {
	Common
	// Hosts is the number of managed ESXi hosts (default 2). Half of them
	// (rounded up) are standalone hosts of the datacenter (DC0_H0, ...,
	// inventory path /DC0/host/DC0_H0/DC0_H0), the rest are in clusters
	// (DC0_C0_H0, ..., /DC0/host/DC0_C0/DC0_C0_H0); see vcenter_model.go.
	// 200 hosts start in about two seconds (BenchmarkStartVCenter).
	Hosts int
	// Clusters is the number of clusters the clustered half of the hosts is
	// spread over (DC0_C0, DC0_C1, ...; default 1), the first clusters
	// taking one more host when they do not divide evenly. Each cluster
	// has at least one host.
	Clusters int
	// HostNames, when set, names the hosts (HostSystem.name, e.g. FQDNs as
	// hosts are usually added to vCenter) in model order; Hosts defaults
	// to its length. vcsim names them DC0_H0, DC0_C0_H0, ...
	HostNames []string
	// HostLockdown puts hosts, by name (HostSystem.name), in lockdown mode
	// from the start (a HostLockdownMode value, see ParseLockdownMode;
	// simulate --host-lockdown NAME=MODE). A name that is not a host is an
	// error. Their exception lists start empty, the default (lockdown.go).
	HostLockdown map[string]string
	// HostPasswordPolicies gives hosts, by name (HostSystem.name), their
	// own initial Security.PasswordQualityControl instead of
	// PasswordQualityControl (simulate --host-password-policy NAME=POLICY).
	// A name that is not a host is an error.
	HostPasswordPolicies map[string]string
	// FailHost, with FailWrite, names the host (HostSystem.name) whose
	// FailWrite-th write fails; writes to other hosts are neither counted
	// for it nor failed (simulate --fail-host). A name that is not a host
	// is an error.
	FailHost string
	// GuestAuth, when set, gives the inventory powered-on VMs whose guests
	// accept SSPI authentication (internal/sim/simguest): it returns the
	// acceptor of a VM's guest (its own service principal, e.g.
	// host/<vm name>), or an error to leave that VM without one: its guest
	// refuses every token. VCenter.VMs lists the VMs that have one (maybe
	// none).
	GuestAuth func(vm string) (simguest.Acceptor, error)
}

// VCenter is a running simulated vCenter. Close it when done.
type VCenter struct {
	*endpoint
	// Hosts are the names of the managed hosts (HostSystem.name), sorted.
	Hosts []string
	// VMs are the powered-on VMs with guest SSPI authentication (see
	// VCenterOptions.GuestAuth), sorted.
	VMs []string

	trace  io.Writer
	hosts  map[string]*vcHost // by HostSystem moid
	byName map[string]*vcHost
	// managers maps each host manager reached through vCenter (account,
	// access, advanced options, esxcli executer) to its host.
	managers map[types.ManagedObjectReference]*vcHost
	// st is vCenter's own users, roles and permissions
	// (vcenter_privileges.go).
	st *state

	// failHost, failHostWrite, failHostFault: the write to fail on one
	// host (SetFailHostWrite), under endpoint.failMu.
	failHost      *vcHost
	failHostWrite int64
	failHostFault types.BaseMethodFault
}

// vcHost is one managed host: its HostSystem and its local state.
type vcHost struct {
	name string
	path string // inventory path, /DC0/host/DC0_C0/DC0_C0_H0
	ip   string
	// writes counts the writes to this host's state (see VCenter.handler).
	writes atomic.Int64
	ref    types.ManagedObjectReference
	st     *state
	authz  *authorizationManager // the host's role table and permission rules
}

// vcWriteMethods are the vim methods that write a host's state. ExecuteSoap
// calls are writes when their esxcli method is in cliWriteMethods.
var vcWriteMethods = map[string]bool{
	"CreateUser":               true,
	"UpdateUser":               true,
	"RemoveUser":               true,
	"ChangeAccessMode":         true,
	"ChangeLockdownMode":       true,
	"UpdateLockdownExceptions": true,
}

// MaxVCenterHosts is the most hosts StartVCenter builds: as many as a
// vCenter Server 7 or 8 manages ("Hosts per vCenter Server: 2,500",
// VMware's Configuration Maximums, configmax.broadcom.com; "a single
// vCenter can support up to 2,500 hosts", Dell's VxRail vCenter Server
// planning guide). Measured here (simulate --vcenter, max RSS): 100 hosts
// 59 MB, 1,000 216 MB, 2,500 514 MB (about 0.2 MB a host) and 15 s to
// build on two cores; unbounded, 100,000,000 hosts took 15 GB before the
// machine ran out of memory.
const MaxVCenterHosts = 2500

// StartVCenter builds a vcsim VPX model with opt.Hosts hosts, gives each host
// its own ESXi state and serves it over HTTPS.
func StartVCenter(opt VCenterOptions) (v *VCenter, err error) {
	return StartVCenterContext(context.Background(), opt)
}

// StartVCenterContext is StartVCenter, stopping the build once ctx is done
// (a signal): no host is added or given its state after that, and the
// error wraps ctx's.
func StartVCenterContext(ctx context.Context, opt VCenterOptions) (v *VCenter, err error) {
	if opt.Hosts <= 0 {
		opt.Hosts = len(opt.HostNames)
	}
	if opt.Hosts <= 0 {
		opt.Hosts = 2
	}
	if opt.Hosts > MaxVCenterHosts {
		return nil, &OptionError{"Hosts", fmt.Errorf("%d hosts: a vCenter manages at most %d", opt.Hosts, MaxVCenterHosts)}
	}
	if len(opt.HostNames) > 0 && len(opt.HostNames) != opt.Hosts {
		return nil, fmt.Errorf("esxsim: %d HostNames for %d hosts", len(opt.HostNames), opt.Hosts)
	}
	if opt.Username == "" {
		opt.Username = DefaultVCenterUser
	}
	if err := defaults(&opt.Listen, &opt.PasswordQualityControl, &opt.CheckPassword); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(opt.HostPasswordPolicies)) {
		if err := validPolicy(opt.CheckPassword, opt.HostPasswordPolicies[name]); err != nil {
			return nil, &OptionError{"HostPasswordPolicies", fmt.Errorf("host %q: policy %q: %w", name, opt.HostPasswordPolicies[name], err)}
		}
	}
	// Every host's root gets a password its policy accepts: a policy no
	// password meets is the option's fault (ErrNoPassword).
	if _, err := generatePassword(Common{Username: "root", PasswordQualityControl: opt.PasswordQualityControl, CheckPassword: opt.CheckPassword}); err != nil {
		return nil, &OptionError{"PasswordQualityControl", err}
	}
	for _, name := range slices.Sorted(maps.Keys(opt.HostPasswordPolicies)) {
		if _, err := generatePassword(Common{Username: "root", PasswordQualityControl: opt.HostPasswordPolicies[name], CheckPassword: opt.CheckPassword}); err != nil {
			return nil, &OptionError{"HostPasswordPolicies", fmt.Errorf("host %q: %w", name, err)}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(opt.HostLockdown)) {
		if !validLockdownMode(types.HostLockdownMode(opt.HostLockdown[name])) {
			return nil, &OptionError{"HostLockdown", fmt.Errorf("host %q: %q is not a lockdown mode (lockdownDisabled, lockdownNormal, lockdownStrict)", name, opt.HostLockdown[name])}
		}
	}
	if opt.FailHost != "" && opt.FailWrite <= 0 {
		return nil, &OptionError{"FailHost", fmt.Errorf("host %q without a write to fail (FailWrite)", opt.FailHost)}
	}
	layout, err := newVCLayout(opt.Hosts, opt.Clusters)
	if err != nil {
		return nil, &OptionError{"Clusters", err}
	}
	if opt.Password == "" {
		// vCenter's SSO policy is not ESXi's; any strong random password does.
		opt.Password, err = generatePassword(Common{Username: opt.Username, PasswordQualityControl: passwdqc.ESXiDefault, CheckPassword: PasswdqcChecker})
		if err != nil {
			return nil, err
		}
	}
	globalFail := opt.FailWrite
	if opt.FailHost != "" {
		globalFail = 0 // counted per host (SetFailHostWrite, after install)
	}
	ep, err := newEndpoint(opt.Listen, globalFail, opt.FailFault)
	if err != nil {
		return nil, err
	}
	v = &VCenter{endpoint: ep, trace: opt.Trace, hosts: map[string]*vcHost{}, byName: map[string]*vcHost{}, managers: map[types.ManagedObjectReference]*vcHost{}}

	err = v.start(func() (*simulator.Model, error) {
		// One VM per standalone host and per cluster resource pool when
		// the guests authenticate.
		return buildVCenterModel(ctx, layout, opt.GuestAuth != nil, false)
	}, func(model *simulator.Model) error { return v.install(ctx, model, opt) }, opt.Listen, opt.Username, opt.Password)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// install gives every HostSystem its state and managers, host after host
// until ctx is done (one trace line each).
func (v *VCenter) install(ctx context.Context, model *simulator.Model, opt VCenterOptions) error {
	m := model.Map()
	rel, err := esxiRelease(opt.ESXiVersion)
	if err != nil {
		return err
	}
	si, ok := m.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	if !ok {
		return fmt.Errorf("esxsim: no ServiceInstance in model")
	}
	vcenter803.aboutVCenter(&si.Content.About)
	var hosts []*simulator.HostSystem
	for _, e := range m.All("HostSystem") {
		hs, ok := e.(*simulator.HostSystem)
		if !ok {
			return fmt.Errorf("esxsim: unexpected HostSystem %T", e)
		}
		hosts = append(hosts, hs)
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	if len(hosts) != opt.Hosts {
		return fmt.Errorf("esxsim: model has %d hosts, want %d", len(hosts), opt.Hosts)
	}
	// Every host starts with ESXi's system roles: one set of their
	// privileges serves all (loadRoles).
	knownPrivs := adminPrivileges(simesx.RoleList)
	for i, hs := range hosts {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("esxsim: stopped after %d of %d hosts: %w", i, len(hosts), err)
		}
		v.tracef("build: host %d of %d", i+1, len(hosts))
		if len(opt.HostNames) > 0 {
			if opt.HostNames[i] == "" {
				return fmt.Errorf("esxsim: HostNames[%d] is empty", i)
			}
			renameHost(m, hs, opt.HostNames[i])
		}
		policy := opt.PasswordQualityControl
		if p, ok := opt.HostPasswordPolicies[hs.Name]; ok {
			policy = p
		}
		hopt := Options{
			Common: Common{
				Username:               "root",
				PasswordQualityControl: policy,
				CheckPassword:          opt.CheckPassword,
				Trace:                  opt.Trace,
				WeakPasswordFault:      opt.WeakPasswordFault,
			},
		}
		hostRelease(hs, rel)
		pw, err := generatePassword(hopt.Common)
		if err != nil {
			return err
		}
		hopt.Password = pw
		st := newState(hopt, nil)
		st.root = hostRootFolder
		st.agent = vcenterAgent
		if err := st.seed(); err != nil {
			return err
		}
		path, err := inventoryPath(m, hs.Self)
		if err != nil {
			return err
		}
		h := &vcHost{name: hs.Name, path: path, ref: hs.Self, st: st}
		// The host's own role table: ESXi's system roles (esx model).
		am := &simulator.AuthorizationManager{}
		am.RoleList = append([]types.AuthorizationRole(nil), simesx.RoleList...)
		st.loadRoles(am, knownPrivs)
		h.authz = &authorizationManager{AuthorizationManager: am, st: st}

		// Distinct management addresses (vmk0) from TEST-NET-1 (RFC 5737):
		// vcsim gives every host 127.0.0.1.
		if hs.Config != nil && hs.Config.Network != nil && len(hs.Config.Network.Vnic) > 0 && hs.Config.Network.Vnic[0].Spec.Ip != nil {
			h.ip = fmt.Sprintf("192.0.2.%d", 10+i)
			hs.Config.Network.Vnic[0].Spec.Ip.IpAddress = h.ip
		}

		lamRef := types.ManagedObjectReference{Type: "HostLocalAccountManager", Value: "hostLocalAccountManager-" + hs.Self.Value}
		lam := &simulator.HostLocalAccountManager{HostLocalAccountManager: mo.HostLocalAccountManager{Self: lamRef}}
		m.Put(&accountManager{HostLocalAccountManager: lam, st: st})
		hs.ConfigManager.AccountManager = &lamRef

		hamRef := types.ManagedObjectReference{Type: "HostAccessManager", Value: "hostAccessManager-" + hs.Self.Value}
		ham := &hostAccessManager{HostAccessManager: mo.HostAccessManager{Self: hamRef}, st: st, authz: h.authz, name: h.name, host: hs.Self, viaVCenter: true}
		m.Put(ham)
		hs.ConfigManager.HostAccessManager = &hamRef
		mode := types.HostLockdownMode(opt.HostLockdown[hs.Name])
		if mode == "" {
			mode = types.HostLockdownModeLockdownDisabled
		}
		st.setLockdown(mode)
		ham.LockdownMode = mode
		if hs.Config != nil {
			hs.Config.LockdownMode = mode
		}

		if hs.ConfigManager.AdvancedOption == nil {
			return fmt.Errorf("esxsim: host %s has no advanced option manager", hs.Name)
		}
		if err := st.installOptionsOn(m, *hs.ConfigManager.AdvancedOption); err != nil {
			return err
		}

		if err := installCLI(m, hs, h); err != nil {
			return err
		}
		v.managers[lamRef] = h
		v.managers[hamRef] = h
		v.managers[*hs.ConfigManager.AdvancedOption] = h
		v.managers[types.ManagedObjectReference{Type: "ManagedMethodExecuter", Value: hs.Self.Value}] = h
		v.hosts[hs.Self.Value] = h
		v.byName[h.name] = h
		v.Hosts = append(v.Hosts, h.name)
	}
	sort.Strings(v.Hosts)
	if len(v.byName) != len(hosts) {
		return fmt.Errorf("esxsim: HostNames must be distinct")
	}
	for _, name := range slices.Sorted(maps.Keys(opt.HostPasswordPolicies)) {
		if _, ok := v.byName[name]; !ok {
			return &OptionError{"HostPasswordPolicies", fmt.Errorf("no host %q (hosts: %s)", name, v.hostList())}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(opt.HostLockdown)) {
		if _, ok := v.byName[name]; !ok {
			return &OptionError{"HostLockdown", fmt.Errorf("no host %q (hosts: %s)", name, v.hostList())}
		}
	}
	if opt.FailHost != "" {
		if _, ok := v.byName[opt.FailHost]; !ok {
			return &OptionError{"FailHost", fmt.Errorf("no host %q (hosts: %s)", opt.FailHost, v.hostList())}
		}
		if err := v.SetFailHostWrite(opt.FailHost, opt.FailWrite, opt.FailFault); err != nil {
			return err
		}
	}

	if err := v.installAuthz(m, opt.Username, opt.Password); err != nil {
		return err
	}
	sm := m.SessionManager()
	sm.ValidLogin = func(req *types.Login) bool {
		// A vCenter user with a permission other than NoAccess (login.go's
		// rule, applied to vCenter's users).
		valid, access := v.st.loginVerdict(req.UserName, req.Password)
		ok := valid && access
		if ok {
			v.logins.Add(1)
		}
		v.tracef("Login %q: ok=%v", req.UserName, ok)
		return ok
	}
	m.Handler = v.handler
	if opt.SSPI != nil {
		simsspi.Install(m, opt.SSPI, opt.SSPIOptions)
	}
	return v.installGuests(m, opt.GuestAuth)
}

// installGuests gives the VMs guest SSPI authentication (simguest): each
// VM for which guestAuth returns an acceptor authenticates with it; the
// others refuse every token (InvalidGuestLogin) — all of them when none has
// one (a keytab with vCenter's key only: pass-through logins still work).
func (v *VCenter) installGuests(m *simulator.Registry, guestAuth func(string) (simguest.Acceptor, error)) error {
	if guestAuth == nil {
		return nil
	}
	accs := map[string]simguest.Acceptor{}
	for _, e := range m.All("VirtualMachine") {
		vm, ok := e.(*simulator.VirtualMachine)
		if !ok || vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
			continue
		}
		acc, err := guestAuth(vm.Name)
		if err != nil {
			v.tracef("VM %s: no guest authentication: %v", vm.Name, err)
			continue
		}
		accs[vm.Name] = acc
		v.VMs = append(v.VMs, vm.Name)
	}
	sort.Strings(v.VMs)
	simguest.Install(m, refuseAll{}, simguest.Options{Acceptors: accs})
	return nil
}

// refuseAll is the acceptor of VMs without guest authentication.
type refuseAll struct{}

func (refuseAll) Accept(string, []byte) ([]byte, string, bool, error) {
	return nil, "", false, fmt.Errorf("esxsim: this VM's guest has no SSPI acceptor")
}

func (refuseAll) Forget(string) {}

// VCenter's writes are the calls that change a host's state: CreateUser,
// UpdateUser, RemoveUser, ChangeAccessMode, ChangeLockdownMode,
// UpdateLockdownExceptions and the esxcli commands system account
// add|set|remove and system permission set|unset.

// HostIP returns the management address (vmk0) of the named host.
func (v *VCenter) HostIP(name string) (string, bool) {
	h, ok := v.byName[name]
	if !ok {
		return "", false
	}
	return h.ip, true
}

// HostPath returns the inventory path of the named host, as govc prints it
// and find.Finder resolves it: /DC0/host/DC0_H0/DC0_H0 for a standalone
// host (in its own ComputeResource), /DC0/host/DC0_C0/DC0_C0_H0 for a host
// in cluster DC0_C0.
func (v *VCenter) HostPath(name string) (string, bool) {
	h, ok := v.byName[name]
	if !ok {
		return "", false
	}
	return h.path, true
}

// HostWrites returns the number of write calls received so far for the
// named host's state (counted as Writes counts them), or -1 when there is
// no such host.
func (v *VCenter) HostWrites(name string) int {
	h, ok := v.byName[name]
	if !ok {
		return -1
	}
	return int(h.writes.Load())
}

// SetFailHostWrite makes the k-th write call to the named host's state fail
// with fault f (nil: a SystemError "injected fault"); k counts that host's
// writes from server start, as HostWrites reports them:
// SetFailHostWrite(h, v.HostWrites(h)+1, f) fails h's next write. Writes to
// other hosts are not affected. Only one write fails; k <= 0 disables it.
// It works beside SetFailWrite (which counts the writes to all hosts), with
// the same rules: the fault is answered after authentication and
// authorization, and a failed write changes nothing.
func (v *VCenter) SetFailHostWrite(name string, k int, f types.BaseMethodFault) error {
	h, ok := v.byName[name]
	if !ok {
		return fmt.Errorf("esxsim: no host %q (hosts: %s)", name, v.hostList())
	}
	if f == nil {
		f = &types.SystemError{Reason: "injected fault"}
	}
	v.failMu.Lock()
	v.failHost, v.failHostWrite, v.failHostFault = h, int64(k), f
	v.failMu.Unlock()
	return nil
}

// hostList names the hosts for an error message, clipped after a few.
func (v *VCenter) hostList() string {
	const show = 5
	if len(v.Hosts) <= show {
		return strings.Join(v.Hosts, ", ")
	}
	return fmt.Sprintf("%s, ... (%d in all)", strings.Join(v.Hosts[:show], ", "), len(v.Hosts))
}

// renameHost names a host as it was added to vCenter (HostSystem.name, its
// summary's config name and, for a standalone host, its ComputeResource,
// which vCenter names after the host it holds, as vcsim's
// CreateStandaloneHost does).
func renameHost(m *simulator.Registry, hs *simulator.HostSystem, name string) {
	if hs.Parent != nil {
		if cr, ok := m.Get(*hs.Parent).(*mo.ComputeResource); ok && cr.Name == hs.Name {
			cr.Name = name
		}
	}
	hs.Name = name
	hs.Summary.Config.Name = name
}

// HostRef returns the HostSystem reference of the named host.
func (v *VCenter) HostRef(name string) (types.ManagedObjectReference, bool) {
	h, ok := v.byName[name]
	if !ok {
		return types.ManagedObjectReference{}, false
	}
	return h.ref, true
}

// CheckHostLogin reports whether user/password are valid credentials of the
// named host's local account and whether that user has access to the host
// (a permission other than NoAccess), as a direct login to the host would
// decide (login.go). It is for tests: through vCenter there is no host login.
func (v *VCenter) CheckHostLogin(host, user, password string) (valid, access bool, err error) {
	h, ok := v.byName[host]
	if !ok {
		return false, false, fmt.Errorf("esxsim: no host %q", host)
	}
	valid, access = h.st.loginVerdict(user, password)
	return valid, access, nil
}

func (v *VCenter) tracef(format string, args ...any) {
	tracef(v.trace, "esxsim vcenter: ", format, args...)
}

// handler sees every request before dispatch: it counts requests and writes
// and marks the k-th write for injection (see Server.handler).
func (v *VCenter) handler(ctx *simulator.Context, m *simulator.Method) (mo.Reference, types.BaseMethodFault) {
	n := v.requests.Add(1)
	v.tracef("request %s %s", m.Name, m.This.Value)
	if f := v.intercept(ctx, m, n); f != nil {
		return nil, f
	}
	write := vcWriteMethods[m.Name]
	if m.Name == "ExecuteSoap" {
		write = cliWriteMethods[soapMethod(m.Body)]
	}
	if write {
		if n, f := v.countWrite(ctx); f != nil {
			v.tracef("write #%d %s: injected fault %T", n, m.Name, f)
		}
		if h := v.managers[m.This]; h != nil {
			n := h.writes.Add(1)
			v.failMu.Lock()
			fail, f := v.failHost == h && v.failHostWrite == n, v.failHostFault
			v.failMu.Unlock()
			if fail {
				injectFault(ctx, f)
				v.tracef("write #%d on %s %s: injected fault %T", n, h.name, m.Name, f)
			}
		}
	}
	if f := v.vcAuthorize(ctx, m); f != nil {
		v.tracef("%s by %q: %s", m.Name, ctx.Session.UserName, f.String)
		deny(m, f)
	}
	return nil, nil
}

// soapMethod returns the Method field of an ExecuteSoap request body (its
// type is in govmomi's internal package, hence reflection).
func soapMethod(body any) string {
	rv := reflect.ValueOf(body)
	if rv.Kind() != reflect.Ptr || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return ""
	}
	f := rv.Elem().FieldByName("Method")
	if !f.IsValid() || f.Kind() != reflect.String {
		return ""
	}
	return f.String()
}
