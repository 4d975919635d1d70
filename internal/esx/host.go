package esx

import (
	"context"
	"fmt"
	"slices"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/vfault"
	"github.com/esxi-users/esxi-users/tasks"
)

// PasswordQualityOption is the ESXi advanced option holding the
// pam_passwdqc configuration.
const PasswordQualityOption = "Security.PasswordQualityControl"

// Host is a directly connected ESXi host; it implements tasks.Host. The
// account calls and the policy read are localAccounts' (shared with ViHost).
type Host struct {
	localAccounts
	auth     *object.AuthorizationManager
	root     types.ManagedObjectReference
	name     string
	roleIDs  map[string]int32    // role name -> id, as the host reported (Read)
	rolePriv map[string][]string // role name -> sorted privileges (Read)
}

var (
	_ tasks.Host       = (*Host)(nil)
	_ tasks.UserLookup = (*Host)(nil)
)

// NewHost uses a session to an ESXi host (not a vCenter).
func NewHost(s *Session) (*Host, error) {
	sc := s.Client.ServiceContent
	if sc.AccountManager == nil {
		return nil, fmt.Errorf("%s has no HostLocalAccountManager: is it a vCenter? (use --vihost)", s.Server)
	}
	return &Host{
		localAccounts: localAccounts{s: s, accounts: object.NewHostAccountManager(s.Client, *sc.AccountManager)},
		auth:          object.NewAuthorizationManager(s.Client),
		root:          sc.RootFolder,
		name:          s.Server,
	}, nil
}

// Read implements tasks.Host.
func (h *Host) Read(ctx context.Context) (*tasks.Snapshot, error) {
	snap := &tasks.Snapshot{Host: h.name, User: h.s.User, Roles: map[string]bool{}}
	var err error
	if snap.Users, err = h.users(ctx); err != nil {
		return nil, err
	}

	h.roleIDs = map[string]int32{}
	h.rolePriv = map[string][]string{}
	err = h.s.read(ctx, "RoleList", func(ctx context.Context) error {
		roles, err := h.auth.RoleList(ctx)
		for _, r := range roles {
			snap.Roles[r.Name] = true
			h.roleIDs[r.Name] = r.RoleId
			h.rolePriv[r.Name] = slices.Sorted(slices.Values(r.Privilege))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read roles: %w", vfault.Describe(err))
	}

	if snap.Permissions, err = h.permissions(ctx); err != nil {
		return nil, err
	}

	hs, err := h.hostSystem(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", PasswordQualityOption, err)
	}
	policy, err := h.passwordPolicy(ctx, *hs.ConfigManager.AdvancedOption)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", PasswordQualityOption, err)
	}
	snap.PasswordPolicy = policy
	if hs.Config != nil && hs.ConfigManager.HostAccessManager != nil {
		if err := h.s.readLockdown(ctx, snap, *hs.ConfigManager.HostAccessManager, hs.Config.LockdownMode, h.s.User); err != nil {
			return nil, fmt.Errorf("read the lockdown exceptions: %w", err)
		}
	}
	return snap, nil
}

// Lookup implements tasks.UserLookup: id's account and its permission on
// the root folder, read afresh (after a failure).
func (h *Host) Lookup(ctx context.Context, id string) (tasks.Observation, error) {
	return lookup(ctx, id, h.users, h.permissions)
}

// users reads the host's local users.
func (h *Host) users(ctx context.Context) (map[string]tasks.Account, error) {
	var users map[string]tasks.Account
	err := h.s.read(ctx, "RetrieveUserGroups", func(ctx context.Context) error {
		res, err := methods.RetrieveUserGroups(ctx, h.s.Client, &types.RetrieveUserGroups{
			This:      *h.s.Client.ServiceContent.UserDirectory,
			SearchStr: "",
			FindUsers: true,
		})
		if err != nil {
			return err
		}
		users = map[string]tasks.Account{}
		for _, r := range res.Returnval {
			u := r.GetUserSearchResult()
			if u.Group {
				continue
			}
			a := tasks.Account{ID: u.Principal, Description: u.FullName}
			if p, ok := r.(*types.PosixUserSearchResult); ok {
				a.Shell = tasks.ShellOf(p.ShellAccess)
			}
			users[u.Principal] = a
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read users: %w", vfault.Describe(err))
	}
	return users, nil
}

// permissions reads the users' roles on the root folder (role names as Read
// found them).
func (h *Host) permissions(ctx context.Context) (map[string]string, error) {
	var perms map[string]string
	err := h.s.read(ctx, "RetrieveEntityPermissions", func(ctx context.Context) error {
		ps, err := h.auth.RetrieveEntityPermissions(ctx, h.root, false)
		if err != nil {
			return err
		}
		perms = map[string]string{}
		for _, p := range ps {
			if !p.Group {
				perms[p.Principal] = roleName(h.roleIDs, p.RoleId)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read permissions: %w", vfault.Describe(err))
	}
	return perms, nil
}

// hostSystem reads, through a container view (one host on ESXi), the
// host's advanced-option manager (the one holding Security.* options), its
// HostAccessManager and its lockdown mode (HostConfigInfo.lockdownMode,
// vSphere API 6.0), in one request.
func (h *Host) hostSystem(ctx context.Context) (mo.HostSystem, error) {
	var hosts []mo.HostSystem
	err := h.s.read(ctx, "ContainerView", func(ctx context.Context) error {
		m := view.NewManager(h.s.Client)
		v, err := m.CreateContainerView(ctx, h.root, []string{"HostSystem"}, true)
		if err != nil {
			return err
		}
		defer v.Destroy(ctx)
		return v.Retrieve(ctx, []string{"HostSystem"}, []string{"configManager.advancedOption", "configManager.hostAccessManager", "config.lockdownMode"}, &hosts)
	})
	if err != nil {
		return mo.HostSystem{}, vfault.Describe(err)
	}
	if len(hosts) != 1 || hosts[0].ConfigManager.AdvancedOption == nil {
		return mo.HostSystem{}, fmt.Errorf("expected one host with advanced options, found %d", len(hosts))
	}
	return hosts[0], nil
}

// SetRole implements tasks.Host: a propagating permission on the root
// folder, with the id the host reported for the role's name.
func (h *Host) SetRole(ctx context.Context, id, role string) error {
	roleID, ok := h.roleIDs[role]
	if !ok {
		return fmt.Errorf("the host has no role %q", role)
	}
	return vfault.Describe(h.s.write(ctx, "SetEntityPermissions", func(ctx context.Context) error {
		return h.auth.SetEntityPermissions(ctx, h.root, []types.Permission{{Principal: id, RoleId: roleID, Propagate: true}})
	}))
}

// RemoveRole implements tasks.Host.
func (h *Host) RemoveRole(ctx context.Context, id string) error {
	err := vfault.Describe(h.s.write(ctx, "RemoveEntityPermission", func(ctx context.Context) error {
		return h.auth.RemoveEntityPermission(ctx, h.root, id, false)
	}))
	if IsFault(err, &types.NotFound{}) {
		// ESXi's answer when the user holds no permission there.
		return fmt.Errorf("%w: %w", errkind.ErrNoSuchPermission, err)
	}
	return err
}

// roleName names a role id; an id the host did not list keeps a
// recognisable name so it never equals a real role.
func roleName(ids map[string]int32, id int32) string {
	for name, rid := range ids {
		if rid == id {
			return name
		}
	}
	return fmt.Sprintf("role#%d", id)
}
