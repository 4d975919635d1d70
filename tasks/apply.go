package tasks

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/passwdqc"
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
	// Halt, if set, is asked before each entry is applied (Prepared.Apply);
	// an error ends the run there, as if stopped: that entry and the ones
	// after it are not run, the entries before it keep their outcomes, and
	// the run's error wraps errkind.ErrInterrupted and Halt's error. A fleet stops
	// its other hosts this way after one fails (--fail-fast): each finishes
	// the entry it is applying and no more.
	Halt func() error
	// Now stamps the report (time.Now when nil).
	Now func() time.Time
	// AllowSelfLockout lets a list demote (a role other than Admin) or
	// remove the user the session is logged in as, and, through vCenter,
	// vpxuser (VCenterUser). By default such an entry is invalid: on a
	// real host every later entry, and the next run, would fail, and a
	// host whose vpxuser is gone is cut off from its vCenter.
	AllowSelfLockout bool
	// Retry bounds the recovery from transient faults (zero: the defaults).
	Retry RetryPolicy
	// Grace is how long a run whose context is cancelled (a signal) may
	// take to end: the call in flight, then the read back of its entry
	// (DefaultGrace when zero; see shutdown).
	Grace time.Duration
	// Log receives one line per retry and recovery, never a secret; nil
	// discards.
	Log *slog.Logger
	// Invalid holds the problems params.Parse found in the list, by entry
	// index (the messages of its *params.ListError). Such a run writes
	// nothing: it reads the host and checks the other entries as usual
	// (roles, password policy, self-lockout, privileges), then reports every
	// problem together (errkind.ErrInvalid); the entries listed here are invalid
	// with their messages (in the report even when the host cannot be
	// read) and are not checked against the host.
	Invalid map[int][]string
}

// VCenterUser is the local account vCenter creates on every host it manages
// and manages the host with ("vpxuser", vSphere Security: "vCenter Server
// ... uses the vpxuser account"; do not change it or its permissions).
const VCenterUser = "vpxuser"

