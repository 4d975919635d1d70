package tasks

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults of RetryPolicy and Options.Grace.
const (
	DefaultAttempts      = 3
	DefaultBackoff       = 500 * time.Millisecond
	DefaultRetryDeadline = 2 * time.Minute
	DefaultGrace         = 5 * time.Second
)

// RetryPolicy bounds recovery from transient faults. The zero value means
// the defaults: 3 attempts per call, 0.5 s then 1 s between them, and no new
// attempt of a call more than 2 minutes after its first.
type RetryPolicy struct {
	// Attempts is the most attempts of one call, the first included.
	Attempts int
	// Backoff is the wait before the second attempt; it doubles for each
	// further one.
	Backoff time.Duration
	// Deadline: no attempt of a call starts later than this after its first.
	Deadline time.Duration
}

// WithDefaults fills in the zero fields.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = DefaultAttempts
	}
	if p.Backoff <= 0 {
		p.Backoff = DefaultBackoff
	}
	if p.Deadline <= 0 {
		p.Deadline = DefaultRetryDeadline
	}
	return p
}

// Retry reports whether a call that has failed `failed` times, the first
// attempt having started at first, may be attempted again, and after what
// wait.
func (p RetryPolicy) Retry(failed int, first time.Time) (time.Duration, bool) {
	p = p.WithDefaults()
	if failed >= p.Attempts || time.Since(first) >= p.Deadline {
		return 0, false
	}
	d := p.Backoff
	for i := 1; i < failed; i++ {
		d *= 2
	}
	return d, true
}

// Sleep waits d or until ctx is done (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// shutdown lets a run end cleanly when its context is cancelled (a signal):
// the call in flight keeps running for 3/5 of the grace period, the read
// back of the entry in flight ends by 4/5 of it, and the caller has the
// last fifth to log out.
type shutdown struct {
	stop    context.Context // the caller's context: done on a signal
	calls   context.Context // host calls: outlive stop by the call grace
	cancel  context.CancelFunc
	grace   time.Duration
	unwatch func() bool

	mu    sync.Mutex
	at    time.Time // when stop was done
	timer *time.Timer
}

func newShutdown(ctx context.Context, grace time.Duration, log *slog.Logger) *shutdown {
	if grace <= 0 {
		grace = DefaultGrace
	}
	s := &shutdown{stop: ctx, grace: grace}
	s.calls, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.unwatch = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.at = time.Now()
		s.timer = time.AfterFunc(s.grace*3/5, s.cancel)
		log.Warn("stopping: no new call is started; the call in flight may take until the deadline", "deadline", s.grace*3/5, "cause", context.Cause(ctx).Error())
	})
	return s
}

// stopped reports whether the run has been told to stop.
func (s *shutdown) stopped() bool { return s.stop.Err() != nil }

// readBack is the context of the read after a failure: the calls' context,
// or after a stop one that ends by 4/5 of the grace period.
func (s *shutdown) readBack() (context.Context, context.CancelFunc) {
	s.mu.Lock()
	at := s.at
	s.mu.Unlock()
	if at.IsZero() {
		return context.WithCancel(s.calls)
	}
	return context.WithDeadline(context.WithoutCancel(s.stop), at.Add(s.grace*4/5))
}

func (s *shutdown) close() {
	s.unwatch()
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	s.cancel()
}

// UserLookup is implemented by a Host that can read one id afresh (cheaper
// than Read). The engine uses it after a failure and to recover; without
// it, it reads the whole host.
type UserLookup interface {
	Lookup(ctx context.Context, id string) (Observation, error)
}
