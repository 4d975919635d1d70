package esx

import (
	"context"
	"fmt"
	"strings"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/vfault"
	"github.com/esxi-users/esxi-users/tasks"
)

// Privileges the writes need, from the vSphere API reference (pyVmomi
// ServerObjects.py type information; pyvmomi docs/vim/*.rst):
// HostLocalAccountManager.CreateUser/UpdateUser/RemoveUser
// "Host.Local.ManageUserGroups"; AuthorizationManager.SetEntityPermissions
// and RemoveEntityPermission "Authorization.ModifyPermissions" on the entity
// plus every privilege of the role being granted or removed ("NoPermission:
// if current session does not have any privilege in any permission that
// being set"); HostAccessManager.ChangeAccessMode "Global.Settings".
const (
	privManageUsers       = "Host.Local.ManageUserGroups"
	privModifyPermissions = "Authorization.ModifyPermissions"
	privGlobalSettings    = "Global.Settings"
)

// need is a privilege the run needs and why.
type need struct {
	priv string
	why  string
}

// sessionKey returns the current session's key: the one its login
// returned, else SessionManager.currentSession (no session there means the
// host ended it: NotAuthenticated, which renews it).
func (s *Session) sessionKey(ctx context.Context) (string, error) {
	if key := s.key(); key != "" {
		return key, nil
	}
	var key string
	err := s.read(ctx, "currentSession", func(ctx context.Context) error {
		us, err := session.NewManager(s.Client).UserSession(ctx)
		if err != nil {
			return err
		}
		if us == nil {
			return soap.WrapVimFault(&types.NotAuthenticated{})
		}
		key = us.Key
		return nil
	})
	return key, err
}

// missing asks the server (AuthorizationManager.HasPrivilegeOnEntities for
// the session's own key, vSphere API 5.5) which of the needed privileges
// the session lacks on entity, and describes them.
func (s *Session) missing(ctx context.Context, entity types.ManagedObjectReference, entityName string, needs []need) ([]string, error) {
	if len(needs) == 0 {
		return nil, nil
	}
	var privs []string
	for _, n := range needs {
		if !contains(privs, n.priv) {
			privs = append(privs, n.priv)
		}
	}
	granted, err := s.privileges(ctx, []types.ManagedObjectReference{entity}, privs)
	if err != nil {
		return nil, err
	}
	return describeMissing(needs, granted[entity], entityName), nil
}

// privileges asks the server which of privs the session holds on each of
// entities, in one request.
func (s *Session) privileges(ctx context.Context, entities []types.ManagedObjectReference, privs []string) (map[types.ManagedObjectReference]map[string]bool, error) {
	key, err := s.sessionKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the current session: %w", vfault.Describe(err))
	}
	granted := map[types.ManagedObjectReference]map[string]bool{}
	err = s.read(ctx, "HasPrivilegeOnEntities", func(ctx context.Context) error {
		// After a re-login the key is the new session's.
		res, err := methods.HasPrivilegeOnEntities(ctx, s.Client, &types.HasPrivilegeOnEntities{
			This: *s.Client.ServiceContent.AuthorizationManager, Entity: entities,
			SessionId: s.keyOr(key), PrivId: privs,
		})
		if err != nil {
			return err
		}
		for _, ep := range res.Returnval {
			m := map[string]bool{}
			for _, pa := range ep.PrivAvailability {
				m[pa.PrivId] = pa.IsGranted
			}
			granted[ep.Entity] = m
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("HasPrivilegeOnEntities: %w", vfault.Describe(err))
	}
	return granted, nil
}

// describeMissing describes the needs that granted does not hold on
// entityName, grouped by reason in the order of needs.
func describeMissing(needs []need, granted map[string]bool, entityName string) []string {
	var whys []string
	byWhy := map[string][]string{}
	for _, n := range needs {
		if granted[n.priv] {
			continue
		}
		if _, ok := byWhy[n.why]; !ok {
			whys = append(whys, n.why)
		}
		if !contains(byWhy[n.why], n.priv) {
			byWhy[n.why] = append(byWhy[n.why], n.priv)
		}
	}
	var out []string
	for _, why := range whys {
		ps := byWhy[why]
		list := strings.Join(ps, ", ")
		if len(ps) > 5 {
			list = fmt.Sprintf("%d privileges (%s, …)", len(ps), strings.Join(ps[:5], ", "))
		}
		out = append(out, fmt.Sprintf("%s on %s (%s)", list, entityName, why))
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// MissingPrivileges implements tasks.PrivilegeChecker for a direct host:
// the privileges are the host's own, on its root folder (where the
// permissions are set, and from which they propagate to the host).
func (h *Host) MissingPrivileges(ctx context.Context, a tasks.Access) ([]string, error) {
	var needs []need
	if a.ManageUsers {
		needs = append(needs, need{privManageUsers, "to create, update or remove local users"})
	}
	roles := append(append([]string(nil), a.GrantRoles...), a.RevokeRoles...)
	if len(roles) > 0 {
		needs = append(needs, need{privModifyPermissions, "to set and remove permissions"})
	}
	if len(roles) > 0 {
		byName, err := h.rolePrivileges(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range a.GrantRoles {
			for _, p := range byName[r] {
				needs = append(needs, need{p, "to grant role " + r + ", the session must hold its privileges"})
			}
		}
		for _, r := range a.RevokeRoles {
			for _, p := range byName[r] {
				needs = append(needs, need{p, "to remove a permission with role " + r + ", the session must hold its privileges"})
			}
		}
	}
	return h.s.missing(ctx, h.root, "the root folder", needs)
}

// rolePrivileges returns each role's privileges, by name, as Read found
// them (read now if Read has not run).
func (h *Host) rolePrivileges(ctx context.Context) (map[string][]string, error) {
	if h.rolePriv == nil {
		if _, err := h.Read(ctx); err != nil {
			return nil, err
		}
	}
	return h.rolePriv, nil
}

// MissingPrivileges implements tasks.PrivilegeChecker through vCenter: the
// privileges are vCenter's, of the vCenter session, on the HostSystem:
// Host.Local.ManageUserGroups for the host's HostLocalAccountManager and
// Global.Settings for its HostAccessManager (ChangeAccessMode).
func (h *ViHost) MissingPrivileges(ctx context.Context, a tasks.Access) ([]string, error) {
	var needs []need
	if a.ManageUsers {
		needs = append(needs, need{privManageUsers, "to create, update or remove the host's local users"})
	}
	if len(a.GrantRoles) > 0 || len(a.RevokeRoles) > 0 {
		needs = append(needs, need{privGlobalSettings, "to change the host's access modes (HostAccessManager)"})
	}
	if h.granted != nil {
		return describeMissing(needs, h.granted, "host "+h.name), nil
	}
	return h.s.missing(ctx, h.ref, "host "+h.name, needs)
}

// viHostPrivileges are every privilege ViHost.MissingPrivileges may need.
var viHostPrivileges = []string{privManageUsers, privGlobalSettings}

var (
	_ tasks.PrivilegeChecker = (*Host)(nil)
	_ tasks.PrivilegeChecker = (*ViHost)(nil)
)

// keyOr is the session's current key, or k if none is known.
func (s *Session) keyOr(k string) string {
	if c := s.key(); c != "" {
		return c
	}
	return k
}
