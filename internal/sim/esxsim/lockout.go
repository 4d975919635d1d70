package esxsim

import (
	"time"

	"github.com/vmware/govmomi/vim25/soap"
)

// Account lockout.
//
// ESXi locks a local account after Security.AccountLockFailures consecutive
// failed logins and unlocks it Security.AccountUnlockTime seconds later:
// "A maximum of five failed attempts is allowed before the account is
// locked" by default (vSphere Security, "ESXi Passwords and Account
// Lockout", https://pubs.vmware.com/vsphere-60/topic/com.vmware.vsphere.security.doc/GUID-DC96FFDB-F5F2-43EC-8C73-05ACDAE6BE43.html),
// "Security.AccountUnlockTime ... The default value is 900 seconds (15
// minutes)" (Broadcom KB 436299, "Configuring the user account lockout
// duration in ESXi"); the CIS ESXi 8.0 benchmark and the DISA STIG set
// them through these advanced options. While locked, even the right
// password is refused, with the same InvalidLogin as a wrong one (the API
// does not say that the account is locked).
//
// Assumptions (not documented for the API): failures are counted per
// account and reset by a successful login; the unlock time runs from the
// last failed attempt (pam_faillock's and pam_tally2's unlock_time); a
// failure of an unknown user name counts for no account;
// AccountLockFailures 0 disables lockout; AccountUnlockTime 0 keeps a
// locked account locked (pam_faillock: "The value 0 has the same meaning
// as value never").

// Defaults of the lockout options.
const (
	DefaultAccountLockFailures = 5
	DefaultAccountUnlockTime   = 900 // seconds
)

const (
	optAccountLockFailures = "Security.AccountLockFailures"
	optAccountUnlockTime   = "Security.AccountUnlockTime"
)

// lockedLocked reports whether a is locked at now, clearing an expired
// lock. st.mu must be held.
func (st *state) lockedLocked(a *account, now time.Time) bool {
	if st.lockFailures <= 0 || int64(a.failures) < st.lockFailures {
		return false
	}
	if st.unlockTime > 0 && !now.Before(a.lastFailure.Add(time.Duration(st.unlockTime)*time.Second)) {
		a.failures = 0
		return false
	}
	return true
}

// attemptLogin decides a password login: InvalidLogin for unknown users,
// wrong passwords and locked accounts, NoPermission for valid credentials
// without access, nil for success.
func (st *state) attemptLogin(user, password string) *soap.Fault {
	now := st.opt.Clock()
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.users[user]
	if !ok {
		return invalidLogin()
	}
	locked := st.lockedLocked(a, now)
	if !a.checkPassword(password) {
		a.failures++
		a.lastFailure = now
		return invalidLogin()
	}
	if locked {
		return invalidLogin()
	}
	a.failures = 0
	if !st.hasAccess(user) {
		return loginNoAccess(st.root)
	}
	return nil
}

// Locked reports whether the local account id is locked out now.
func (s *Server) Locked(id string) bool {
	now := s.st.opt.Clock()
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	a, ok := s.st.users[id]
	return ok && s.st.lockedLocked(a, now)
}