// Run reads the host once, checks every entry (roles known to the host,
// passwords against its policy), and — only if all are valid — applies them
// in order, stopping at the first failure. The entries must already have
// passed params.Parse.
//
// The returned error wraps errkind.ErrConnect (nothing changed),
// errkind.ErrInvalid (nothing changed; every invalid entry is in the report),
// errkind.ErrApply (the report says which entries were applied, and what the
// host holds for the failed one) or errkind.ErrInterrupted (ctx was
// cancelled: the call in flight was given Options.Grace to finish, the report
// is as for errkind.ErrApply). The report is never nil.
//
// Transient faults are recovered from (see step): a Host wraps
// errkind.ErrUncertain, errkind.ErrNotApplied, errkind.ErrUserExists,
// errkind.ErrNoSuchUser and errkind.ErrNoSuchPermission so that the engine
// can tell them apart.
func Run(ctx context.Context, h Host, entries []params.Entry, opt Options) (*Report, error) {
	p, report, err := Prepare(ctx, h, entries, opt)
	if err != nil {
		return report, err
	}
	return p.Apply(ctx)
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
	// sd lets a cancelled run finish its call in flight and read back.
	sd  *shutdown
	log *slog.Logger
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

// do is the prepare phase (Prepare): it reads the host and checks every
// entry, writing nothing. On success the report's entries are all not-run.
func (r *run) do(ctx context.Context) (*Report, error) {
	now := time.Now
	if r.opt.Now != nil {
		now = r.opt.Now
	}
	r.report = &Report{Plan: r.opt.Plan, Time: now().UTC(), Results: make([]Result, len(r.entries))}
	for i, e := range r.entries {
		r.report.Results[i] = Result{Index: i, ID: e.ID, Operation: string(e.Operation), Outcome: NotRun, Role: roleOf(e)}
		// Invalid whatever the host holds: so even if it cannot be read.
		if msgs := r.opt.Invalid[i]; len(msgs) > 0 {
			r.report.Results[i].Outcome, r.report.Results[i].Error = Invalid, strings.Join(msgs, "; ")
		}
	}
	r.log = r.opt.Log
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.sd = newShutdown(ctx, r.opt.Grace, r.log)
	defer r.sd.close()
	snap, err := r.host.Read(ctx)
	if err != nil {
		if r.sd.stopped() {
			return r.finish(fmt.Errorf("%w before anything was changed: %w", errkind.ErrInterrupted, err))
		}
		return r.finish(fmt.Errorf("%w: %w", errkind.ErrConnect, err))
	}
	r.report.Host, r.report.User = snap.Host, snap.User
	r.state = cloneSnapshot(snap)
	r.written = map[string]writtenAccount{}
	r.key = make([]byte, sha256.Size)
	if _, err := rand.Read(r.key); err != nil {
		return r.finish(fmt.Errorf("random key for password digests: %w", err))
	}

	privErr := r.checkHost(ctx)
	if privErr != nil && len(r.opt.Invalid) == 0 {
		return r.finish(privErr)
	}
	if err := r.check(privErr); err != nil {
		return r.finish(err)
	}
	return r.report, nil
}

func (r *run) finish(err error) (*Report, error) {
	r.report.OK = err == nil
	if err != nil {
		r.report.Error = err.Error() // host text in it was redacted in apply
	}
	return r.report, err
}

// check validates every entry against the host before the first write.
// Entries in Options.Invalid are invalid with their own messages; privErr,
// if not nil, is the privilege check's finding, reported with the rest.
func (r *run) check(privErr error) error {
	policy := r.opt.PasswordPolicy
	if policy == "" {
		policy = r.state.PasswordPolicy
	}
	if policy == "" {
		policy = passwdqc.ESXiDefault // ESXi's default
	}
	var problems []Problem
	for i, e := range r.entries {
		if len(r.opt.Invalid[i]) > 0 { // marked invalid in do
			problems = append(problems, Problem{Index: i, Msg: params.EntryLabel(i, e.ID, e.Operation) + ": " + r.report.Results[i].Error})
			continue
		}
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
					return fmt.Errorf("%w: password policy %q: %w", errkind.ErrInvalid, policy, err)
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
			problems = append(problems, Problem{Index: i, Msg: params.EntryLabel(i, e.ID, e.Operation) + ": " + msg})
		}
	}
	if privErr != nil {
		problems = append(problems, Problem{Index: -1, Msg: privErr.Error()})
	}
	if len(problems) > 0 {
		// Report in list order, then nothing else runs.
		r.progressAll()
		return &CheckError{Problems: problems}
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

// apply performs entry i. When it fails, the id is read again: if the host
// shows the entry fully applied (only an answer was lost), the entry is done
// and the run goes on; otherwise the entry is failed with what the host
// holds for the id (Observed), the rest are not run, and an errkind.ErrApply (or,
// after a signal, errkind.ErrInterrupted) error is returned.
func (r *run) apply(ctx context.Context, i int, e params.Entry) error {
	if r.opt.Ignore.Contains(e.ID) {
		r.done(i, Ignored)
		return nil
	}
	label := params.EntryLabel(i, e.ID, e.Operation)
	notRun := func() error {
		for j := i; j < len(r.entries); j++ {
			r.done(j, NotRun)
		}
		return fmt.Errorf("%w before %s: it and the entries after it were not run", errkind.ErrInterrupted, label)
	}
	if r.sd.stopped() {
		return notRun()
	}
	p := &progress{}
	var outcome Outcome
	var err error
	if e.Operation == params.OpRemove {
		outcome, err = r.remove(e, p)
	} else {
		outcome, err = r.write(e, p)
	}
	if err != nil && !p.called && errors.Is(err, errkind.ErrInterrupted) {
		return notRun() // stopped before its first call
	}
	res := &r.report.Results[i]
	if err != nil {
		msg := r.redact(err.Error())
		obs := r.observe(e.ID)
		o, ok := r.settled(e, obs, p)
		if !ok {
			res.Error, res.Observed, res.Note = msg, reported(obs), r.redact(p.text())
			r.done(i, Failed)
			for j := i + 1; j < len(r.entries); j++ {
				r.done(j, NotRun)
			}
			kind := errkind.ErrApply
			if errors.Is(err, errkind.ErrInterrupted) {
				kind = errkind.ErrInterrupted
			}
			if obs != nil {
				msg += " — " + obs.Words(e.ID)
			}
			if note := r.shellNote(p.last, obs); note != "" {
				msg += " — " + note
				res.Error += " — " + note
			}
			return fmt.Errorf("%w: %s: %s", kind, label, msg)
		}
		p.note("%s, but a fresh read shows the entry applied", msg)
		r.log.Info("entry recovered", "entry", label, "outcome", o)
		outcome = o
	}
	res.Note = r.redact(p.text())
	r.done(i, outcome)
	return nil
}

// progress is what the engine knows it achieved for the entry in flight.
type progress struct {
	created     bool   // this entry created the user
	accountDone bool   // this entry wrote the account (password, description)
	removed     bool   // this entry removed the user or its permission
	called      bool   // a call was made for this entry
	last        string // the name of the last call made (hostCall.name)
	unsure      string // the call whose answer was lost, while unresolved
	notes       []string
}

func (p *progress) note(format string, args ...any) {
	p.notes = append(p.notes, fmt.Sprintf(format, args...))
}

func (p *progress) text() string { return strings.Join(p.notes, "; ") }

// hostCall is one write of an entry.
type hostCall struct {
	name string // "create user": for errors, notes and the log
	do   func(ctx context.Context) error
	// took reports whether a fresh read shows that the call took effect
	// (after its answer was lost).
	took func(Observation) bool
	// done records the call's effect.
	done func()
}

// attempts counts the failed attempts of one call of an entry.
type attempts struct {
	failed int
	first  time.Time
}

// write handles add and set: both create a missing user and update an
// existing one (the seed: add "will modify (eg 'set') if exists already",
// set "performs add if user doesn't exist already"). It decides each call
// from what the run knows of the host, so that after a lost answer or
// another writer's change (read again by step) it writes only what is
// still missing.
func (r *run) write(e params.Entry, p *progress) (Outcome, error) {
	desc := e.EffectiveDescription()
	role := string(e.Role)
	held, hasRole := r.state.Permissions[e.ID]
	roleOK := hasRole && held == role
	pw := r.digest(e.Password)
	if _, exists := r.state.Users[e.ID]; exists {
		if w, ok := r.written[e.ID]; ok && w.description == desc && hmac.Equal(w.password[:], pw[:]) && roleOK {
			return Unchanged, nil
		}
	}
	accountWritten := func() {
		p.accountDone = true
		a, ok := r.state.Users[e.ID]
		if !ok { // created by this session: its shell access by default
			if has, known := r.sessionShell(); known {
				a.Shell = ShellOf(&has)
			}
		}
		a.ID, a.Description = e.ID, desc
		r.state.Users[e.ID] = a
		r.written[e.ID] = writtenAccount{description: desc, password: pw}
	}
	tries := map[string]*attempts{}
	for {
		acct, exists := r.state.Users[e.ID]
		held, hasRole := r.state.Permissions[e.ID]
		var c hostCall
		switch {
		case !p.accountDone && !exists:
			c = hostCall{
				name: "create user",
				do:   func(ctx context.Context) error { return r.host.CreateUser(ctx, e.ID, desc, e.Password) },
				took: func(o Observation) bool { return o.Exists && o.Description == desc },
				done: func() { p.created = true; accountWritten() },
			}
		case !p.accountDone:
			before := acct.Description
			c = hostCall{
				name: "update user",
				do:   func(ctx context.Context) error { return r.host.UpdateUser(ctx, e.ID, desc, e.Password) },
				// A password cannot be read back: only a description that
				// this call changed shows that it took effect. Otherwise
				// the same values are written again.
				took: func(o Observation) bool { return o.Exists && before != desc && o.Description == desc },
				done: accountWritten,
			}
		case !hasRole || held != role:
			c = hostCall{
				name: "grant role " + role,
				do:   func(ctx context.Context) error { return r.host.SetRole(ctx, e.ID, role) },
				took: func(o Observation) bool { return o.Role == role },
				done: func() { r.state.Permissions[e.ID] = role },
			}
		case p.created:
			return Created, nil
		default:
			return Updated, nil
		}
		if err := r.step(e.ID, c, p, tries); err != nil {
			return "", err
		}
	}
}

// remove deletes the user's permission (if any), then the user (if any).
func (r *run) remove(e params.Entry, p *progress) (Outcome, error) {
	tries := map[string]*attempts{}
	for {
		_, hasUser := r.state.Users[e.ID]
		_, hasRole := r.state.Permissions[e.ID]
		var c hostCall
		switch {
		case hasRole:
			c = hostCall{
				name: "remove permission",
				do:   func(ctx context.Context) error { return r.host.RemoveRole(ctx, e.ID) },
				took: func(o Observation) bool { return o.Role == "" },
				done: func() { delete(r.state.Permissions, e.ID); p.removed = true },
			}
		case hasUser:
			c = hostCall{
				name: "remove user",
				do:   func(ctx context.Context) error { return r.host.RemoveUser(ctx, e.ID) },
				took: func(o Observation) bool { return !o.Exists },
				done: func() { delete(r.state.Users, e.ID); p.removed = true },
			}
		case p.removed:
			delete(r.written, e.ID)
			return Removed, nil
		default:
			delete(r.written, e.ID)
			return Absent, nil
		}
		if err := r.step(e.ID, c, p, tries); err != nil {
			return "", err
		}
	}
}

// step makes one call of the entry in flight and recovers what can be
// recovered, within the retry policy (per call):
//
//   - an expired session (errkind.ErrNotApplied: the host did not act; the
//     Host has logged in again): the call is made again after a backoff;
//   - a lost answer (errkind.ErrUncertain): the id is read again; if the call
//     took effect it is done, otherwise the caller decides afresh from what
//     the host holds, after a backoff — a write is never blindly repeated;
//   - another writer's change (AlreadyExists, UserNotFound, no permission):
//     the id is read again and the caller converges from it.
//
// nil means: decide the entry's next call. Any other error ends the entry.
func (r *run) step(id string, c hostCall, p *progress, tries map[string]*attempts) error {
	if r.sd.stopped() {
		return fmt.Errorf("%w before %s", errkind.ErrInterrupted, c.name)
	}
	p.called, p.last = true, c.name
	err := r.call(func() error { return c.do(r.sd.calls) })
	if err == nil {
		p.unsure = ""
		c.done()
		return nil
	}
	a := tries[c.name]
	if a == nil {
		a = &attempts{first: time.Now()}
		tries[c.name] = a
	}
	a.failed++
	uncertain := errors.Is(err, errkind.ErrUncertain)
	race := errors.Is(err, errkind.ErrUserExists) || errors.Is(err, errkind.ErrNoSuchUser) || errors.Is(err, errkind.ErrNoSuchPermission)
	if !uncertain && !race && !errors.Is(err, errkind.ErrNotApplied) {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	if uncertain {
		p.unsure = c.name
	}
	if r.sd.stopped() {
		return fmt.Errorf("%s: %w (%w)", c.name, err, errkind.ErrInterrupted)
	}
	wait, again := r.opt.Retry.Retry(a.failed, a.first)
	if !again {
		return fmt.Errorf("%s: %w (gave up after %d attempts)", c.name, err, a.failed)
	}
	if uncertain || race {
		obs, rerr := r.lookup(r.sd.calls, id)
		if rerr != nil {
			return fmt.Errorf("%s: %w; reading %s again failed: %w", c.name, err, id, rerr)
		}
		r.refresh(id, obs)
		if !obs.Exists {
			p.accountDone = false // removed under us: a set creates it again
		}
		if uncertain && c.took(obs) {
			p.unsure = ""
			c.done()
			p.note("the answer to %s was lost; a fresh read shows it took effect", c.name)
			r.log.Warn("answer lost; the host shows the call took effect", "id", id, "call", c.name)
			return nil
		}
		if race {
			p.note("%s: %s: the host changed since it was read (another writer?); converged from a fresh read", c.name, r.redact(err.Error()))
			r.log.Warn("converging after another writer's change", "id", id, "call", c.name, "attempt", a.failed+1, "error", r.redact(err.Error()))
			return nil
		}
	}
	r.log.Warn("retrying", "id", id, "call", c.name, "attempt", a.failed+1, "of", r.opt.Retry.WithDefaults().Attempts, "after", wait, "error", r.redact(err.Error()))
	if serr := Sleep(r.sd.stop, wait); serr != nil {
		return fmt.Errorf("%s: %w (%w)", c.name, err, errkind.ErrInterrupted)
	}
	return nil
}

// settled reports whether what the host holds for e's id after e failed is
// everything e asks for, and e's outcome then.
func (r *run) settled(e params.Entry, o *Observation, p *progress) (Outcome, bool) {
	if o == nil || o.Unreadable {
		return "", false
	}
	if e.Operation == params.OpRemove {
		switch {
		case o.Exists || o.Role != "":
			return "", false
		case p.removed || p.unsure != "":
			return Removed, true
		default:
			return Absent, true
		}
	}
	if !o.Exists || o.Role != string(e.Role) || o.Description != e.EffectiveDescription() {
		return "", false
	}
	switch {
	case p.created || p.unsure == "create user":
		return Created, true
	case p.accountDone:
		return Updated, true
	}
	// The password was not (known to be) written.
	return "", false
}

// reported is an observation as the report carries it: without the shell
// access, which its JSON does not carry either.
func reported(o *Observation) *Observation {
	if o == nil {
		return nil
	}
	c := *o
	c.Shell = ShellUnknown
	return &c
}

// observe reads what the host holds for id after its entry failed, on a
// new connection and session if the old one is gone (the Host reconnects).
func (r *run) observe(id string) *Observation {
	if r.opt.Plan {
		return nil
	}
	ctx, cancel := r.sd.readBack()
	defer cancel()
	o, err := r.lookup(ctx, id)
	if err != nil {
		r.log.Warn("could not read the host again after a failure", "id", id, "error", r.redact(err.Error()))
		return &Observation{Unreadable: true}
	}
	r.refresh(id, o)
	return &o
}

// lookup reads one id afresh (UserLookup, else the whole host).
func (r *run) lookup(ctx context.Context, id string) (Observation, error) {
	if l, ok := r.host.(UserLookup); ok {
		return l.Lookup(ctx, id)
	}
	snap, err := r.host.Read(ctx)
	if err != nil {
		return Observation{}, err
	}
	a, exists := snap.Users[id]
	return Observation{Exists: exists, Role: snap.Permissions[id], Description: a.Description, Shell: a.Shell}, nil
}

// refresh puts a fresh read of id into the run's view of the host.
func (r *run) refresh(id string, o Observation) {
	if o.Exists {
		r.state.Users[id] = Account{ID: id, Description: o.Description, Shell: o.Shell}
	} else {
		delete(r.state.Users, id)
	}
	if o.Role != "" {
		r.state.Permissions[id] = o.Role
	} else {
		delete(r.state.Permissions, id)
	}
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
	c.LockdownExceptions = slices.Clone(s.LockdownExceptions)
	if c.Users == nil {
		c.Users = map[string]Account{}
	}
	if c.Permissions == nil {
		c.Permissions = map[string]string{}
	}
	return &c
}
