package tasks

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/esxi-users/esxi-users/params"
)

// Options tune a run.
type Options struct {
	// Ignore lists the ids to skip; root and dcui are always skipped.
	Ignore params.IgnoreList
	// Checker checks passwords against the host's policy before any write.
	// nil skips the pre-check and lets the host decide (its own rejection
	// is then reported for the entry).
	Checker PasswordChecker
	// PasswordPolicy, when set, replaces the policy read from the host.
	PasswordPolicy string
	// Plan computes what would happen and writes nothing.
	Plan bool
	// Progress, if set, is called with each entry's result as soon as it is
	// known, in list order.
	Progress func(Result)
	// Now stamps the report (time.Now when nil).
	Now func() time.Time
	// AllowSelfLockout lets a list demote (a role other than Admin) or
	// remove the user the session is logged in as, and, through vCenter,
	// vpxuser (VCenterUser). By default such an entry is invalid: on a
	// real host every later entry, and the next run, would fail, and a
	// host whose vpxuser is gone is cut off from its vCenter.
	AllowSelfLockout bool
}

// VCenterUser is the local account vCenter creates on every host it manages
// and manages the host with ("vpxuser", vSphere Security: "vCenter Server
// ... uses the vpxuser account"; do not change it or its permissions).
const VCenterUser = "vpxuser"

// DefaultPasswordPolicy is ESXi's default Security.PasswordQualityControl,
// used when the host's value cannot be read and none is given.
const DefaultPasswordPolicy = "retry=3 min=disabled,disabled,disabled,7,7"

// Run reads the host once, checks every entry (roles known to the host,
// passwords against its policy), and — only if all are valid — applies them
// in order, stopping at the first failure. The entries must already have
// passed params.Validate.
//
// The returned error wraps ErrConnect (nothing changed), ErrInvalid (nothing
// changed; every invalid entry is in the report) or ErrApply (the report says
// which entries were applied). The report is never nil.
func Run(ctx context.Context, h Host, entries []params.Entry, opt Options) (*Report, error) {
	r := &run{host: h, entries: entries, opt: opt}
	return r.do(ctx)
}

type run struct {
	host    Host
	entries []params.Entry
	opt     Options
	report  *Report
	state   *Snapshot
	// written remembers what this run wrote for each id, so an identical
	// later entry can be reported unchanged (passwords cannot be read back
	// from the host, but this run knows what it set). It keeps a digest of
	// the password, never the password.
	written map[string]writtenAccount
	// key is the HMAC key of this run's password digests (random, per run:
	// a digest cannot be compared with one of another run, nor tested
	// against a word list without the key).
	key []byte
}

type writtenAccount struct {
	description string
	password    [sha256.Size]byte // HMAC-SHA-256(key, password)
}

// digest is the run's keyed digest of a password.
func (r *run) digest(p params.Password) [sha256.Size]byte {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(p.Reveal()))
	var d [sha256.Size]byte
	m.Sum(d[:0])
	return d
}

func (r *run) do(ctx context.Context) (*Report, error) {
	now := time.Now
	if r.opt.Now != nil {
		now = r.opt.Now
	}
	r.report = &Report{Plan: r.opt.Plan, Time: now().UTC(), Results: make([]Result, len(r.entries))}
	for i, e := range r.entries {
		r.report.Results[i] = Result{Index: i, ID: e.ID, Operation: string(e.Operation), Outcome: NotRun, Role: roleOf(e)}
	}
	snap, err := r.host.Read(ctx)
	if err != nil {
		return r.finish(fmt.Errorf("%w: %w", ErrConnect, err))
	}
	r.report.Host, r.report.User = snap.Host, snap.User
	r.state = cloneSnapshot(snap)
	r.written = map[string]writtenAccount{}
	r.key = make([]byte, sha256.Size)
	if _, err := rand.Read(r.key); err != nil {
		return r.finish(fmt.Errorf("random key for password digests: %w", err))
	}

	if err := r.checkPrivileges(ctx); err != nil {
		return r.finish(err)
	}
	if err := r.check(); err != nil {
		return r.finish(err)
	}
	for i, e := range r.entries {
		if err := r.apply(ctx, i, e); err != nil {
			return r.finish(err)
		}
	}
	return r.finish(nil)
}

