package esxsim

// vCenter's users, permissions and privilege checks.
//
// A simulated vCenter has its own users (the SSO administrator and those
// added with VCenter.AddUser), roles and permissions on its inventory,
// distinct from each managed host's local ones (vSphere Security, "vCenter
// Server ... permissions are separate from ESXi host permissions"; "When you
// manage local users on your ESXi host, you are not affecting the vCenter
// Server users", vSphere CLI Concepts and Examples). They live in a state
// of their own (the same code as an ESXi host's: effective permissions,
// roles, HasPrivilegeOnEntities, privilege-checked property reads), behind
// vCenter's AuthorizationManager.
//
// A call that reaches a host's manager through vCenter is authorized by
// vCenter, with the vCenter session's privileges on the HostSystem (the
// managers are the host's configManager objects, not entities; their
// privilege is checked on the host they belong to):
//
//   - HostLocalAccountManager.CreateUser/UpdateUser/RemoveUser:
//     Host.Local.ManageUserGroups (pyVmomi ServerObjects.py);
//   - HostAccessManager.ChangeAccessMode and RetrieveHostAccessControlEntries:
//     Global.Settings (pyVmomi ServerObjects.py; HostAccessManager
//     reference "Required Privileges Global.Settings");
//   - the host's advanced options: QueryOptions System.Read, UpdateOptions
//     Host.Config.AdvancedConfig "on the host" (OptionManager reference);
//   - esxcli through vCenter (ManagedMethodExecuter.ExecuteSoap): the
//     privileges of the API calls the commands stand for — system account
//     add/set/remove Host.Local.ManageUserGroups, system permission
//     set/unset Global.Settings (as ChangeAccessMode), the list commands
//     System.Read. The privilege of ExecuteSoap itself is not documented;
//     this mapping is an assumption.
//
// Principals are compared exactly as the session's user name (vcsim keeps
// the name the client logged in with, e.g. "administrator@vsphere.local";
// a real vCenter reports "VSPHERE.LOCAL\Administrator"). Users who log in
// by SSPI ("DOMAIN\user") are treated as members of vCenter's
// Administrators group (assumed; the simulator has no directory).

import (
	"fmt"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/passwdqc"
)

// installAuthz gives vCenter its own users, permissions and privilege
// checks (st), with user as the administrator (Admin on the root folder).
func (v *VCenter) installAuthz(m *simulator.Registry, user, password string) error {
	si, ok := m.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	if !ok {
		return fmt.Errorf("esxsim: no ServiceInstance in model")
	}
	am, ok := m.Get(*si.Content.AuthorizationManager).(*simulator.AuthorizationManager)
	if !ok {
		return fmt.Errorf("esxsim: unexpected AuthorizationManager %T", m.Get(*si.Content.AuthorizationManager))
	}
	st := newState(Options{Common: Common{Username: user, Password: password, CheckPassword: PasswdqcChecker, PasswordQualityControl: passwdqc.ESXiDefault, Trace: v.trace}}, nil)
	st.root = si.Content.RootFolder
	st.domainUser = func(name string) bool { return strings.Contains(name, `\`) }
	a := &account{id: user}
	if err := a.setPassword(password); err != nil {
		return err
	}
	st.addUser(a)
	st.perms[st.root] = []types.Permission{{Entity: &st.root, Principal: user, RoleId: roleAdmin, Propagate: true}}
	st.loadRoles(am, nil)
	am.PrivilegeList = privilegeList(st.knownPrivs)
	m.Put(&authorizationManager{AuthorizationManager: am, st: st})
	installDenier(m)
	installPropertyCollector(m)
	v.st = st
	return nil
}

// AddUser adds a vCenter (SSO) user, without permissions: grant it a role
// with vCenter's AuthorizationManager.SetEntityPermissions. For tests: SSO
// users are created with the SSO admin API, which is not simulated.
func (v *VCenter) AddUser(name, password string) error {
	if strings.TrimSpace(name) == "" || password == "" {
		return fmt.Errorf("esxsim: AddUser: name and password are required")
	}
	v.st.mu.Lock()
	defer v.st.mu.Unlock()
	if _, ok := v.st.users[name]; ok {
		return fmt.Errorf("esxsim: AddUser: %q exists", name)
	}
	a := &account{id: name}
	if err := a.setPassword(password); err != nil {
		return err
	}
	v.st.addUser(a)
	return nil
}

// hostOf returns the managed host whose manager (account, access, advanced
// options, esxcli executer) ref is.
func (v *VCenter) hostOf(ref types.ManagedObjectReference) *vcHost {
	return v.managers[ref]
}

// vcAuthorize checks the privileges of an authenticated vCenter call.
func (v *VCenter) vcAuthorize(ctx *simulator.Context, m *simulator.Method) *soap.Fault {
	if ctx.Session == nil {
		return nil
	}
	user := ctx.Session.UserName
	if h := v.hostOf(m.This); h != nil {
		priv := ""
		switch m.Name {
		case "CreateUser", "UpdateUser", "RemoveUser", "ChangePassword":
			priv = PrivManageUserGroups
		case "ChangeAccessMode", "RetrieveHostAccessControlEntries", "QuerySystemUsers", "QueryLockdownExceptions", "UpdateLockdownExceptions":
			priv = PrivGlobalSettings
		case "ChangeLockdownMode":
			priv = PrivHostConfigSettings
		case "QueryOptions":
			priv = PrivSystemRead
		case "UpdateOptions":
			priv = PrivAdvancedConfig
		case "ExecuteSoap":
			priv = cliPrivileges[soapMethod(m.Body)]
		}
		if priv == "" {
			return nil
		}
		return v.st.need(ctx, user, h.ref, priv)
	}
	return v.st.authorize(ctx, m)
}

// cliPrivileges are the privileges of the esxcli commands served for the
// hosts (see the file comment).
var cliPrivileges = map[string]string{
	"vim.EsxCLI.system.account.list":     PrivSystemRead,
	"vim.EsxCLI.system.account.add":      PrivManageUserGroups,
	"vim.EsxCLI.system.account.set":      PrivManageUserGroups,
	"vim.EsxCLI.system.account.remove":   PrivManageUserGroups,
	"vim.EsxCLI.system.permission.list":  PrivSystemRead,
	"vim.EsxCLI.system.permission.set":   PrivGlobalSettings,
	"vim.EsxCLI.system.permission.unset": PrivGlobalSettings,
}
