package esx

// ViHost manages the local users of one ESXi host through the vCenter that
// manages it: the equivalent of esxcli's --vihost ("esxcli --server
// <vc_hostname_or_IP> ... --vihost <esxi_hostname_or_IP>", vSphere CLI
// documentation, "Using the Microsoft Windows Security Support Provider
// Interface").
//
// Where each part lives, and why:
//
//   - Local accounts (create/update/remove): the host's own
//     HostLocalAccountManager, HostSystem.configManager.accountManager
//     ("A manager for host local user accounts. Since vSphere API 6.0",
//     HostConfigManager, vSphere API reference,
//     https://developer.broadcom.com/xapis/vsan-management-api/6.7U3/vim.host.ConfigManager.html).
//     vCenter's ServiceContent has no accountManager, and vCenter's
//     UserDirectory lists vCenter's (SSO) principals, not the host's.
//
//   - Listing the local accounts: the host's esxcli `system account list`
//     through vCenter (govmomi cli/esx.NewExecutor on the HostSystem: the
//     host's ManagedMethodExecuter). No vim API lists a host's local users
//     through vCenter (HostAccessManager.QuerySystemUsers lists only the
//     "system users").
//
//   - Permissions: the host's HostAccessManager,
//     HostSystem.configManager.hostAccessManager (since vSphere API 6.0):
//     "Managed object used to control direct access to the host. This should
//     be used to control users and privileges on the host directly, which are
//     different from the users and privileges defined in vCenter"
//     (https://developer.broadcom.com/xapis/vmware-storage-policy-api/8.0u2/vim.host.HostAccessManager.html).
//     Its access modes are exactly the Param's roles: accessAdmin /
//     accessReadOnly / accessNoAccess "describes a propagating Admin
//     [ReadOnly, NoAccess] role on the root inventory object (root folder)
//     on the host", accessNone removes the user's permissions (HostAccessMode,
//     https://developer.broadcom.com/xapis/vsan-management-api/6.7U3/vim.host.HostAccessManager.AccessMode.html).
//     It is preferred to esxcli `system permission set|unset` because it is
//     a typed vim call: faults come back typed (AuthMinimumAdminPermission,
//     SecurityError in lockdown mode, ...), and nothing is passed through
//     cli/esx's argument handling, which neither escapes values for XML nor
//     survives an unknown option (its flag set is flag.ExitOnError).
//     vCenter's AuthorizationManager is not an option: it governs vCenter's
//     permissions on vCenter's inventory; a host's local permissions live in
//     the host's own (hostd's) authorization manager, reachable only by
//     connecting to the host itself or through the host's managers above.
//     ("When you manage local users on your ESXi host, you are not
//     affecting the vCenter Server users", vSphere CLI Concepts and Examples,
//     https://docs.vmware.com/en/VMware-vSphere/6.7/vspherecli-concepts-examples/GUID-3C1F3933-E86C-478F-80F7-EC8AE1105CF2.html.)
//
//   - Password policy: the host's advanced options,
//     HostSystem.configManager.advancedOption, Security.PasswordQualityControl.
//
// Only Admin, ReadOnly and NoAccess can be granted this way (HostAccessMode;
// esxcli system permission set accepts the same three), so Snapshot.Roles
// is that set. A user whose permissions are some other combination is
// reported with the role name OtherAccess (HostAccessMode accessOther).

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	esxcli "github.com/vmware/govmomi/cli/esx"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/hostmatch"
	"github.com/esxi-users/esxi-users/internal/vfault"
	"github.com/esxi-users/esxi-users/tasks"
)

// OtherAccess is the role name ViHost reports for a user whose permissions
// on the host are not a single propagating Admin, ReadOnly or NoAccess role
// on its root folder (HostAccessMode accessOther). It is never a real role.
const OtherAccess = "(other access)"

// viHostRoles maps the grantable roles to HostAccessManager access modes.
var viHostRoles = map[string]types.HostAccessMode{
	"Admin":    types.HostAccessModeAccessAdmin,
	"ReadOnly": types.HostAccessModeAccessReadOnly,
	"NoAccess": types.HostAccessModeAccessNoAccess,
}

