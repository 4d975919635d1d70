package drp

import (
	"context"
	"errors"
	"testing"
	"time"
)

// queued starts acquire in a goroutine and returns once the run is in line
// (onWait called: arrival order is the order of the calls), with its
// Waiting and a channel that gets its release (or nil and the error).
type queuedRun struct {
	wait Waiting
	got  chan func()
	err  chan error
}

func queue(t *testing.T, q *Queue, ctx context.Context) *queuedRun {
	t.Helper()
	r := &queuedRun{got: make(chan func(), 1), err: make(chan error, 1)}
	waiting := make(chan Waiting, 1)
	go func() {
		rel, err := q.acquire(ctx, func(w Waiting) { waiting <- w })
		if err != nil {
			r.err <- err
			return
		}
		r.got <- rel
	}()
	select {
	case r.wait = <-waiting:
	case rel := <-r.got:
		rel()
		t.Fatal("the run started at once; it should wait")
	case err := <-r.err:
		t.Fatalf("acquire: %v", err)
	}
	return r
}

// started waits for r to get its slot (the test's deadline bounds it).
func (r *queuedRun) started(t *testing.T) func() {
	t.Helper()
	select {
	case rel := <-r.got:
		return rel
	case err := <-r.err:
		t.Fatalf("acquire: %v", err)
	case <-time.After(time.Minute): // a guard, not a measure: it never starts
		t.Fatalf("the run waiting as %+v never started", r.wait)
	}
	return nil
}

// notStarted fails if r has its slot now.
func (r *queuedRun) notStarted(t *testing.T, what string) {
	t.Helper()
	select {
	case <-r.got:
		t.Fatalf("%s started", what)
	default:
	}
}

func mustAcquire(t *testing.T, q *Queue) func() {
	t.Helper()
	rel, err := q.acquire(context.Background(), func(Waiting) { t.Fatal("had to wait with a free slot") })
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// TestQueueFirstComeFirstServed: with N slots taken, later runs wait in
// the order they came, each told its place and the runs in progress; each
// freed slot goes to the first in line, so no more than N ever run.
func TestQueueFirstComeFirstServed(t *testing.T) {
	q := NewQueue(2)
	a, b := mustAcquire(t, q), mustAcquire(t, q)
	var line []*queuedRun
	for i := range 4 {
		r := queue(t, q, context.Background())
		if r.wait != (Waiting{Position: i + 1, Running: 2, Limit: 2}) {
			t.Fatalf("run %d waits as %+v", i+1, r.wait)
		}
		line = append(line, r)
	}
	if running, waiting := q.Stats(); running != 2 || waiting != 4 {
		t.Fatalf("stats %d running, %d waiting", running, waiting)
	}
	a()
	a() // a second release frees nothing more
	first := line[0].started(t)
	for _, r := range line[1:] {
		r.notStarted(t, "a later run")
	}
	if running, waiting := q.Stats(); running != 2 || waiting != 3 {
		t.Fatalf("after one release: %d running, %d waiting", running, waiting)
	}
	b()
	second := line[1].started(t)
	line[2].notStarted(t, "the third in line")
	first()
	third := line[2].started(t)
	line[3].notStarted(t, "the fourth in line")
	second()
	third()
	line[3].started(t)()
	if running, waiting := q.Stats(); running != 0 || waiting != 0 {
		t.Fatalf("at the end: %d running, %d waiting", running, waiting)
	}
}

// TestQueueDeadline: a run whose context ends while it waits leaves the
// line with the context's error and takes no slot; the runs behind it
// move up, and a context already ended never takes a free slot.
func TestQueueDeadline(t *testing.T) {
	q := NewQueue(1)
	hold := mustAcquire(t, q)
	ctx, cancel := context.WithCancel(context.Background())
	gone := queue(t, q, ctx)
	next := queue(t, q, context.Background())
	if next.wait.Position != 2 {
		t.Fatalf("second in line waits as %+v", next.wait)
	}
	cancel()
	select {
	case err := <-gone.err:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	case <-gone.got:
		t.Fatal("the cancelled run got a slot")
	}
	if _, waiting := q.Stats(); waiting != 1 {
		t.Fatalf("%d waiting after the cancelled run left", waiting)
	}
	hold()
	next.started(t)()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	if _, err := q.acquire(expired, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an ended context: %v", err)
	}
	if running, waiting := q.Stats(); running != 0 || waiting != 0 {
		t.Fatalf("at the end: %d running, %d waiting", running, waiting)
	}
}

// TestQueueGrantedAtDeadline: when a run is given a slot just as its
// context ends (both ready when it looks), whichever it sees, no slot is
// lost: it either runs, or passes the slot to the next in line. Each round
// frees the slot and ends the context from inside onWait, so both are
// ready before acquire waits; over the rounds both outcomes occur.
func TestQueueGrantedAtDeadline(t *testing.T) {
	outcomes := map[bool]int{}
	for range 200 {
		q := NewQueue(1)
		hold := mustAcquire(t, q)
		ctx, cancel := context.WithCancel(context.Background())
		rel, err := q.acquire(ctx, func(Waiting) {
			hold()
			cancel()
		})
		outcomes[err == nil]++
		if err == nil {
			rel()
		} else if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if running, waiting := q.Stats(); running != 0 || waiting != 0 {
			t.Fatalf("slot lost (ran: %v): %d running, %d waiting", err == nil, running, waiting)
		}
		mustAcquire(t, q)()
	}
	t.Logf("ran %d times, passed the slot on %d times", outcomes[true], outcomes[false])
}

// TestQueueSetLimit: raising the limit starts waiting runs at once;
// lowering it lets runs in progress finish and starts none until fewer
// than the new limit run.
func TestQueueSetLimit(t *testing.T) {
	q := NewQueue(1)
	a := mustAcquire(t, q)
	r1, r2 := queue(t, q, context.Background()), queue(t, q, context.Background())
	q.SetLimit(3)
	b, c := r1.started(t), r2.started(t)
	q.SetLimit(1)
	r3 := queue(t, q, context.Background())
	if r3.wait != (Waiting{Position: 1, Running: 3, Limit: 1}) {
		t.Fatalf("waits as %+v", r3.wait)
	}
	a()
	b()
	r3.notStarted(t, "a run over the lowered limit")
	c()
	r3.started(t)()
	if q0 := NewQueue(0); q0.limitNow() != 1 {
		t.Errorf("NewQueue(0) runs %d at once", q0.limitNow())
	}
}
