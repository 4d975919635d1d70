package tasks

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/params"
)

// Access is what a run will do on the host, for the privilege check before
// the first write.
type Access struct {
	// ManageUsers: the run creates, updates or removes local users.
	ManageUsers bool
	// GrantRoles are the roles the run grants (sorted, distinct). Granting
	// a role needs every privilege of that role as well as the right to
	// modify permissions ("NoPermission: if current session does not have
	// any privilege in any permission that being set", SetEntityPermissions).
	GrantRoles []string
	// RevokeRoles are the roles of the permissions the run removes.
	RevokeRoles []string
}

// Empty reports whether the run writes nothing.
func (a Access) Empty() bool {
	return !a.ManageUsers && len(a.GrantRoles) == 0 && len(a.RevokeRoles) == 0
}

// PrivilegeChecker is implemented by hosts that can ask the server whether
// the session holds the privileges a run needs. The engine asks after
// reading the host and before the first write.
type PrivilegeChecker interface {
	// MissingPrivileges returns what the session lacks for a, each as a
	// readable "privilege on object" phrase; none when it holds everything.
	MissingPrivileges(ctx context.Context, a Access) ([]string, error)
}

// access is what the (well-formed, not ignored) entries will do, given the
// host as read.
func (r *run) access() Access {
	var a Access
	grant, revoke := map[string]bool{}, map[string]bool{}
	r.eachRoleWrite(func(_ int, e params.Entry, role string) {
		if e.Operation == params.OpRemove {
			revoke[role] = true
		} else {
			grant[role] = true
		}
	})
	for i, e := range r.entries {
		if r.opt.Ignore.Contains(e.ID) || len(r.opt.Invalid[i]) > 0 {
			continue
		}
		_, hasUser := r.state.Users[e.ID]
		a.ManageUsers = a.ManageUsers || e.Operation != params.OpRemove || hasUser
	}
	a.GrantRoles, a.RevokeRoles = slices.Sorted(maps.Keys(grant)), slices.Sorted(maps.Keys(revoke))
	return a
}

// eachRoleWrite calls f for each (well-formed, not ignored) entry that
// writes a permission, given the host as read, with the role granted (add,
// set) or removed (remove). A role the user already holds is not granted
// again (write keeps it), unless other entries for the id change it; a
// remove removes the permission the user holds, if any.
func (r *run) eachRoleWrite(f func(i int, e params.Entry, role string)) {
	seen := map[string]int{}
	for _, e := range r.entries {
		seen[e.ID]++
	}
	for i, e := range r.entries {
		if r.opt.Ignore.Contains(e.ID) || len(r.opt.Invalid[i]) > 0 {
			continue
		}
		held, hasRole := r.state.Permissions[e.ID]
		switch {
		case e.Operation == params.OpRemove:
			if hasRole {
				f(i, e, held)
			}
		case e.Role != "" && (!hasRole || held != string(e.Role) || seen[e.ID] > 1):
			f(i, e, string(e.Role))
		}
	}
}

// checkHost asks the host, if it can tell, whether the session holds the
// privileges the list needs (missingPrivileges), and finds what the host
// would refuse anyway (shellRefusal, lockdownRefusal); if anything, the
// run stops before any write (errkind.ErrConnect: the account cannot do the job,
// nothing was changed; errkind.ErrRefused when the host refuses). A plan reports
// the same.
func (r *run) checkHost(ctx context.Context) error {
	missing, err := r.missingPrivileges(ctx)
	if err != nil {
		return err
	}
	var refusals []string
	for _, s := range []string{r.shellRefusal(), r.lockdownRefusal()} {
		if s != "" {
			refusals = append(refusals, s)
		}
	}
	findings := refusals
	if missing != "" {
		findings = append([]string{missing}, refusals...)
	}
	switch {
	case len(refusals) > 0:
		return fmt.Errorf("%w: %s; nothing was changed", errkind.ErrRefused, strings.Join(findings, "; "))
	case missing != "":
		return fmt.Errorf("%w: %s; nothing was changed", errkind.ErrConnect, missing)
	}
	return nil
}

// missingPrivileges says what the session lacks for the list, if the host
// can tell ("" if nothing).
func (r *run) missingPrivileges(ctx context.Context) (string, error) {
	pc, ok := r.host.(PrivilegeChecker)
	if !ok {
		return "", nil
	}
	a := r.access()
	if a.Empty() {
		return "", nil
	}
	missing, err := pc.MissingPrivileges(ctx, a)
	if err != nil {
		return "", fmt.Errorf("%w: check the session's privileges: %w", errkind.ErrConnect, err)
	}
	if len(missing) == 0 {
		return "", nil
	}
	return fmt.Sprintf("%s lacks privileges the list needs: %s", r.who(), strings.Join(missing, "; ")), nil
}