// ViHost is one ESXi host managed through vCenter; it implements tasks.Host.
// The account calls and the policy read are localAccounts' (shared with
// Host).
type ViHost struct {
	localAccounts
	name    string
	ref     types.ManagedObjectReference
	access  types.ManagedObjectReference
	options types.ManagedObjectReference

	cliMu sync.Mutex // esxcli.Executor caches command info in a plain map
	cli   *esxcli.Executor
	mme   *types.ManagedObjectReference // the host's executer (plainCLI)

	// granted, when set, answers MissingPrivileges: the session's
	// privileges on the host as VCenter.CheckPrivileges read them for a
	// fleet, in one request for every host.
	granted map[string]bool

	// lockdown is the host's HostConfigInfo.lockdownMode, read with the
	// host's other properties when it was found.
	lockdown types.HostLockdownMode
}

var (
	_ tasks.Host       = (*ViHost)(nil)
	_ tasks.UserLookup = (*ViHost)(nil)
)

// viCandidate is a HostSystem as NewViHost sees it.
type viCandidate struct {
	name string
	ips  []net.IP
	host mo.HostSystem
}

// NewViHost finds the host named host (its vCenter name, an IP address of
// one of its VMkernel interfaces, or its short name when that is unique)
// among the HostSystems of the vCenter s is connected to.
func NewViHost(ctx context.Context, s *Session, host string) (*ViHost, error) {
	host = strings.TrimSpace(host)
	if host == "" {
		return nil, errors.New("no --vihost host given")
	}
	if about := s.Client.ServiceContent.About; about.ApiType != "VirtualCenter" {
		return nil, fmt.Errorf("%s is not a vCenter (API type %q): --vihost needs a vCenter; connect to the ESXi host directly instead", s.Server, about.ApiType)
	}
	var hosts []mo.HostSystem
	err := s.read(ctx, "ContainerView", func(ctx context.Context) error {
		v, err := view.NewManager(s.Client).CreateContainerView(ctx, s.Client.ServiceContent.RootFolder, []string{"HostSystem"}, true)
		if err != nil {
			return err
		}
		defer v.Destroy(ctx)
		return v.Retrieve(ctx, []string{"HostSystem"}, []string{"name", "configManager", "runtime.connectionState", "config.network.vnic", "config.lockdownMode"}, &hosts)
	})
	if err != nil {
		return nil, fmt.Errorf("list the hosts of %s: %w", s.Server, vfault.Describe(err))
	}
	var cands []viCandidate
	for _, h := range hosts {
		c := viCandidate{name: h.Name, host: h}
		for _, a := range vnicAddresses(h) {
			c.ips = append(c.ips, net.ParseIP(a))
		}
		cands = append(cands, c)
	}
	found, err := matchViHost(cands, host)
	if err != nil {
		return nil, fmt.Errorf("vCenter %s: %w", s.Server, err)
	}
	return newViHost(s, found.host)
}

// newViHost is the host hs (name, configManager, runtime.connectionState)
// of the vCenter s is connected to, if its local users can be managed.
func newViHost(s *Session, hs mo.HostSystem) (*ViHost, error) {
	if st := hs.Runtime.ConnectionState; st != "" && st != types.HostSystemConnectionStateConnected {
		return nil, fmt.Errorf("host %s is %s in vCenter %s: its local users cannot be managed until it is connected", hs.Name, st, s.Server)
	}
	cm := hs.ConfigManager
	var missing []string
	if cm.AccountManager == nil {
		missing = append(missing, "accountManager")
	}
	if cm.HostAccessManager == nil {
		missing = append(missing, "hostAccessManager")
	}
	if cm.AdvancedOption == nil {
		missing = append(missing, "advancedOption")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("host %s: vCenter %s does not expose its %s (vSphere API 6.0 or later is needed)", hs.Name, s.Server, strings.Join(missing, ", "))
	}
	h := &ViHost{
		localAccounts: localAccounts{s: s, accounts: object.NewHostAccountManager(s.Client, *cm.AccountManager)},
		name:          hs.Name,
		ref:           hs.Self,
		access:        *cm.HostAccessManager,
		options:       *cm.AdvancedOption,
	}
	if hs.Config != nil {
		h.lockdown = hs.Config.LockdownMode
	}
	return h, nil
}

