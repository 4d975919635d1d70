package esxsim

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// authorizationManager replaces vcsim's permission handling (which replaces
// an entity's whole permission list on SetEntityPermissions and accepts any
// principal and role) with ESXi's, as documented in the vSphere Web Services
// API reference for AuthorizationManager
// (https://developer.broadcom.com/xapis/virtual-infrastructure-json-api/latest/sdk/vim25/release/AuthorizationManager/moId/SetEntityPermissions/post/,
// .../RemoveEntityPermission/post/, and the same text in pyvmomi's
// docs/vim/AuthorizationManager.rst). Role management (AddAuthorizationRole
// etc.) is vcsim's.
type authorizationManager struct {
	*simulator.AuthorizationManager
	st *state
}

func entityExists(ctx *simulator.Context, ref types.ManagedObjectReference) (mo.Entity, bool) {
	e, ok := ctx.Map.Get(ref).(mo.Entity)
	return e, ok
}

// RetrieveEntityPermissions returns the permissions defined on entity and,
// with inherited, the propagating ones defined on its ancestors.
func (m *authorizationManager) RetrieveEntityPermissions(ctx *simulator.Context, req *types.RetrieveEntityPermissions) soap.HasFault {
	body := new(methods.RetrieveEntityPermissionsBody)
	e, ok := entityExists(ctx, req.Entity)
	if !ok {
		body.Fault_ = managedObjectNotFound(req.Entity)
		return body
	}
	var chain []types.ManagedObjectReference
	if req.Inherited {
		for p := e.Entity().Parent; p != nil; {
			chain = append(chain, *p)
			pe, ok := entityExists(ctx, *p)
			if !ok {
				break
			}
			p = pe.Entity().Parent
		}
	}
	m.st.mu.Lock()
	res := clonePerms(m.st.perms[req.Entity])
	for _, ref := range chain {
		for _, p := range clonePerms(m.st.perms[ref]) {
			if p.Propagate {
				res = append(res, p)
			}
		}
	}
	m.st.mu.Unlock()
	body.Res = &types.RetrieveEntityPermissionsResponse{Returnval: res}
	return body
}

// RetrieveAllPermissions returns every permission, root folder first.
func (m *authorizationManager) RetrieveAllPermissions(ctx *simulator.Context, req *types.RetrieveAllPermissions) soap.HasFault {
	m.st.mu.Lock()
	var res []types.Permission
	for _, ref := range m.st.sortedEntities() {
		res = append(res, clonePerms(m.st.perms[ref])...)
	}
	m.st.mu.Unlock()
	return &methods.RetrieveAllPermissionsBody{Res: &types.RetrieveAllPermissionsResponse{Returnval: res}}
}

// roleExists reports whether the host defines the role. st.mu must be held.
func (m *authorizationManager) roleExists(id int32) bool {
	_, ok := m.st.roles[id]
	return ok
}

// RetrieveRolePermissions returns the permissions using a role; NotFound "if
// the role does not exist" (AuthorizationManager reference).
func (m *authorizationManager) RetrieveRolePermissions(ctx *simulator.Context, req *types.RetrieveRolePermissions) soap.HasFault {
	body := new(methods.RetrieveRolePermissionsBody)
	m.st.mu.Lock()
	if !m.roleExists(req.RoleId) {
		m.st.mu.Unlock()
		body.Fault_ = notFound()
		return body
	}
	var res []types.Permission
	for _, ref := range m.st.sortedEntities() {
		for _, p := range clonePerms(m.st.perms[ref]) {
			if p.RoleId == req.RoleId {
				res = append(res, p)
			}
		}
	}
	m.st.mu.Unlock()
	body.Res = &types.RetrieveRolePermissionsResponse{Returnval: res}
	return body
}

// SetEntityPermissions "defines one or more permission rules on an entity or
// updates rules if already present for the given user or group on the
// entity" — a ManagedEntity has at most one permission per principal, the
// others are kept. Permissions are applied in order and the call stops at
// the first failure, leaving the earlier ones applied ("The operation is
// applied transactionally per permission").
//
// Faults (AuthorizationManager reference): UserNotFound "if a given user or
// group does not exist"; NotFound "if a permission's roleId is not valid";
// InvalidArgument "if one of the new role IDs is the View or Anonymous role";
// AuthMinimumAdminPermission "if this change would leave the system with no
// Administrator permission on the root node, or it would grant further
// permission to a user or group who already has Administrator permission on
// the root node"; ManagedObjectNotFound "if the given entity does not
// exist". There are no local groups (deprecated since vSphere API 5.1) and
// the simulated host is not joined to a domain, so any group principal is
// UserNotFound.
func (m *authorizationManager) SetEntityPermissions(ctx *simulator.Context, req *types.SetEntityPermissions) soap.HasFault {
	body := new(methods.SetEntityPermissionsBody)
	if body.Fault_ = precheck(ctx, req.Entity); body.Fault_ != nil {
		return body
	}
	st := m.st
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range req.Permission {
		if f := m.setOne(req.Entity, p); f != nil {
			st.tracef("SetEntityPermissions %s %q role %d: fault %s", req.Entity.Value, p.Principal, p.RoleId, f.String)
			body.Fault_ = f
			return body
		}
		st.tracef("SetEntityPermissions %s %q role %d: ok", req.Entity.Value, p.Principal, p.RoleId)
	}
	body.Res = new(types.SetEntityPermissionsResponse)
	return body
}

