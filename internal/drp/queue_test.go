package drp_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/drp"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/tasks"
)

// rackMachine is a machine of the fake with its own simulated host and a
// running esxi-manage-users job (its CurrentJob), as when the task posts
// the action.
type rackMachine struct {
	m   drp.Machine
	sim *esxsim.Server
}

func addRackMachine(t *testing.T, w *world, i int) rackMachine {
	t.Helper()
	sim, err := esxsim.Start(esxsim.Options{})
	must(t, err)
	t.Cleanup(sim.Close)
	uuid := fmt.Sprintf("5a1e0000-0000-4000-8000-%012d", i)
	name := fmt.Sprintf("rack%02d", i)
	must(t, w.fake.AddMachine(uuid, name, ""))
	pw, _ := sim.URL.User.Password()
	must(t, w.fake.SetParam(uuid, content.ParamServer, sim.URL.Host))
	must(t, w.fake.SetParam(uuid, content.ParamThumbprint, sim.Thumbprint))
	must(t, w.fake.SetParam(uuid, content.ParamPassword, pw))
	must(t, w.fake.SetParam(uuid, content.ParamUsers, []any{
		map[string]any{"id": "user1", "operation": "add", "password": canary, "role": "ReadOnly"},
	}))
	_, err = w.fake.JobToken(uuid, content.TaskName)
	must(t, err)
	return rackMachine{m: drp.Machine{UUID: uuid, Name: name, Job: w.fake.CurrentJob(uuid)}, sim: sim}
}

// params are the machine's stored Params, as DRP fills the action's.
func (r rackMachine) params(w *world) map[string]any {
	vals := map[string]any{}
	for _, n := range drp.InputParams() {
		if v := w.fake.Param(r.m.UUID, n); v != nil {
			vals[n] = v
		}
	}
	return vals
}

type answer struct {
	report *tasks.Report
	err    *drp.Error
}

func runQueued(q *drp.Queue, c *drp.Client, r rackMachine, w *world, log drp.ActionLog) <-chan answer {
	out := make(chan answer, 1)
	vals := r.params(w)
	go func() {
		rep, err := q.RunAction(context.Background(), c, r.m, vals, log)
		out <- answer{rep, err}
	}()
	return out
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a guard, not a measure
	t.Cleanup(cancel)
	return ctx
}

// TestQueuedRunWaitsInLine: with the one slot taken, a
// second machine's run waits: it logs one line, in the plugin's log and in
// its running job's log, and reaches its host only once the slot is free;
// meanwhile another call for it is refused at once with 409.
func TestQueuedRunWaitsInLine(t *testing.T) {
	w := newWorld(t)
	c, err := drp.NewClient(w.fake.Endpoint(), w.fake.SuperuserToken(), nil)
	must(t, err)
	a, b := addRackMachine(t, w, 1), addRackMachine(t, w, 2)
	q := drp.NewQueue(1)
	entered, release := a.sim.HoldLogin()
	t.Cleanup(release)
	doneA := runQueued(q, c, a, w, nil)
	<-entered // a holds the slot, its host's Login held
	var mu sync.Mutex
	var logB []string
	doneB := runQueued(q, c, b, w, func(level, msg string) {
		mu.Lock()
		logB = append(logB, level+" "+msg)
		mu.Unlock()
	})
	jobLog, err := w.fake.WaitJobLog(waitCtx(t), b.m.Job, "waiting for a run slot")
	if err != nil {
		t.Fatal(err)
	}
	want := "esxi-manage-users: esxiManageUsers: machine rack02 (" + b.m.UUID + "): waiting for a run slot: number 1 in line, 1 runs in progress (esxi-users/max-parallel-runs is 1)"
	if !strings.HasPrefix(jobLog, want) || strings.Count(jobLog, "\n") != 1 {
		t.Errorf("job log:\n%s\nwant one line starting %q", jobLog, want)
	}
	if w.fake.JobLog(a.m.Job) != "" {
		t.Errorf("the run that did not wait wrote to its job's log: %q", w.fake.JobLog(a.m.Job))
	}
	// Another call for the waiting machine: refused at once.
	if _, derr := q.RunAction(context.Background(), c, b.m, b.params(w), nil); derr == nil || derr.Code != http.StatusConflict {
		t.Fatalf("second call for a waiting machine: %+v", derr)
	}
	if n := b.sim.Requests(); n != 0 {
		t.Fatalf("the waiting run's host got %d requests", n)
	}
	release()
	for name, done := range map[string]<-chan answer{"a": doneA, "b": doneB} {
		if got := <-done; got.err != nil || !got.report.OK {
			t.Fatalf("%s: %+v %+v", name, got.report, got.err)
		}
	}
	if _, ok := b.sim.Users()["user1"]; !ok {
		t.Error("user1 not on b's host")
	}
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(logB, "\n")
	if strings.Count(joined, "waiting for a run slot") != 1 || !strings.Contains(joined, "a run slot is free after") {
		t.Errorf("b's log:\n%s", joined)
	}
}