func (r *run) finish(err error) (*Report, error) {
	r.report.OK = err == nil
	if err != nil {
		r.report.Error = err.Error() // host text in it was redacted in apply
	}
	return r.report, err
}

// check validates every entry against the host before the first write.
func (r *run) check() error {
	policy := r.opt.PasswordPolicy
	if policy == "" {
		policy = r.state.PasswordPolicy
	}
	if policy == "" {
		policy = DefaultPasswordPolicy
	}
	var problems []string
	for i, e := range r.entries {
		if r.opt.Ignore.Contains(e.ID) {
			continue
		}
		var msgs []string
		for _, ee := range params.ValidateEntry(e) {
			msgs = append(msgs, ee.Msg)
		}
		if e.Writes() {
			if e.Role != "" && !r.state.Roles[string(e.Role)] {
				msgs = append(msgs, fmt.Sprintf("role %q is not defined on the host", e.Role))
			}
			if r.opt.Checker != nil && !e.Password.IsZero() {
				reason, err := r.opt.Checker.CheckPassword(policy, e.ID, e.EffectiveDescription(), e.Password)
				if err != nil {
					return fmt.Errorf("%w: password policy %q: %w", ErrInvalid, policy, err)
				}
				if reason != "" {
					msgs = append(msgs, fmt.Sprintf("password does not meet the host's policy: %s", reason))
				}
			}
		}
		if msg := r.lockout(e); msg != "" {
			msgs = append(msgs, msg)
		}
		if len(msgs) > 0 {
			// Built from field names, roles and policy reasons only: no
			// password can be in it, so it is not redacted (redacting a
			// password such as "short" would garble "too short").
			msg := strings.Join(msgs, "; ")
			r.report.Results[i].Outcome = Invalid
			r.report.Results[i].Error = msg
			problems = append(problems, params.EntryLabel(i, e.ID, e.Operation)+": "+msg)
		}
	}
	if len(problems) > 0 {
		// Report in list order, then nothing else runs.
		r.progressAll()
		return fmt.Errorf("%w: nothing was changed:\n%s", ErrInvalid, strings.Join(problems, "\n"))
	}
	return nil
}

// lockout says why entry e would lock this tool out of the host ("" if it
// would not, or if Options.AllowSelfLockout): it demotes (a role other than
// Admin) or removes
//   - the user the session logged in as, on a direct connection (compared
//     without regard to case, erring on the safe side);
//   - through vCenter, vpxuser, the account vCenter manages the host with.
//
// Through vCenter the session's user is a vCenter account, not one of the
// host's, so only vpxuser is checked there.
func (r *run) lockout(e params.Entry) string {
	if r.opt.AllowSelfLockout {
		return ""
	}
	var what string
	switch {
	case e.Operation == params.OpRemove:
		what = "removes"
	case e.Writes() && e.Role != "" && e.Role != params.RoleAdmin:
		what = fmt.Sprintf("demotes (role %s)", e.Role)
	default:
		return ""
	}
	const optOut = " (to do it anyway: --allow-self-lockout, DRP Param esxi/manage-users-allow-self-lockout)"
	switch {
	case r.state.ViaVCenter && e.ID == VCenterUser:
		return fmt.Sprintf("%s %s, the account vCenter manages this host with: the host would be cut off from vCenter and this run could not go on%s", what, VCenterUser, optOut)
	case !r.state.ViaVCenter && r.state.User != "" && strings.EqualFold(e.ID, r.state.User):
		return fmt.Sprintf("%s the user this run is logged in as: every later entry, and the next run, would fail for lack of privileges%s", what, optOut)
	}
	return ""
}

func (r *run) progressAll() {
	if r.opt.Progress == nil {
		return
	}
	for _, res := range r.report.Results {
		r.opt.Progress(res)
	}
}

func (r *run) done(i int, o Outcome) {
	r.report.Results[i].Outcome = o
	if r.opt.Progress != nil {
		r.opt.Progress(r.report.Results[i])
	}
}