// setOne applies one permission. st.mu must be held.
func (m *authorizationManager) setOne(entity types.ManagedObjectReference, p types.Permission) *soap.Fault {
	st := m.st
	if _, ok := st.users[p.Principal]; !ok || p.Group {
		return userNotFound(p.Principal)
	}
	if f := st.lockdownGuard(p.Principal, p.Group); f != nil {
		return f
	}
	if !m.roleExists(p.RoleId) {
		return notFound()
	}
	if p.RoleId == roleView || p.RoleId == roleAnonymous {
		return invalidArgument("roleId")
	}
	perms := st.perms[entity]
	i := indexPerm(perms, p.Principal, p.Group)
	if entity == st.root {
		if i >= 0 && perms[i].RoleId == roleAdmin && p.RoleId != roleAdmin && st.adminsOnRoot(perms) == 1 {
			return authMinimumAdmin()
		}
	} else if st.hasAdminOnRoot(p.Principal) {
		return authMinimumAdmin()
	}
	e := entity
	p.Entity = &e
	if i >= 0 {
		// Copy on write: a concurrent reader may hold the old slice.
		perms = append([]types.Permission(nil), perms...)
		perms[i] = p
	} else {
		perms = append(perms[:len(perms):len(perms)], p)
	}
	st.perms[entity] = perms
	return nil
}

func indexPerm(perms []types.Permission, principal string, group bool) int {
	for i, p := range perms {
		if p.Principal == principal && p.Group == group {
			return i
		}
	}
	return -1
}

// RemoveEntityPermission removes the permission of a user or group on an
// entity. Faults (AuthorizationManager reference): NotFound "if a permission
// for this entity and user or group does not exist";
// AuthMinimumAdminPermission "if this change would leave the system with no
// Administrator permission on the root node".
func (m *authorizationManager) RemoveEntityPermission(ctx *simulator.Context, req *types.RemoveEntityPermission) soap.HasFault {
	body := new(methods.RemoveEntityPermissionBody)
	if body.Fault_ = precheck(ctx, req.Entity); body.Fault_ != nil {
		return body
	}
	st := m.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if body.Fault_ = st.removePermission(req.Entity, req.User, req.IsGroup); body.Fault_ != nil {
		st.tracef("RemoveEntityPermission %s %q: fault %s", req.Entity.Value, req.User, body.Fault_.String)
		return body
	}
	st.tracef("RemoveEntityPermission %s %q: ok", req.Entity.Value, req.User)
	body.Res = new(types.RemoveEntityPermissionResponse)
	return body
}

// removePermission removes the permission of principal on entity: NotFound
// if there is none, AuthMinimumAdminPermission if it is the last Admin
// permission on the root folder. st.mu must be held.
func (st *state) removePermission(entity types.ManagedObjectReference, principal string, group bool) *soap.Fault {
	if f := st.lockdownGuard(principal, group); f != nil {
		return f
	}
	perms := st.perms[entity]
	i := indexPerm(perms, principal, group)
	switch {
	case i < 0:
		return notFound()
	case entity == st.root && perms[i].RoleId == roleAdmin && st.adminsOnRoot(perms) == 1:
		return authMinimumAdmin()
	}
	kept := append(append([]types.Permission(nil), perms[:i]...), perms[i+1:]...)
	if len(kept) == 0 {
		delete(st.perms, entity)
	} else {
		st.perms[entity] = kept
	}
	return nil
}

// precheck is what every permission write answers first: the injected
// fault of the k-th write, then ManagedObjectNotFound for an unknown entity,
// then InvalidArgument for an entity whose permissions are its parent's.
func precheck(ctx *simulator.Context, entity types.ManagedObjectReference) *soap.Fault {
	if f := injectedFault(ctx); f != nil {
		return f
	}
	e, ok := entityExists(ctx, entity)
	if !ok {
		return managedObjectNotFound(entity)
	}
	if inheritsPermissions(ctx, e) {
		return invalidArgument("entity")
	}
	return nil
}

// inheritsPermissions reports whether permissions cannot be set on e: "This
// will fail with an InvalidArgument fault if called on: the direct child
// folders of a datacenter managed object, the root resource pool of a
// ComputeResource or ClusterComputeResource, or a HostSystem that is part
// of a ComputeResource (Stand-alone Host). These objects always have the
// same permissions as their parent." (SetEntityPermissions,
// RemoveEntityPermission; AuthorizationManager reference). On ESXi the host
// (ha-host) is such a HostSystem.
func inheritsPermissions(ctx *simulator.Context, e mo.Entity) bool {
	parent := e.Entity().Parent
	if parent == nil {
		return false
	}
	switch e.Reference().Type {
	case "Folder":
		return parent.Type == "Datacenter"
	case "ResourcePool":
		return parent.Type == "ComputeResource" || parent.Type == "ClusterComputeResource"
	case "HostSystem":
		return parent.Type == "ComputeResource"
	}
	return false
}