// TestQueuedRunGivesUp: a run that gets no slot within
// QueueWait answers 503 "too many runs queued", sends nothing to its host
// and writes no report; an action from a job that is not running writes
// nothing to that job's log.
func TestQueuedRunGivesUp(t *testing.T) {
	saved := drp.QueueWait
	drp.QueueWait = time.Millisecond
	t.Cleanup(func() { drp.QueueWait = saved })
	w := newWorld(t)
	c, err := drp.NewClient(w.fake.Endpoint(), w.fake.SuperuserToken(), nil)
	must(t, err)
	a, b := addRackMachine(t, w, 1), addRackMachine(t, w, 2)
	must(t, w.fake.SetJobState(b.m.Job, "finished")) // an operator's runaction after the task
	q := drp.NewQueue(1)
	entered, release := a.sim.HoldLogin()
	t.Cleanup(release)
	doneA := runQueued(q, c, a, w, nil)
	<-entered
	var lines []string
	got := <-runQueued(q, c, b, w, func(level, msg string) { lines = append(lines, level+" "+msg) })
	if got.err == nil || got.err.Code != http.StatusServiceUnavailable || !strings.Contains(strings.Join(got.err.Messages, " "), "too many runs queued") ||
		!strings.Contains(strings.Join(got.err.Messages, " "), "nothing was applied") {
		t.Fatalf("answer: %+v %+v", got.report, got.err)
	}
	if n := b.sim.Requests(); n != 0 {
		t.Errorf("the host of the run that gave up got %d requests", n)
	}
	if r := w.fake.Param(b.m.UUID, content.ParamReport); r != nil {
		t.Errorf("a report was written: %v", r)
	}
	if l := w.fake.JobLog(b.m.Job); l != "" {
		t.Errorf("the finished job's log got %q", l)
	}
	if j := strings.Join(lines, "\n"); !strings.Contains(j, "info esxiManageUsers: machine rack02 ("+b.m.UUID+"): waiting for a run slot") ||
		!strings.Contains(j, "error esxiManageUsers: machine "+b.m.UUID+": too many runs queued") {
		t.Errorf("plugin log:\n%s", j)
	}
	if running, waiting := q.Stats(); running != 1 || waiting != 0 {
		t.Errorf("after giving up: %d running, %d waiting", running, waiting)
	}
	// The machine is free again: its next run waits anew (not 409).
	release()
	if a := <-doneA; a.err != nil {
		t.Fatalf("a: %+v", a.err)
	}
	drp.QueueWait = saved
	if got := <-runQueued(q, c, b, w, nil); got.err != nil || !got.report.OK {
		t.Fatalf("b again: %+v %+v", got.report, got.err)
	}
}

// TestQueueTimeoutFitsTheScripts: a run's wait and its run together are
// bounded by RunTimeout (the deadline is set when the action arrives), and
// a run that waited the longest still has at least half of it; the
// scripts wait longer than RunTimeout (TestTemplateTimeoutsExceedRunTimeout).
func TestQueueTimeoutFitsTheScripts(t *testing.T) {
	if drp.QueueWait <= 0 || drp.RunTimeout-drp.QueueWait < drp.RunTimeout/2 {
		t.Errorf("QueueWait %v leaves less than half of RunTimeout %v for the run", drp.QueueWait, drp.RunTimeout)
	}
}
