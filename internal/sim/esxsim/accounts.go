package esxsim

import (
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// accountManager replaces vcsim's HostLocalAccountManager, which drops
// passwords and descriptions and whose UpdateUser is a no-op.
type accountManager struct {
	*simulator.HostLocalAccountManager
	st *state
}

// maxUserNameLength bounds local user names. ESXi's exact limit is not
// documented; the API reference only says a POSIX host "may restrict the
// user or group name to be lower case letters and less than 16 characters"
// (see validUserName). 32 is the Linux useradd limit.
const maxUserNameLength = 32

// validUserName applies ESXi's user name rules as far as they are documented:
//
//   - HostLocalAccountManager (vSphere Web Services API reference,
//     https://developer.broadcom.com/xapis/virtual-infrastructure-json-api/latest/host-local-account-manager/):
//     platform rules apply, a POSIX host may disallow characters such as ";"
//     and "\n", "An InvalidArgument fault is thrown if any of these rules are
//     not obeyed";
//   - VMware Host Client, "Add a user to the host"
//     (https://docs.vmware.com/en/VMware-vSphere/7.0/com.vmware.vsphere.hostclient.doc/GUID-0898677F-CE98-41FB-A488-29DF6210CF5D.html):
//     no spaces, no non-ASCII characters;
//   - KB 344647: "The user name can be invalid if it contains a special
//     character."
//
// So a name is 1..32 characters of the POSIX portable set [A-Za-z0-9._-],
// not starting with "-". The exact set ESXi accepts is not documented.
func validUserName(id string) bool {
	if id == "" || len(id) > maxUserNameLength || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// validDescription rejects what cannot be stored in the GECOS field of
// /etc/passwd (":" separates fields, control characters such as "\n" break
// lines). UpdateUser's reference lists "InvalidArgument: if new password or
// description has an invalid format".
func validDescription(d string) bool {
	for _, r := range d {
		if r == ':' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// checkPassword applies Security.PasswordQualityControl with the user id as
// user name and the description as GECOS, as pam_passwdqc does on ESXi
// (KB 323600: "ESXi uses pam_passwdqc for password management and control").
// st.mu must be held.
func (st *state) checkPassword(user, gecos, password string) *soap.Fault {
	reason, err := st.opt.CheckPassword(st.policy, user, gecos, password)
	if err != nil {
		// Never echo the password: only the checker's error.
		return simulator.Fault(systemErrorMessage(err.Error()), &types.SystemError{Reason: err.Error()})
	}
	if reason != "" {
		return weakPassword(st.opt.WeakPasswordFault, reason)
	}
	return nil
}

// CreateUser creates a local user.
//
// Faults, as documented in the vSphere Web Services API reference for
// HostLocalAccountManager.CreateUser
// (https://developer.broadcom.com/xapis/virtual-infrastructure-json-api/latest/sdk/vim25/release/HostLocalAccountManager/moId/CreateUser/post/):
// "AlreadyExists: if the specified local user account already exists",
// "InvalidArgument: if the user name or password has an invalid format"; and,
// for a password rejected by passwdqc, SystemError "Weak password:
// <reason>." (KB 344647).
//
// A password is required: the reference says "As of vSphere API 9.1, it is
// allowed to create a user without a password", and the ESX model reports
// API 6.5. The fault for a missing password before 9.1 is not documented;
// InvalidArgument (invalidProperty "password") is the closest documented one.
func (m *accountManager) CreateUser(ctx *simulator.Context, req *types.CreateUser) soap.HasFault {
	body := new(methods.CreateUserBody)
	body.Fault_ = m.st.answer(ctx, "CreateUser", func() (string, *soap.Fault) {
		spec := req.User.GetHostAccountSpec()
		return spec.Id, m.st.createUser(spec, shellAccess(req.User), m.st.shellOf(ctx))
	})
	if body.Fault_ == nil {
		body.Res = new(types.CreateUserResponse)
	}
	return body
}

// answer runs one account call: a fault injected for this request, else
// op's outcome, traced with the method and the user id.
func (st *state) answer(ctx *simulator.Context, method string, op func() (id string, f *soap.Fault)) *soap.Fault {
	if f := injectedFault(ctx); f != nil {
		return f
	}
	id, f := op()
	if f != nil {
		st.tracef("%s %q: fault %s", method, id, f.String)
		return f
	}
	st.tracef("%s %q: ok", method, id)
	return nil
}

// shellAccess returns HostPosixAccountSpec.shellAccess, or nil.
func shellAccess(spec types.BaseHostAccountSpec) *bool {
	if p, ok := spec.(*types.HostPosixAccountSpec); ok {
		return p.ShellAccess
	}
	return nil
}

// shellOf reports whether the host user the session acts as has shell
// access: a local account with it; domain users have none (assumed: the
// reference ties shell access to local accounts). Behind a vCenter the
// caller is the host's agent account (state.agent, vpxuser).
func (st *state) shellOf(ctx *simulator.Context) bool {
	user := st.agent
	if user == "" {
		if ctx == nil || ctx.Session == nil {
			return false
		}
		user = ctx.Session.UserName
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.users[user]
	return ok && a.shell
}

// Shell access, as ESXi 7.0.3 U2 (vSphere API 7.0.3.2) and later enforce
// it. HostPosixAccountSpec.shellAccess, vSphere API reference
// (https://developer.broadcom.com/xapis/virtual-infrastructure-json-api/latest/data-structures/HostPosixAccountSpec;
// govmomi vim25/types HostPosixAccountSpec.ShellAccess): "As of vSphere
// API 7.0.3.2, this property is no longer ignored ... It can be set to true
// for other users only by administrators who themselves have this shell
// access. Administrators without shell access cannot change the passwords
// of users with shell access. Setting this property to false for user
// 'root' has no effect." and "If this property is not specified when
// creating a new user account then the default value depends on the
// following factors: if the calling user does not have shell access then
// it defaults to false; if the calling user has shell access then it
// defaults to true, unless overridden by host configuration settings."
// (One published copy of the reference, vdc-download .../c476b64b-.../
// vim.host.LocalAccountManager.PosixAccountSpecification.html, says
// "defaults to false" in the second case; the simulator follows the
// current reference and govmomi's types. The host configuration settings
// that override the default are not documented and not simulated.)
//
// Not documented, chosen here: the fault of a refused change. The
// reference lists none for these rules; HostLocalAccountManager answers
// its other refusals on permission grounds with SecurityError (RemoveUser:
// "if the account cannot be removed due to permission issues"), so these
// are SecurityError too, and a client must not rely on the type (see
// shellRefused). A caller without shell access may still change such a
// user's description, remove such a user, or take shell access away: the
// rules above name only setting it to true and changing passwords.

// shellRefused is the fault for a change the shell-access rules forbid.
func shellRefused(detail string) *soap.Fault {
	return securityError(detail)
}

// checkShell applies the shell-access rules to a change of a (an existing
// account, or nil on create) by a caller with callerShell: shell is the
// requested shell access, password whether the change sets one. st.mu must
// be held.
func checkShell(a *account, id string, shell *bool, password, callerShell bool) *soap.Fault {
	if callerShell {
		return nil
	}
	if shell != nil && *shell && (a == nil || !a.shell) {
		return shellRefused("only an administrator with shell access can grant shell access to '" + id + "'")
	}
	if a != nil && a.shell && password {
		return shellRefused("only an administrator with shell access can change the password of '" + id + "', who has shell access")
	}
	return nil
}

// createUser creates an account. shell is the requested shell access (nil:
// the default, which is callerShell; see "Shell access" above).
func (st *state) createUser(spec *types.HostAccountSpec, shell *bool, callerShell bool) *soap.Fault {
	if !validUserName(spec.Id) {
		return invalidArgument("id")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.users[spec.Id]; ok {
		return alreadyExists(spec.Id)
	}
	if f := checkShell(nil, spec.Id, shell, spec.Password != "", callerShell); f != nil {
		return f
	}
	a := &account{id: spec.Id, shell: callerShell}
	if f := st.applySpec(a, spec, shell, true); f != nil {
		return f
	}
	st.addUser(a)
	return nil
}

// applySpec gives a (a new account, or an existing one) spec's description
// and password and, when set, the shell access, with the checks CreateUser
// and UpdateUser share: the description's format, a password required only
// on create, passwdqc with the id and the resulting description as GECOS.
// An empty description or password leaves a's unchanged; a is only changed
// when every check has passed. st.mu must be held.
func (st *state) applySpec(a *account, spec *types.HostAccountSpec, shell *bool, create bool) *soap.Fault {
	if !validDescription(spec.Description) {
		return invalidArgument("description")
	}
	if create && spec.Password == "" {
		return invalidArgument("password")
	}
	gecos := a.description
	if spec.Description != "" {
		gecos = spec.Description
	}
	if spec.Password != "" {
		if f := st.checkPassword(spec.Id, gecos, spec.Password); f != nil {
			return f
		}
		if err := a.setPassword(spec.Password); err != nil {
			return simulator.Fault(systemErrorMessage(err.Error()), &types.SystemError{Reason: err.Error()})
		}
	}
	a.description = gecos
	if shell != nil && a.id != "root" { // "false for user 'root' has no effect"
		a.shell = *shell
	}
	return nil
}

// UpdateUser changes a local user's password and/or description (an empty
// field is left unchanged).
//
// Faults, as documented for HostLocalAccountManager.UpdateUser
// (https://developer.broadcom.com/xapis/virtual-infrastructure-json-api/latest/sdk/vim25/release/HostLocalAccountManager/moId/UpdateUser/post/):
// "UserNotFound: if user is not found", "InvalidArgument: if new password or
// description has an invalid format"; a weak password is answered like in
// CreateUser (KB 323600 shows the same message for a password change).
func (m *accountManager) UpdateUser(ctx *simulator.Context, req *types.UpdateUser) soap.HasFault {
	body := new(methods.UpdateUserBody)
	body.Fault_ = m.st.answer(ctx, "UpdateUser", func() (string, *soap.Fault) {
		spec := req.User.GetHostAccountSpec()
		return spec.Id, m.st.updateUser(spec, shellAccess(req.User), m.st.shellOf(ctx))
	})
	if body.Fault_ == nil {
		body.Res = new(types.UpdateUserResponse)
	}
	return body
}

// updateUser changes an account; shell, when set, its shell access; the
// caller has callerShell (see "Shell access" above).
func (st *state) updateUser(spec *types.HostAccountSpec, shell *bool, callerShell bool) *soap.Fault {
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.users[spec.Id]
	if !ok {
		return userNotFound(spec.Id)
	}
	if f := checkShell(a, spec.Id, shell, spec.Password != "", callerShell); f != nil {
		return f
	}
	return st.applySpec(a, spec, shell, false)
}

// RemoveUser removes a local user and its permissions.
//
// As documented for HostLocalAccountManager.RemoveUser
// (https://developer.broadcom.com/xapis/virtual-infrastructure-json-api/8.0.2.0/sdk/vim25/release/HostLocalAccountManager/moId/RemoveUser/post):
// "As of vSphere API 5.1, this operation will first try to remove all
// permissions associated with the specified account"; "UserNotFound: if the
// specified userName does not exist"; "SecurityError: if trying to remove
// the last local user with DCUI access, or if trying to remove the last local
// user with full administrative privileges". DCUI access is granted by the
// DCUI.Access advanced option, "root" by default, so root cannot be removed
// on a default host (the Host Client documentation also says "Do not remove
// the root user").
func (m *accountManager) RemoveUser(ctx *simulator.Context, req *types.RemoveUser) soap.HasFault {
	body := new(methods.RemoveUserBody)
	body.Fault_ = m.st.answer(ctx, "RemoveUser", func() (string, *soap.Fault) {
		return req.UserName, m.st.removeUser(req.UserName)
	})
	if body.Fault_ == nil {
		body.Res = new(types.RemoveUserResponse)
	}
	return body
}

func (st *state) removeUser(id string) *soap.Fault {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.users[id]; !ok {
		return userNotFound(id)
	}
	dcui := st.dcuiUsers()
	for i, u := range dcui {
		if u != id {
			continue
		}
		others := false
		for j, v := range dcui {
			if _, ok := st.users[v]; ok && j != i && v != id {
				others = true
			}
		}
		if !others {
			return securityError("cannot remove '" + id + "', the last local user with DCUI access")
		}
	}
	if st.hasAdminOnRoot(id) {
		others := false
		for _, p := range st.perms[st.root] {
			if _, local := st.users[p.Principal]; local && !p.Group && p.Principal != id && p.RoleId == roleAdmin {
				others = true
			}
		}
		if !others {
			return securityError("cannot remove '" + id + "', the last local user with full administrative privileges")
		}
	}
	for ref, perms := range st.perms {
		kept := perms[:0:0]
		for _, p := range perms {
			if p.Group || p.Principal != id {
				kept = append(kept, p)
			}
		}
		if len(kept) == 0 {
			delete(st.perms, ref)
		} else {
			st.perms[ref] = kept
		}
	}
	st.dropSuspended(id)
	delete(st.users, id)
	return nil
}

// userDirectory replaces vcsim's UserDirectory so that it lists the local
// users as ESXi does.
type userDirectory struct {
	*simulator.UserDirectory
	st *state
}

// RetrieveUserGroups lists local users as PosixUserSearchResult, with the
// account's uid as id and its shellAccess, as ESXi does: on an ESX server
// "the method returns the list of users and groups that are specified in
// the /etc/passwd file" (UserDirectory reference), and
// PosixUserSearchResult is "the data object type [that] describes a POSIX
// user or group" with "id: If the search result is for a user, the value of
// User ID is assigned to id" and "shellAccess: If the search result is for a
// user, shellAccess indicates whether shell access has been granted or not"
// (pyvmomi docs/vim/PosixUserSearchResult.rst). Ansible's
// community.vmware.vmware_local_user_info reads user.shellAccess and fails
// on the plain UserSearchResult. fullName is the account's description (the
// GECOS field HostAccountSpec.description sets). Local groups are not
// supported since vSphere API 5.1, so no groups are returned.
func (d *userDirectory) RetrieveUserGroups(ctx *simulator.Context, req *types.RetrieveUserGroups) soap.HasFault {
	body := new(methods.RetrieveUserGroupsBody)
	res := new(types.RetrieveUserGroupsResponse)
	if req.FindUsers {
		d.st.mu.Lock()
		accts := make([]*account, 0, len(d.st.users))
		for _, a := range d.st.users {
			if matchPrincipal(a.id, req.SearchStr, req.ExactMatch) || (!req.ExactMatch && req.SearchStr != "" && matchPrincipal(a.description, req.SearchStr, false)) {
				accts = append(accts, a)
			}
		}
		sort.Slice(accts, func(i, j int) bool { return accts[i].seq < accts[j].seq })
		for _, a := range accts {
			shell := a.shell
			res.Returnval = append(res.Returnval, &types.PosixUserSearchResult{
				UserSearchResult: types.UserSearchResult{Principal: a.id, FullName: a.description, Group: false},
				Id:               a.uid,
				ShellAccess:      &shell,
			})
		}
		d.st.mu.Unlock()
	}
	body.Res = res
	return body
}

func matchPrincipal(id, search string, exact bool) bool {
	if exact {
		return id == search
	}
	return strings.Contains(strings.ToLower(id), strings.ToLower(search))
}

// Users is the host's local users as the simulator holds them, id ->
// description: the ground truth for tests of other packages, read without
// the client code under test.
func (s *Server) Users() map[string]string {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	out := make(map[string]string, len(s.st.users))
	for id, a := range s.st.users {
		out[id] = a.description
	}
	return out
}
