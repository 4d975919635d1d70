package tasks

import (
	"context"
	"errors"
	"fmt"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/params"
)

// Prepared is a run whose host has been read and whose every entry has been
// checked against it (roles, password policy, self-lockout, privileges),
// with nothing written yet: Apply writes. A fleet prepares every host
// before it applies to any (see Prepare).
type Prepared struct {
	r       *run
	applied bool
}

// Prepare is the first phase of Run: it reads the host once and checks
// every entry against it — what Run does before its first write. It writes
// nothing.
//
// On success it returns the prepared run and its report so far (every
// entry not-run). Otherwise the Prepared is nil, the report is final and
// the error is Run's for the same failure: it wraps errkind.ErrConnect (the host
// could not be read, or the session lacks privileges), errkind.ErrInvalid (every
// invalid entry is in the report) or errkind.ErrInterrupted (ctx was cancelled
// while reading).
//
// The host's view read here is used by Apply, which may come later: a
// change made meanwhile by another writer is met as any other writer's
// change is (the run converges, see Run).
func Prepare(ctx context.Context, h Host, entries []params.Entry, opt Options) (*Prepared, *Report, error) {
	r := &run{host: h, entries: entries, opt: opt}
	report, err := r.do(ctx)
	if err != nil {
		return nil, report, err
	}
	return &Prepared{r: r}, report, nil
}

// Apply is the second phase of Run: it applies the entries in order,
// stopping at the first failure, with Run's recovery, signals (ctx) and
// errors (errkind.ErrApply, errkind.ErrInterrupted). It may be called once.
func (p *Prepared) Apply(ctx context.Context) (*Report, error) {
	r := p.r
	if p.applied {
		return r.report, errors.New("tasks: a prepared run was applied twice")
	}
	p.applied = true
	r.sd = newShutdown(ctx, r.opt.Grace, r.log)
	defer r.sd.close()
	for i, e := range r.entries {
		if err := r.halt(i, e); err != nil {
			return r.finish(err)
		}
		if err := r.apply(ctx, i, e); err != nil {
			return r.finish(err)
		}
	}
	return r.finish(nil)
}

// halt asks Options.Halt before entry i; on an answer, i and the entries
// after it are not run.
func (r *run) halt(i int, e params.Entry) error {
	if r.opt.Halt == nil {
		return nil
	}
	why := r.opt.Halt()
	if why == nil {
		return nil
	}
	for j := i; j < len(r.entries); j++ {
		r.done(j, NotRun)
	}
	return fmt.Errorf("%w before %s: %w; it and the entries after it were not run", errkind.ErrInterrupted, params.EntryLabel(i, e.ID, e.Operation), why)
}
