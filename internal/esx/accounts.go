package esx

import (
	"context"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/vfault"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

// localAccounts is what a directly connected host (Host) and a host
// through vCenter (ViHost) share: the host's own HostLocalAccountManager,
// which both reach (ServiceContent.accountManager on ESXi,
// HostSystem.configManager.accountManager through vCenter), and the read of
// its advanced options. What differs - how users and permissions are read,
// how roles are granted - stays in Host and ViHost.
type localAccounts struct {
	s        *Session
	accounts *object.HostAccountManager
}

// CreateUser implements tasks.Host.
func (a *localAccounts) CreateUser(ctx context.Context, id, description string, pw params.Password) error {
	return vfault.Describe(a.s.write(ctx, "CreateUser", func(ctx context.Context) error {
		return a.accounts.Create(ctx, &types.HostAccountSpec{Id: id, Description: description, Password: pw.Reveal()})
	}))
}

// UpdateUser implements tasks.Host.
func (a *localAccounts) UpdateUser(ctx context.Context, id, description string, pw params.Password) error {
	return vfault.Describe(a.s.write(ctx, "UpdateUser", func(ctx context.Context) error {
		return a.accounts.Update(ctx, &types.HostAccountSpec{Id: id, Description: description, Password: pw.Reveal()})
	}))
}

// RemoveUser implements tasks.Host.
func (a *localAccounts) RemoveUser(ctx context.Context, id string) error {
	return vfault.Describe(a.s.write(ctx, "RemoveUser", func(ctx context.Context) error { return a.accounts.Remove(ctx, id) }))
}

// passwordPolicy reads Security.PasswordQualityControl from the host's
// advanced-option manager options ("" when the host does not have the
// option).
func (a *localAccounts) passwordPolicy(ctx context.Context, options types.ManagedObjectReference) (string, error) {
	var values []types.BaseOptionValue
	err := a.s.read(ctx, "QueryOptions", func(ctx context.Context) error {
		var err error
		values, err = object.NewOptionManager(a.s.Client, options).Query(ctx, PasswordQualityOption)
		return err
	})
	if err != nil {
		if IsFault(err, &types.InvalidName{}) {
			return "", nil
		}
		return "", vfault.Describe(err)
	}
	for _, v := range values {
		if o := v.GetOptionValue(); o.Key == PasswordQualityOption {
			if s, ok := o.Value.(string); ok {
				return s, nil
			}
		}
	}
	return "", nil
}

// lookup is tasks.UserLookup over a host's reads of its users and their
// roles: id's account and role, read afresh.
func lookup(ctx context.Context, id string, users func(context.Context) (map[string]tasks.Account, error),
	roles func(context.Context) (map[string]string, error)) (tasks.Observation, error) {
	us, err := users(ctx)
	if err != nil {
		return tasks.Observation{}, err
	}
	rs, err := roles(ctx)
	if err != nil {
		return tasks.Observation{}, err
	}
	a, ok := us[id]
	return tasks.Observation{Exists: ok, Role: rs[id], Description: a.Description, Shell: a.Shell}, nil
}
