package drp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/textsafe"
	"github.com/esxi-users/esxi-users/tasks"
)

// QueueWait bounds how long a plugin run waits for a free slot (Queue).
// The wait counts toward RunTimeout (the run's deadline is set when the
// action arrives): a run that starts after waiting has what is left of
// RunTimeout, at least RunTimeout-QueueWait, so no action, waiting
// included, lasts longer than the scripts wait for its answer (2100 s).
var QueueWait = 15 * time.Minute

// ErrQueueTimeout is a run that found no free slot within QueueWait (or
// before its deadline): nothing was applied. The action answers 503.
var ErrQueueTimeout = errors.New("too many runs queued")

// Queue is the plugin's admission of host runs: one run per machine at a
// time (a second call for a machine whose run waits or is in progress is
// refused at once), and at most Limit runs in progress over all machines;
// the others wait for a free slot, first come, first served. A waiting run
// holds no connection and no host session: its goroutine, the machine's
// identity and the action's Params. The zero value admits one run at a
// time; NewQueue sets the limit.
type Queue struct {
	runs Runs

	mu      sync.Mutex
	limit   int
	running int
	line    []*waiter // in order of arrival

	// writers bounds the job-log writes of waiting runs (a rack arrives at
	// once: hundreds of DRP calls at the same moment would cost more
	// memory than the runs the queue holds back).
	writersOnce sync.Once
	writers     chan struct{}
}

// jobLogWriters is how many waiting runs write their line to their job's
// log at once.
const jobLogWriters = 4

type waiter struct {
	ready   chan struct{} // closed when the waiter is given a slot
	granted bool          // guarded by Queue.mu
}

// NewQueue returns a Queue that runs at most limit runs at once (at least
// one).
func NewQueue(limit int) *Queue {
	q := &Queue{}
	q.SetLimit(limit)
	return q
}

// SetLimit changes the limit (at least one); raising it starts waiting runs
// at once. Runs in progress beyond a lowered limit go on; no new one starts
// until fewer than the limit run.
func (q *Queue) SetLimit(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.limit = max(n, 1)
	q.grant()
}

// Waiting is what a run that has to wait reports: its place in line (1:
// the next to start), the runs in progress and the limit.
type Waiting struct{ Position, Running, Limit int }

// Stats returns the runs in progress and waiting.
func (q *Queue) Stats() (running, waiting int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.running, len(q.line)
}

// acquire takes a slot, waiting in line when all are taken; onWait is
// called once, before the wait, if the run has to wait. It returns
// ctx.Err() when ctx ends first (the run leaves the line, and a slot given
// to it meanwhile goes to the next in line). release frees the slot; it may
// be called more than once.
func (q *Queue) acquire(ctx context.Context, onWait func(Waiting)) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	if q.limit == 0 {
		q.limit = 1
	}
	if len(q.line) == 0 && q.running < q.limit {
		q.running++
		q.mu.Unlock()
		return q.releaser(), nil
	}
	w := &waiter{ready: make(chan struct{})}
	q.line = append(q.line, w)
	info := Waiting{Position: len(q.line), Running: q.running, Limit: q.limit}
	q.mu.Unlock()
	if onWait != nil {
		onWait(info)
	}
	select {
	case <-w.ready:
		return q.releaser(), nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if w.granted {
		// The slot came with the deadline: pass it on.
		q.running--
		q.grant()
	} else {
		q.line = slices.DeleteFunc(q.line, func(x *waiter) bool { return x == w })
	}
	return nil, ctx.Err()
}

func (q *Queue) releaser() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			q.running--
			q.grant()
		})
	}
}

// grant gives free slots to the first in line. q.mu must be held.
func (q *Queue) grant() {
	for q.running < q.limit && len(q.line) > 0 {
		w := q.line[0]
		q.line[0] = nil
		q.line = q.line[1:]
		w.granted = true
		q.running++
		close(w.ready)
	}
	if len(q.line) == 0 {
		q.line = nil // let the backing array go
	}
}

