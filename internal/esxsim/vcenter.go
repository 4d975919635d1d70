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
	"fmt"
	"io"
	"reflect"
	"sort"

	"github.com/vmware/govmomi/simulator"
	simesx "github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/krbaccept"
	"github.com/esxi-users/esxi-users/internal/simguest"
	"github.com/esxi-users/esxi-users/internal/simsspi"
)

// DefaultVCenterUser is the vCenter administrator of StartVCenter.
const DefaultVCenterUser = "administrator@vsphere.local"

// hostRootFolder is the moid of an ESXi host's own root folder, the entity
// holding its local permissions (ServiceContent.rootFolder on the host).
var hostRootFolder = types.ManagedObjectReference{Type: "Folder", Value: "ha-folder-root"}

// VCenterOptions configures StartVCenter. The zero value is usable.
type VCenterOptions struct {
	// Listen is the TCP address to listen on; "127.0.0.1:0" when empty.
	Listen string
	// Hosts is the number of managed ESXi hosts (default 2). About half
	// are standalone hosts of the datacenter, the rest are in a cluster.
	Hosts int
	// HostNames, when set, names the hosts (HostSystem.name, e.g. FQDNs as
	// hosts are usually added to vCenter) in model order; Hosts defaults
	// to its length. vcsim names them DC0_H0, DC0_C0_H0, ...
	HostNames []string
	// Username and Password are vCenter's administrator, default
	// DefaultVCenterUser and a random password.
	Username string
	Password string
	// PasswordQualityControl is every host's initial
	// Security.PasswordQualityControl ("" means ESXi's default). Change a
	// single host's policy through its advanced options.
	PasswordQualityControl string
	// CheckPassword enforces the host's policy (nil: passwdqc, policy.go).
	CheckPassword PasswordChecker
	// FailWrite > 0 fails the k-th write to any host's state (see
	// VCenter.SetFailWrite).
	FailWrite int
	// FailFault is the fault for FailWrite; nil means a SystemError
	// "injected fault".
	FailFault types.BaseMethodFault
	// Trace, when set, receives one line per request and per change.
	Trace io.Writer
	// SSPI, when set, makes vCenter's LoginBySSPI accept Kerberos or
	// SPNEGO tokens verified by this acceptor (simulate --vcenter
	// --sspi-keytab).
	SSPI *krbaccept.Acceptor
	// SSPIOptions tune LoginBySSPI (allowed principals, user-name form).
	SSPIOptions simsspi.Options
	// ESXiVersion is the release of the managed hosts (ESXi803, the
	// default, or ESXi703); vCenter's own about is vcsim's.
	ESXiVersion string
	// WeakPasswordFault is the hosts' fault form for a rejected password.
	WeakPasswordFault WeakPasswordForm
	// GuestAuth, when set, gives the inventory powered-on VMs whose guests
	// accept SSPI authentication (internal/simguest): it returns the
	// acceptor of a VM's guest (its own service principal, e.g.
	// host/<vm name>), or an error to leave that VM without one. VCenter.VMs
	// lists the VMs that have one.
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
}

// vcHost is one managed host: its HostSystem and its local state.
type vcHost struct {
	name  string
	ip    string
	ref   types.ManagedObjectReference
	st    *state
	authz *authorizationManager // the host's role table and permission rules
}

// vcWriteMethods are the vim methods that write a host's state. ExecuteSoap
// calls are writes when their esxcli method is in cliWriteMethods.
var vcWriteMethods = map[string]bool{
	"CreateUser":       true,
	"UpdateUser":       true,
	"RemoveUser":       true,
	"ChangeAccessMode": true,
}

// StartVCenter builds a vcsim VPX model with opt.Hosts hosts, gives each host
// its own ESXi state and serves it over HTTPS.
func StartVCenter(opt VCenterOptions) (v *VCenter, err error) {
	if opt.Hosts <= 0 {
		opt.Hosts = len(opt.HostNames)
	}
	if opt.Hosts <= 0 {
		opt.Hosts = 2
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
	if opt.Password == "" {
		// vCenter's SSO policy is not ESXi's; any strong random password does.
		opt.Password, err = generatePassword(Options{Username: opt.Username, PasswordQualityControl: DefaultPasswordQualityControl, CheckPassword: PasswdqcChecker})
		if err != nil {
			return nil, err
		}
	}
	ep, err := newEndpoint(opt.Listen, opt.FailWrite, opt.FailFault)
	if err != nil {
		return nil, err
	}
	v = &VCenter{endpoint: ep, trace: opt.Trace, hosts: map[string]*vcHost{}, byName: map[string]*vcHost{}, managers: map[types.ManagedObjectReference]*vcHost{}}

	model := simulator.VPX()
	model.Machine = 0
	if opt.GuestAuth != nil {
		model.Machine = 1 // one VM per host and per cluster resource pool
	}
	model.Host = (opt.Hosts + 1) / 2
	model.ClusterHost = opt.Hosts / 2
	model.Cluster = 0
	if model.ClusterHost > 0 {
		model.Cluster = 1
	}
	err = v.start(created(model), func(model *simulator.Model) error { return v.install(model, opt) }, opt.Listen, opt.Username, opt.Password)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// install gives every HostSystem its state and managers.
func (v *VCenter) install(model *simulator.Model, opt VCenterOptions) error {
	m := model.Map()
	rel, err := esxiRelease(opt.ESXiVersion)
	if err != nil {
		return err
	}
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
	for i, hs := range hosts {
		if len(opt.HostNames) > 0 {
			if opt.HostNames[i] == "" {
				return fmt.Errorf("esxsim: HostNames[%d] is empty", i)
			}
			hs.Name = opt.HostNames[i]
			hs.Summary.Config.Name = hs.Name
		}
		hopt := Options{
			Username:               "root",
			PasswordQualityControl: opt.PasswordQualityControl,
			CheckPassword:          opt.CheckPassword,
			Trace:                  opt.Trace,
			WeakPasswordFault:      opt.WeakPasswordFault,
		}
		hostRelease(hs, rel)
		pw, err := generatePassword(hopt)
		if err != nil {
			return err
		}
		hopt.Password = pw
		st := newState(hopt, nil)
		st.root = hostRootFolder
		if err := st.seed(); err != nil {
			return err
		}
		h := &vcHost{name: hs.Name, ref: hs.Self, st: st}
		// The host's own role table: ESXi's system roles (esx model).
		am := &simulator.AuthorizationManager{}
		am.RoleList = append([]types.AuthorizationRole(nil), simesx.RoleList...)
		st.loadRoles(am)
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
		m.Put(&hostAccessManager{HostAccessManager: mo.HostAccessManager{Self: hamRef, LockdownMode: types.HostLockdownModeLockdownDisabled}, h: h})
		hs.ConfigManager.HostAccessManager = &hamRef

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
// others refuse every token (InvalidGuestLogin).
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
	if len(v.VMs) == 0 {
		return fmt.Errorf("esxsim: no VM has a guest SSPI acceptor")
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
// UpdateUser, RemoveUser, ChangeAccessMode and the esxcli commands system
// account add|set|remove and system permission set|unset.

// HostIP returns the management address (vmk0) of the named host.
func (v *VCenter) HostIP(name string) (string, bool) {
	h, ok := v.byName[name]
	if !ok {
		return "", false
	}
	return h.ip, true
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
	if v.trace != nil {
		fmt.Fprintf(v.trace, "esxsim vcenter: "+format+"\n", args...)
	}
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
