package tasks

import (
	"context"
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
}

// DefaultPasswordPolicy is ESXi's default Security.PasswordQualityControl,
// used when the host's value cannot be read and none is given.
const DefaultPasswordPolicy = "retry=3 min=disabled,disabled,disabled,7,7"

// Run reads the host once, checks every entry (roles known to the host,
// passwords against its policy), and — only if all are valid — applies them
// in order, stopping at the first failure. The entries must already have
// passed params.Parse.
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
	// from the host, but this run knows what it set).
	written map[string]writtenAccount
}

type writtenAccount struct {
	description string
	password    string
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

	outcome := Updated
	if _, exists := r.state.Users[e.ID]; !exists {
		outcome = Created
		if err := r.call(func() error { return r.host.CreateUser(ctx, e.ID, desc, e.Password) }); err != nil {
			return "", fmt.Errorf("create user: %w", err)
		}
	} else if w, ok := r.written[e.ID]; ok && w.description == desc && w.password == e.Password.Reveal() && roleOK {
		return Unchanged, nil
	} else if err := r.call(func() error { return r.host.UpdateUser(ctx, e.ID, desc, e.Password) }); err != nil {
		return "", fmt.Errorf("update user: %w", err)
	}
	r.state.Users[e.ID] = Account{ID: e.ID, Description: desc}
	r.written[e.ID] = writtenAccount{description: desc, password: e.Password.Reveal()}

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