// RunAction is the plugin's esxiManageUsers action with admission: a
// second call for a machine whose run waits or is in progress is refused
// at once (409, nothing applied); otherwise the run waits for a slot, in
// line, and then is RunAction. Its deadline (RunTimeout) counts from now,
// the wait included. A run that has to wait logs one line saying so (its
// place in line, the runs in progress), in the plugin's log and - when
// m.Job is the machine's running esxi-manage-users job - in that job's log
// (written through c). A run that gets no slot within QueueWait answers 503
// "too many runs queued" (the scripts exit 3: nothing applied); no report
// is written then (the machine's report stays that of its last run).
func (q *Queue) RunAction(ctx context.Context, c *Client, m Machine, vals map[string]any, log ActionLog) (*tasks.Report, *Error) {
	if log == nil {
		log = func(string, string) {}
	}
	release, ok := q.runs.TryStart(m.UUID)
	if !ok {
		log("warn", fmt.Sprintf("%s: machine %s: a run for this machine is in progress; refused", content.ActionName, m.UUID))
		return nil, &Error{Model: "machines", Key: m.UUID, Type: "busy", Code: http.StatusConflict,
			Messages: []string{content.ActionName + ": a run for this machine is in progress; nothing was applied by this call (try again when it has finished; its report will be in " + content.ParamReport + ")"}}
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, RunTimeout)
	defer cancel()
	wctx, wcancel := context.WithTimeout(ctx, QueueWait)
	defer wcancel()
	var waited bool
	start := time.Now()
	slot, err := q.acquire(wctx, func(w Waiting) {
		waited = true
		line := textsafe.Lines(waitLine(m, w))
		log("info", line)
		if werr := q.appendJobLog(wctx, c, m, line); werr != nil {
			log("warn", textsafe.Lines(fmt.Sprintf("%s: machine %s: the line above is not in the job's log: %v", content.ActionName, m.UUID, werr)))
		}
	})
	if err != nil {
		running, waiting := q.Stats()
		msg := fmt.Sprintf("%v: no run slot came free within %v (%d runs in progress, %d waiting; %s is %d); nothing was applied (run it again later, or raise %s)",
			ErrQueueTimeout, time.Since(start).Round(time.Second), running, waiting, content.ParamMaxParallelRuns, q.limitNow(), content.ParamMaxParallelRuns)
		log("error", fmt.Sprintf("%s: machine %s: %s", content.ActionName, m.UUID, msg))
		return nil, &Error{Model: "machines", Key: m.UUID, Type: "busy", Code: http.StatusServiceUnavailable, Messages: []string{content.ActionName + ": " + msg}}
	}
	defer slot()
	if waited {
		log("info", fmt.Sprintf("%s: machine %s: a run slot is free after %v; starting", content.ActionName, m.UUID, time.Since(start).Round(time.Millisecond)))
	}
	return RunAction(ctx, c, m, vals, log)
}

func (q *Queue) limitNow() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.limit
}

// waitLine is the one line a waiting run logs.
func waitLine(m Machine, w Waiting) string {
	name := m.UUID
	if m.Name != "" {
		name = m.Name + " (" + m.UUID + ")"
	}
	return fmt.Sprintf("%s: machine %s: waiting for a run slot: number %d in line, %d runs in progress (%s is %d); "+
		"it starts when a slot is free, or gives up after %v with nothing applied",
		content.ActionName, name, w.Position, w.Running, content.ParamMaxParallelRuns, w.Limit, QueueWait)
}

// appendJobLog appends line to the log of m.Job when that is m's running
// esxi-manage-users job (read through c: DRP's Job has Machine, Task and
// State), so that whoever watches the job sees why it waits. An action not
// posted by that task (an operator's runaction, with the machine's last job
// finished) writes nothing. At most jobLogWriters write at once.
func (q *Queue) appendJobLog(ctx context.Context, c *Client, m Machine, line string) error {
	if c == nil || !IsUUID(m.Job) {
		return nil
	}
	q.writersOnce.Do(func() { q.writers = make(chan struct{}, jobLogWriters) })
	select {
	case q.writers <- struct{}{}:
		defer func() { <-q.writers }()
	case <-ctx.Done():
		return ctx.Err()
	}
	var j struct{ Machine, Task, State string }
	if err := c.call(ctx, http.MethodGet, nil, nil, &j, "jobs", m.Job); err != nil {
		return fmt.Errorf("%w: GET jobs/%s: %s", errkind.ErrDRP, m.Job, errorText(err))
	}
	if !strings.EqualFold(j.Machine, m.UUID) || j.State != "running" || j.Task != content.TaskName {
		return nil
	}
	body := rawBody{ctype: "application/octet-stream", data: []byte("esxi-manage-users: " + line + "\n")}
	if err := c.call(ctx, http.MethodPut, nil, body, nil, "jobs", m.Job, "log"); err != nil {
		return fmt.Errorf("%w: PUT jobs/%s/log: %s", errkind.ErrDRP, m.Job, errorText(err))
	}
	return nil
}
