package esxsim

// Privileges per call.
//
// vcsim lets any session call anything. ESXi checks, at every call, the
// privileges the session's user holds on the entity the call acts on, and
// answers NoPermission (faultstring "Permission to perform this operation
// was denied.", detail object and privilegeId) otherwise. This file does the
// same, in the registry handler (before dispatch), for the calls the project
// and common clients (govc, pyVmomi, Ansible community.vmware) use.
//
// Sources:
//
//   - The privilege of each method and parameter is the one in the vSphere
//     API's type information as shipped in pyVmomi (Debian python3-pyvmomi
//     6.7.1, pyVmomi/ServerObjects.py, e.g. CreateUser
//     "Host.Local.ManageUserGroups", AddAuthorizationRole
//     "Authorization.ModifyRoles", SetEntityPermissions' entity parameter
//     "Authorization.ModifyPermissions", RetrieveEntityPermissions' entity
//     "System.Read", HostAccessManager.ChangeAccessMode "Global.Settings")
//     and in the vSphere Web Services API reference (pyvmomi
//     docs/vim/AuthorizationManager.rst; developer.broadcom.com
//     .../data-structures/SetEntityPermissionsRequestType: "entity ...
//     Required privileges: Authorization.ModifyPermissions").
//   - "Dynamic" privileges, from the same reference: UserDirectory.
//     RetrieveUserGroups "You must hold the Authorization.ModifyPermissions
//     privilege to invoke this method. If you hold the privilege on any
//     ManagedEntity, you will have access to user and group information"
//     (docs/vim/UserDirectory.rst); OptionManager.QueryOptions "System.Read
//     on the host, if this is used to read the advanced options for a host
//     configuration", UpdateOptions "Host.Config.AdvancedConfig on the host,
//     if this is used to set the advanced options in the host configuration"
//     and "Global.Settings on the root folder" otherwise
//     (docs/vim/option/OptionManager.rst).
//   - No escalation: SetEntityPermissions fails with NoPermission "if
//     current session does not have any privilege in any permission that
//     being set", RemoveEntityPermission "... in the permission to be
//     removed", UpdateAuthorizationRole "... any privilege that being
//     updated in the new role" (docs/vim/AuthorizationManager.rst).
//   - Where a method's object is not a managed entity the privilege is
//     checked on the root folder: HasUserPrivilegeOnEntities, "If they refer
//     to managed objects that are not managed entities the privilege check
//     will be done on the root folder" (developer.broadcom.com
//     .../data-structures/HasUserPrivilegeOnEntitiesRequestType).
//   - Effective permissions: "A permission is defined on a ManagedEntity ...
//     the propagate flag specifies whether or not the rule applies to
//     sub-objects"; "A ManagedEntity may have multiple permissions, but may
//     have only one permission per user or group"; "Permissions defined on
//     complex entities are always applicable on the child entities,
//     regardless of the propagation flag" (AuthorizationManager); a
//     permission on a child overrides a propagated one from a parent
//     (vSphere Security, "Permission Inheritance ... Multiple Permission
//     Settings": "Permissions applied on a child object always override
//     permissions that are applied on a parent object").
//   - User-defined roles always hold "System.Anonymous", "System.View" and
//     "System.Read" (AddAuthorizationRole).
//   - The faultstring: govmomi issue #3455 (a vSphere 8 NoPermission,
//     "Permission to perform this operation was denied.") and rbvmomi
//     issue #19.
//
// The session's user is looked up at every call, so a permission change
// applies at once to sessions already logged in (there is no per-session
// privilege cache on ESXi: "Any change to a permission is applied
// immediately", assumed; the reference does not say otherwise).
//
// Domain users (SSPI sessions, "DOMAIN\user") hold Admin on the root
// folder, as members of the "ESX Admins" Active Directory group do on a
// host joined to a domain (vSphere Security, "Configure a Host to Use
// Active Directory": the group named by
// Config.HostAgent.plugins.hostsvc.esxAdminsGroup is granted the
// Administrator role). The simulator cannot know group membership, so it
// assumes every domain user that may log in (simsspi.Options.
// AllowedPrincipals) is in that group.