// DialViHost logs in to the vCenter cfg names (cfg.Username is required:
// vCenter has no "root") and finds its managed host vihost. Closing the
// session (the returned close func) logs out.
func DialViHost(ctx context.Context, cfg Config, vihost string) (*ViHost, func() error, error) {
	if strings.TrimSpace(cfg.Username) == "" && cfg.Login == nil {
		return nil, nil, errors.New("--vihost needs the vCenter user name (e.g. administrator@vsphere.local)")
	}
	s, err := Dial(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	h, err := NewViHost(ctx, s, vihost)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return h, s.Close, nil
}

// matchViHost picks the host query names, by the one rule --vihost
// follows for one host and for a fleet (internal/hostmatch): the host of
// that name (without regard to case or a final dot), else the host with
// that management address, else the host with that short name; two at the
// first level that finds any are ambiguous. A name that selects no host is
// input vCenter refuted, like a role the host does not define: the error
// wraps errkind.ErrInvalid (exit 2), in the same words as a fleet's pattern.
func matchViHost(cands []viCandidate, query string) (viCandidate, error) {
	hosts := make([]hostmatch.Host, len(cands))
	for i, c := range cands {
		hosts[i].Name = c.name
		for _, ip := range c.ips {
			hosts[i].Addresses = append(hosts[i].Addresses, ip.String())
		}
	}
	sel, err := hostmatch.Match(hosts, []string{query})
	if err != nil {
		return viCandidate{}, err
	}
	if len(sel) != 1 {
		return viCandidate{}, errkind.Invalidf("host pattern %q selects %d hosts; --vihost names one host here (several --vihost values, or a pattern, make a fleet run)", query, len(sel))
	}
	for _, c := range cands {
		if c.name == sel[0].Name {
			return c, nil
		}
	}
	return viCandidate{}, fmt.Errorf("host %q: selected but not found", sel[0].Name)
}

// Name is the host's name in vCenter.
func (h *ViHost) Name() string { return h.name }

// Reference is the host's HostSystem.
func (h *ViHost) Reference() types.ManagedObjectReference { return h.ref }

// Read implements tasks.Host.
func (h *ViHost) Read(ctx context.Context) (*tasks.Snapshot, error) {
	snap := &tasks.Snapshot{Host: h.name, User: h.s.User, ViaVCenter: true, Roles: map[string]bool{}}
	for role := range viHostRoles {
		snap.Roles[role] = true
	}
	var err error
	if snap.Users, err = h.users(ctx); err != nil {
		return nil, err
	}
	if snap.Permissions, err = h.permissions(ctx); err != nil {
		return nil, err
	}

	policy, err := h.passwordPolicy(ctx, h.options)
	if err != nil {
		return nil, fmt.Errorf("read %s of %s: %w", PasswordQualityOption, h.name, err)
	}
	snap.PasswordPolicy = policy
	if err := h.s.readLockdown(ctx, snap, h.access, h.lockdown, ""); err != nil {
		return nil, fmt.Errorf("read the lockdown exceptions of %s: %w", h.name, err)
	}
	return snap, nil
}

// Lookup implements tasks.UserLookup: id's account and its access mode on
// the host, read afresh (after a failure).
func (h *ViHost) Lookup(ctx context.Context, id string) (tasks.Observation, error) {
	return lookup(ctx, id, h.users, h.permissions)
}

// users reads the host's local users (esxcli system account list).
func (h *ViHost) users(ctx context.Context) (map[string]tasks.Account, error) {
	res, err := h.esxcli(ctx, "system", "account", "list")
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	users := map[string]tasks.Account{}
	for _, v := range res.Values {
		id := v.Value("UserID")
		if id == "" {
			return nil, fmt.Errorf("read users: esxcli system account list on %s returned an account without UserID", h.name)
		}
		users[id] = tasks.Account{ID: id, Description: v.Value("Description")}
	}
	return users, nil
}

// permissions reads the users' access modes on the host as role names.
func (h *ViHost) permissions(ctx context.Context) (map[string]string, error) {
	var entries []types.HostAccessControlEntry
	err := h.s.read(ctx, "RetrieveHostAccessControlEntries", func(ctx context.Context) error {
		r, err := methods.RetrieveHostAccessControlEntries(ctx, h.s.Client, &types.RetrieveHostAccessControlEntries{This: h.access})
		if err != nil {
			return err
		}
		entries = r.Returnval
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read permissions of %s: %w", h.name, vfault.Describe(err))
	}
	perms := map[string]string{}
	for _, e := range entries {
		if e.Group {
			continue
		}
		switch e.AccessMode {
		case types.HostAccessModeAccessNone:
		case types.HostAccessModeAccessAdmin:
			perms[e.Principal] = "Admin"
		case types.HostAccessModeAccessReadOnly:
			perms[e.Principal] = "ReadOnly"
		case types.HostAccessModeAccessNoAccess:
			perms[e.Principal] = "NoAccess"
		default:
			perms[e.Principal] = OtherAccess
		}
	}
	return perms, nil
}

// SetRole implements tasks.Host: a propagating role on the host's root
// folder, replacing the user's other permissions (HostAccessManager
// ChangeAccessMode).
func (h *ViHost) SetRole(ctx context.Context, id, role string) error {
	mode, ok := viHostRoles[role]
	if !ok {
		return fmt.Errorf("role %q cannot be granted through vCenter: only Admin, ReadOnly and NoAccess can", role)
	}
	return h.changeAccess(ctx, id, mode)
}

// RemoveRole implements tasks.Host: the user's permissions on the host are
// removed (access mode accessNone).
func (h *ViHost) RemoveRole(ctx context.Context, id string) error {
	return h.changeAccess(ctx, id, types.HostAccessModeAccessNone)
}

func (h *ViHost) changeAccess(ctx context.Context, id string, mode types.HostAccessMode) error {
	return vfault.Describe(h.s.write(ctx, "ChangeAccessMode", func(ctx context.Context) error {
		_, err := methods.ChangeAccessMode(ctx, h.s.Client, &types.ChangeAccessMode{This: h.access, Principal: id, IsGroup: false, AccessMode: mode})
		return err
	}))
}

// esxcli runs one esxcli command on the host through vCenter. args are
// command words only: no options are passed (cli/esx neither XML-escapes
// option values nor survives a bad option).
func (h *ViHost) esxcli(ctx context.Context, args ...string) (*esxcli.Response, error) {
	h.cliMu.Lock()
	defer h.cliMu.Unlock()
	cmd := "esxcli " + strings.Join(args, " ")
	var res *esxcli.Response
	err := h.s.read(ctx, "ExecuteSoap "+cmd, func(ctx context.Context) error {
		if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "-") }) {
			var err error
			res, err = h.plainCLI(ctx, args) // no options: no command info needed
			return err
		}
		if h.cli == nil {
			e, err := esxcli.NewExecutor(ctx, h.s.Client, h.ref)
			if err != nil {
				return err
			}
			h.cli = e
		}
		var err error
		res, err = h.cli.Run(ctx, args)
		return err
	})
	if err != nil {
		return nil, cliErr(cmd, h.name, err)
	}
	return res, nil
}