// apply performs entry i. On a host error it marks the entry failed, the
// rest not-run, and returns an ErrApply error.
func (r *run) apply(ctx context.Context, i int, e params.Entry) error {
	if r.opt.Ignore.Contains(e.ID) {
		r.done(i, Ignored)
		return nil
	}
	var outcome Outcome
	var err error
	if e.Operation == params.OpRemove {
		outcome, err = r.remove(ctx, e)
	} else {
		outcome, err = r.write(ctx, e)
	}
	if err != nil {
		msg := r.redact(err.Error())
		r.report.Results[i].Error = msg
		r.done(i, Failed)
		for j := i + 1; j < len(r.entries); j++ {
			r.done(j, NotRun)
		}
		return fmt.Errorf("%w: %s: %s", ErrApply, params.EntryLabel(i, e.ID, e.Operation), msg)
	}
	r.done(i, outcome)
	return nil
}

// write handles add and set: both create a missing user and update an
// existing one (the seed: add "will modify (eg 'set') if exists already",
// set "performs add if user doesn't exist already").
func (r *run) write(ctx context.Context, e params.Entry) (Outcome, error) {
	desc := e.EffectiveDescription()
	role := string(e.Role)
	held, hasRole := r.state.Permissions[e.ID]
	roleOK := hasRole && held == role
	pw := r.digest(e.Password)

	outcome := Updated
	if _, exists := r.state.Users[e.ID]; !exists {
		outcome = Created
		if err := r.call(func() error { return r.host.CreateUser(ctx, e.ID, desc, e.Password) }); err != nil {
			return "", fmt.Errorf("create user: %w", err)
		}
	} else if w, ok := r.written[e.ID]; ok && w.description == desc && hmac.Equal(w.password[:], pw[:]) && roleOK {
		return Unchanged, nil
	} else if err := r.call(func() error { return r.host.UpdateUser(ctx, e.ID, desc, e.Password) }); err != nil {
		return "", fmt.Errorf("update user: %w", err)
	}
	r.state.Users[e.ID] = Account{ID: e.ID, Description: desc}
	r.written[e.ID] = writtenAccount{description: desc, password: pw}

	if !roleOK {
		if err := r.call(func() error { return r.host.SetRole(ctx, e.ID, role) }); err != nil {
			return "", fmt.Errorf("grant role %s: %w", e.Role, err)
		}
		r.state.Permissions[e.ID] = role
	}
	return outcome, nil
}

// remove deletes the user's permission (if any), then the user (if any).
func (r *run) remove(ctx context.Context, e params.Entry) (Outcome, error) {
	_, hasUser := r.state.Users[e.ID]
	_, hasRole := r.state.Permissions[e.ID]
	if !hasUser && !hasRole {
		return Absent, nil
	}
	if hasRole {
		if err := r.call(func() error { return r.host.RemoveRole(ctx, e.ID) }); err != nil {
			return "", fmt.Errorf("remove permission: %w", err)
		}
		delete(r.state.Permissions, e.ID)
	}
	if hasUser {
		if err := r.call(func() error { return r.host.RemoveUser(ctx, e.ID) }); err != nil {
			return "", fmt.Errorf("remove user: %w", err)
		}
		delete(r.state.Users, e.ID)
	}
	delete(r.written, e.ID)
	return Removed, nil
}

// call performs a write, or nothing in a plan.
func (r *run) call(write func() error) error {
	if r.opt.Plan {
		return nil
	}
	if err := write(); err != nil {
		return err
	}
	return nil
}

// redact replaces every password of the list that occurs in msg. Errors are
// built without passwords; this is a second line of defence against a host
// that echoes one back.
func (r *run) redact(msg string) string {
	for _, e := range r.entries {
		if p := e.Password.Reveal(); p != "" {
			msg = strings.ReplaceAll(msg, p, params.Masked)
		}
	}
	return msg
}

func roleOf(e params.Entry) string {
	if e.Operation == params.OpRemove {
		return ""
	}
	return string(e.Role)
}

func cloneSnapshot(s *Snapshot) *Snapshot {
	c := *s
	c.Users = maps.Clone(s.Users)
	c.Permissions = maps.Clone(s.Permissions)
	c.Roles = maps.Clone(s.Roles)
	if c.Users == nil {
		c.Users = map[string]Account{}
	}
	if c.Permissions == nil {
		c.Permissions = map[string]string{}
	}
	return &c
}