import (
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Privilege ids.
const (
	PrivManageUserGroups   = "Host.Local.ManageUserGroups"
	PrivModifyPermissions  = "Authorization.ModifyPermissions"
	PrivModifyRoles        = "Authorization.ModifyRoles"
	PrivAdvancedConfig     = "Host.Config.AdvancedConfig"
	PrivGlobalSettings     = "Global.Settings"
	PrivHostConfigSettings = "Host.Config.Settings"
	PrivSystemAnonymous    = "System.Anonymous"
	PrivSystemView         = "System.View"
	PrivSystemRead         = "System.Read"
)

// systemPrivileges are in every user-defined role (AddAuthorizationRole).
var systemPrivileges = []string{PrivSystemAnonymous, PrivSystemView, PrivSystemRead}

// noPermissionMessage is NoPermission's faultstring on ESXi and vCenter.
const noPermissionMessage = "Permission to perform this operation was denied."

func noPermission(obj types.ManagedObjectReference, priv string) *soap.Fault {
	return simulator.Fault(noPermissionMessage, &types.NoPermission{Object: &obj, PrivilegeId: priv})
}

// entityChain returns ref and its ancestors, nearest first, as the model
// knows them; nil if ref is not a managed entity of ctx's model.
func entityChain(ctx *simulator.Context, ref types.ManagedObjectReference) []types.ManagedObjectReference {
	var chain []types.ManagedObjectReference
	for p := &ref; p != nil; {
		e, ok := ctx.Map.Get(*p).(mo.Entity)
		if !ok {
			break
		}
		chain = append(chain, *p)
		p = e.Entity().Parent
	}
	return chain
}

// isDomainUser reports whether a session's user is a domain principal
// ("DOMAIN\user" or "user@domain"), not a local account.
func isDomainUser(user string) bool {
	return strings.ContainsAny(user, `\@`)
}

// isDomain reports whether user is a domain user of this state.
func (st *state) isDomain(user string) bool {
	if st.domainUser != nil {
		return st.domainUser(user)
	}
	return isDomainUser(user)
}

// roleOn returns the role the user holds on chain[0] (chain as from
// entityChain): its own permission there, else the nearest ancestor's
// propagating one (or any permission on a complex entity's parent, which
// children always inherit). st.mu must be held.
func (st *state) roleOn(user string, chain []types.ManagedObjectReference) (int32, bool) {
	for i, ref := range chain {
		j := indexPerm(st.perms[ref], user, false)
		if j < 0 {
			continue
		}
		p := st.perms[ref][j]
		if i == 0 || p.Propagate || complexParent(ref) {
			return p.RoleId, true
		}
	}
	if st.isDomain(user) && len(chain) > 0 && chain[len(chain)-1] == st.root && (!st.lockedDown() || st.exempt(user, false)) {
		return roleAdmin, true // ESX Admins, see the file comment; not in lockdown mode (lockdown.go)
	}
	return 0, false
}

// complexParent reports whether ref is the parent of a complex entity
// (Datacenter, ComputeResource, ClusterComputeResource), whose
// permissions its child objects always inherit.
func complexParent(ref types.ManagedObjectReference) bool {
	switch ref.Type {
	case "Datacenter", "ComputeResource", "ClusterComputeResource":
		return true
	}
	return false
}

// rolePrivileges returns the privileges of a role. st.mu must be held.
func (st *state) rolePrivileges(id int32) []string {
	if r := st.roles[id]; r != nil {
		return r.privs
	}
	return nil
}

// privilegesOn returns the privileges user holds on chain[0]. st.mu must be
// held.
func (st *state) privilegesOn(user string, chain []types.ManagedObjectReference) map[string]bool {
	held := map[string]bool{}
	role, ok := st.roleOn(user, chain)
	if !ok {
		return held
	}
	for _, p := range st.rolePrivileges(role) {
		held[p] = true
	}
	return held
}

// Privileges returns the privileges user holds on entity (e.g. the root
// folder), sorted; for tests and tools.
func (s *Server) Privileges(user string, entity types.ManagedObjectReference) []string {
	ctx := &simulator.Context{Map: s.model.Map()}
	chain := entityChain(ctx, entity)
	s.st.mu.Lock()
	held := s.st.privilegesOn(user, chain)
	s.st.mu.Unlock()
	out := make([]string, 0, len(held))
	for p := range held {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// need returns NoPermission unless user holds every privilege in privs on
// entity. An entity the model does not know is not checked here (the
// method answers ManagedObjectNotFound).
func (st *state) need(ctx *simulator.Context, user string, entity types.ManagedObjectReference, privs ...string) *soap.Fault {
	chain := entityChain(ctx, entity)
	if len(chain) == 0 {
		return nil
	}
	st.mu.Lock()
	held := st.privilegesOn(user, chain)
	st.mu.Unlock()
	for _, p := range privs {
		if !held[p] {
			return noPermission(entity, p)
		}
	}
	return nil
}

// needAnywhere returns NoPermission unless user holds priv on some entity
// that carries one of its permissions (RetrieveUserGroups' rule).
func (st *state) needAnywhere(user, priv string) *soap.Fault {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, perms := range st.perms {
		for _, p := range perms {
			if p.Group || p.Principal != user {
				continue
			}
			for _, q := range st.rolePrivileges(p.RoleId) {
				if q == priv {
					return nil
				}
			}
		}
	}
	if st.isDomain(user) && (!st.lockedDown() || st.exempt(user, false)) {
		return nil // ESX Admins
	}
	return noPermission(st.root, priv)
}

// authorize checks the privileges of an authenticated call on the
// simulated ESXi host; it returns the fault to answer instead, or nil.
func (st *state) authorize(ctx *simulator.Context, m *simulator.Method) *soap.Fault {
	if ctx.Session == nil {
		return nil // vcsim answers NotAuthenticated
	}
	user := ctx.Session.UserName
	root := st.root
	switch req := m.Body.(type) {
	case *types.CreateUser, *types.UpdateUser, *types.RemoveUser, *types.ChangePassword:
		return st.need(ctx, user, root, PrivManageUserGroups)
	case *types.RetrieveUserGroups:
		return st.needAnywhere(user, PrivModifyPermissions)
	case *types.SetEntityPermissions:
		if f := st.need(ctx, user, req.Entity, PrivModifyPermissions); f != nil {
			return f
		}
		var privs []string
		st.mu.Lock()
		for _, p := range req.Permission {
			privs = append(privs, st.rolePrivileges(p.RoleId)...)
		}
		st.mu.Unlock()
		return st.need(ctx, user, req.Entity, privs...)
	case *types.ResetEntityPermissions:
		return st.need(ctx, user, req.Entity, PrivModifyPermissions)
	case *types.RemoveEntityPermission:
		if f := st.need(ctx, user, req.Entity, PrivModifyPermissions); f != nil {
			return f
		}
		var privs []string
		st.mu.Lock()
		if i := indexPerm(st.perms[req.Entity], req.User, req.IsGroup); i >= 0 {
			privs = st.rolePrivileges(st.perms[req.Entity][i].RoleId)
		}
		st.mu.Unlock()
		return st.need(ctx, user, req.Entity, privs...)
	case *types.AddAuthorizationRole, *types.RemoveAuthorizationRole, *types.MergePermissions:
		return st.need(ctx, user, root, PrivModifyRoles)
	case *types.UpdateAuthorizationRole:
		return st.need(ctx, user, root, append([]string{PrivModifyRoles}, req.PrivIds...)...)
	case *types.RetrieveEntityPermissions:
		return st.need(ctx, user, req.Entity, PrivSystemRead)
	case *types.RetrieveAllPermissions, *types.RetrieveRolePermissions:
		return st.need(ctx, user, root, PrivSystemView)
	case *types.HasPrivilegeOnEntity:
		if f := st.need(ctx, user, root, PrivSystemView); f != nil {
			return f
		}
		return st.need(ctx, user, req.Entity, PrivSystemRead)
	case *types.HasPrivilegeOnEntities:
		if f := st.need(ctx, user, root, PrivSystemView); f != nil {
			return f
		}
		for _, e := range req.Entity {
			if f := st.need(ctx, user, e, PrivSystemRead); f != nil {
				return f
			}
		}
	case *types.FetchUserPrivilegeOnEntities:
		for _, e := range req.Entities {
			if f := st.need(ctx, user, e, PrivSystemView); f != nil {
				return f
			}
		}
	case *types.HasUserPrivilegeOnEntities:
		for _, e := range req.Entities {
			if len(entityChain(ctx, e)) == 0 {
				e = root
			}
			if f := st.need(ctx, user, e, PrivSystemView); f != nil {
				return f
			}
		}
	case *types.ChangeAccessMode, *types.RetrieveHostAccessControlEntries, *types.QueryLockdownExceptions,
		*types.QuerySystemUsers, *types.UpdateLockdownExceptions:
		// HostAccessManager: Global.Settings (vSphere API reference); on
		// the root folder, as for a manager that is not an entity.
		return st.need(ctx, user, root, PrivGlobalSettings)
	case *types.ChangeLockdownMode:
		return st.need(ctx, user, root, PrivHostConfigSettings)
	case *types.QueryOptions:
		if st.host != nil && req.This == st.hostOptions {
			return st.need(ctx, user, *st.host, PrivSystemRead)
		}
		return st.need(ctx, user, root, PrivSystemView)
	case *types.UpdateOptions:
		if st.host != nil && req.This == st.hostOptions {
			return st.need(ctx, user, *st.host, PrivAdvancedConfig)
		}
		return st.need(ctx, user, root, PrivGlobalSettings)
	}
	return nil
}

// denier answers a call that failed authorization: Server.handler re-aims
// the request at it (method EsxsimDenied, body denyRequest), because vcsim
// ignores a handler's replacement object for authenticated sessions and a
// fault returned by the handler itself would have an empty faultstring.
type denier struct {
	Self types.ManagedObjectReference
}

type denyRequest struct{ fault *soap.Fault }

type denyBody struct{ fault *soap.Fault }

func (b *denyBody) Fault() *soap.Fault { return b.fault }

var denierRef = types.ManagedObjectReference{Type: "EsxsimDenier", Value: "esxsim-denier"}

func (d *denier) Reference() types.ManagedObjectReference { return d.Self }

// EsxsimDenied answers the fault decided by the handler.
func (d *denier) EsxsimDenied(_ *simulator.Context, req *denyRequest) soap.HasFault {
	return &denyBody{fault: req.fault}
}

// deny re-aims m at the denier, which answers f.
func deny(m *simulator.Method, f *soap.Fault) {
	m.This = denierRef
	m.Name = "EsxsimDenied"
	m.Body = &denyRequest{fault: f}
}

// installDenier puts the denier into the registry.
func installDenier(r *simulator.Registry) {
	if r.Get(denierRef) == nil {
		r.Put(&denier{Self: denierRef})
	}
}

// HasPrivilegeOnEntities answers, for the session named by sessionId, which
// of privId it holds on each entity ("If the session does not exist, false
// is returned for all privileges of all the entities", AuthorizationManager
// reference). vcsim answers true for everything.
func (m *authorizationManager) HasPrivilegeOnEntities(ctx *simulator.Context, req *types.HasPrivilegeOnEntities) soap.HasFault {
	body := new(methods.HasPrivilegeOnEntitiesBody)
	for _, e := range req.Entity {
		if _, ok := entityExists(ctx, e); !ok {
			body.Fault_ = managedObjectNotFound(e)
			return body
		}
	}
	user, found := sessionUser(ctx, req.SessionId)
	res := &types.HasPrivilegeOnEntitiesResponse{}
	for _, e := range req.Entity {
		res.Returnval = append(res.Returnval, entityPrivilege(e, req.PrivId, m.held(ctx, user, found, e)))
	}
	body.Res = res
	return body
}

// HasPrivilegeOnEntity is HasPrivilegeOnEntities for one entity.
func (m *authorizationManager) HasPrivilegeOnEntity(ctx *simulator.Context, req *types.HasPrivilegeOnEntity) soap.HasFault {
	body := new(methods.HasPrivilegeOnEntityBody)
	if _, ok := entityExists(ctx, req.Entity); !ok {
		body.Fault_ = managedObjectNotFound(req.Entity)
		return body
	}
	user, found := sessionUser(ctx, req.SessionId)
	held := m.held(ctx, user, found, req.Entity)
	res := &types.HasPrivilegeOnEntityResponse{}
	for _, p := range req.PrivId {
		res.Returnval = append(res.Returnval, held[p])
	}
	body.Res = res
	return body
}

// FetchUserPrivilegeOnEntities returns the privileges userName holds on
// each entity (vSphere API 6.5; "is the user to retrieve privileges for").
func (m *authorizationManager) FetchUserPrivilegeOnEntities(ctx *simulator.Context, req *types.FetchUserPrivilegeOnEntities) soap.HasFault {
	body := new(methods.FetchUserPrivilegeOnEntitiesBody)
	res := &types.FetchUserPrivilegeOnEntitiesResponse{}
	for _, e := range req.Entities {
		if _, ok := entityExists(ctx, e); !ok {
			body.Fault_ = managedObjectNotFound(e)
			return body
		}
		held := m.held(ctx, req.UserName, true, e)
		privs := make([]string, 0, len(held))
		for p := range held {
			privs = append(privs, p)
		}
		sort.Strings(privs)
		res.Returnval = append(res.Returnval, types.UserPrivilegeResult{Entity: e, Privileges: privs})
	}
	body.Res = res
	return body
}

// HasUserPrivilegeOnEntities answers which of privId userName holds on
// each object (non-entities: on the root folder).
func (m *authorizationManager) HasUserPrivilegeOnEntities(ctx *simulator.Context, req *types.HasUserPrivilegeOnEntities) soap.HasFault {
	body := new(methods.HasUserPrivilegeOnEntitiesBody)
	res := &types.HasUserPrivilegeOnEntitiesResponse{}
	for _, e := range req.Entities {
		target := e
		if _, ok := entityExists(ctx, e); !ok {
			target = m.st.root
		}
		res.Returnval = append(res.Returnval, entityPrivilege(e, req.PrivId, m.held(ctx, req.UserName, true, target)))
	}
	body.Res = res
	return body
}

// entityPrivilege is the answer for entity of HasPrivilegeOnEntities and
// HasUserPrivilegeOnEntities: whether each of privIDs is among held.
func entityPrivilege(entity types.ManagedObjectReference, privIDs []string, held map[string]bool) types.EntityPrivilege {
	ep := types.EntityPrivilege{Entity: entity}
	for _, p := range privIDs {
		ep.PrivAvailability = append(ep.PrivAvailability, types.PrivilegeAvailability{PrivId: p, IsGranted: held[p]})
	}
	return ep
}

func (m *authorizationManager) held(ctx *simulator.Context, user string, found bool, entity types.ManagedObjectReference) map[string]bool {
	if !found {
		return map[string]bool{}
	}
	chain := entityChain(ctx, entity)
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	return m.st.privilegesOn(user, chain)
}

// sessionUser returns the user of the session with the given key.
func sessionUser(ctx *simulator.Context, key string) (string, bool) {
	if ctx.Session == nil {
		return "", false
	}
	if ctx.Session.Key == key {
		return ctx.Session.UserName, true
	}
	sm, ok := ctx.Session.Get(ctx.Map.SessionManager().Reference()).(*simulator.SessionManager)
	if !ok {
		return "", false
	}
	for _, s := range sm.SessionList {
		if s.Key == key {
			return s.UserName, true
		}
	}
	return "", false
}