// CLIError is a failed esxcli command: the host's error lines.
type CLIError struct {
	Command  string   // e.g. "esxcli system account list"
	Host     string   // the host's name
	Messages []string // the fault's errMsg lines (or its message)
	Err      error
}

func (e *CLIError) Error() string {
	return fmt.Sprintf("%s on %s failed: %s", e.Command, e.Host, strings.Join(e.Messages, "; "))
}

func (e *CLIError) Unwrap() error { return e.Err }

// cliErr turns an esxcli fault into a CLIError: a real host answers with the
// message "EsxCLI.CLIFault.summary" and the reason in the fault detail's
// errMsg (govmomi issues #2148, #3073), so the detail is read.
func cliErr(cmd, host string, err error) error {
	var f *esxcli.Fault
	if !errors.As(err, &f) {
		if ef := (esxcli.Fault{}); errors.As(err, &ef) {
			f = &ef
		}
	}
	if f == nil {
		return fmt.Errorf("%s on %s: %w", cmd, host, vfault.Describe(err))
	}
	msgs := cliErrMsgs(f.Detail)
	if len(msgs) == 0 {
		msgs = []string{f.Message}
	}
	return &CLIError{Command: cmd, Host: host, Messages: msgs, Err: err}
}

// cliErrMsgs reads the errMsg lines of a LocalizedMethodFault XML.
func cliErrMsgs(detail string) []string {
	if detail == "" {
		return nil
	}
	var d struct {
		Fault struct {
			ErrMsg []string `xml:"errMsg"`
		} `xml:"fault"`
		LocalizedMessage string `xml:"localizedMessage"`
	}
	if err := xml.Unmarshal([]byte(detail), &d); err != nil {
		return nil
	}
	var out []string
	for _, m := range d.Fault.ErrMsg {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}
