package tasks

import (
	"fmt"
	"strings"

	"github.com/esxi-users/esxi-users/params"
)

// Shell access, as ESXi 7.0.3 Update 2 (vSphere API 7.0.3.2) and later
// enforce it (HostPosixAccountSpec.shellAccess, vSphere API reference):
// "It can be set to true for other users only by administrators who
// themselves have this shell access. Administrators without shell access
// cannot change the passwords of users with shell access." A user created
// by a session without shell access gets none ("if the calling user does
// not have shell access then it defaults to false").
//
// The engine never sets shell access; every add and set writes a password.
// So a list that would write the password of a user who has shell access,
// run by a session without it, is refused before the first write, as a
// missing privilege is (errkind.ErrConnect, exit 3; checkHost).
//
// The session's shell access is its own account's, as the host read it
// (Snapshot.Users[User].Shell). A session user that is not a local account
// (a domain user logged in by SSPI) is taken to have none: shell access is
// a property of local accounts (assumed; the reference does not say how a
// domain user's is decided). Through vCenter the host acts as vpxuser,
// and the accounts' shell access is not reported (esxcli system account
// list has no such column): nothing is checked there, and a refusal in the
// middle of a run is reported as any failed write is (shellNote).

// sessionShell reports whether the session's user has shell access, and
// whether that is known.
func (r *run) sessionShell() (has, known bool) {
	if r.state.ViaVCenter {
		return false, false
	}
	if a, ok := r.state.Users[r.state.User]; ok {
		if a.Shell == ShellUnknown {
			return false, false
		}
		return a.Shell == ShellGranted, true
	}
	for _, a := range r.state.Users {
		if a.Shell != ShellUnknown { // the host reports shell access: not a local account
			return false, true
		}
	}
	return false, false
}

// shellRefusal names the entries the host would refuse under the
// shell-access rules, and the way out ("" if none).
func (r *run) shellRefusal() string {
	if has, known := r.sessionShell(); has || !known {
		return ""
	}
	shell := map[string]bool{}
	for id, a := range r.state.Users {
		shell[id] = a.Shell == ShellGranted
	}
	var refused []string
	for i, e := range r.entries {
		if r.opt.Ignore.Contains(e.ID) || len(r.opt.Invalid[i]) > 0 {
			continue
		}
		switch {
		case e.Operation == params.OpRemove:
			delete(shell, e.ID)
		case !e.Writes():
		case shell[e.ID] && !e.Password.IsZero():
			refused = append(refused, params.EntryLabel(i, e.ID, e.Operation))
		default:
			if _, ok := shell[e.ID]; !ok {
				shell[e.ID] = false // created by this session: no shell access
			}
		}
	}
	if len(refused) == 0 {
		return ""
	}
	return fmt.Sprintf("%s has no shell access, and ESXi (7.0.3 Update 2 and later) lets only an administrator with shell access change the password of a user who has it: %s would be refused; log in as a user with shell access (root), or give %s shell access first",
		r.who(), strings.Join(refused, ", "), r.who())
}

// who names the session's user.
func (r *run) who() string {
	if r.state.User != "" {
		return fmt.Sprintf("user %q", r.state.User)
	}
	return "the session's user"
}

// shellNote explains a failed account write by the shell-access rules
// when the fresh read shows they apply: the user has shell access and the
// session has not ("" otherwise). Whatever fault the host answered, this
// is the reason a host of 7.0.3 Update 2 or later gives none for.
func (r *run) shellNote(call string, o *Observation) string {
	if call != "update user" || o == nil || o.Shell != ShellGranted {
		return ""
	}
	if has, known := r.sessionShell(); has || !known {
		return ""
	}
	return fmt.Sprintf("the user has shell access and %s has not: ESXi (7.0.3 Update 2 and later) lets only an administrator with shell access change its password", r.who())
}
