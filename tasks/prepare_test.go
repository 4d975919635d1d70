package tasks

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// Prepare reads and checks and writes nothing; Apply then does what Run
// does, once.
func TestPrepareThenApply(t *testing.T) {
	h := newMemHost()
	doc := `[{id: u1, operation: add, password: "Abcdef12!x", role: Admin}, {id: u2, operation: set, password: "Abcdef12!y", role: ReadOnly}, {id: u1, operation: remove}]`
	p, rep, err := Prepare(context.Background(), h, entries(t, doc), Options{Checker: &lenChecker{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.writes) != 0 {
		t.Fatalf("Prepare wrote %v", h.writes)
	}
	if got := outcomes(rep); !reflect.DeepEqual(got, []Outcome{NotRun, NotRun, NotRun}) || rep.OK || rep.Host != "mem" {
		t.Fatalf("prepared report = %+v", rep)
	}
	rep, err = p.Apply(context.Background())
	if err != nil || !rep.OK {
		t.Fatalf("Apply: %v %+v", err, rep)
	}
	if got := outcomes(rep); !reflect.DeepEqual(got, []Outcome{Created, Created, Removed}) {
		t.Errorf("outcomes = %v", got)
	}
	n := len(h.writes)
	if _, err := p.Apply(context.Background()); err == nil || len(h.writes) != n {
		t.Errorf("second Apply: %v, writes %d -> %d", err, n, len(h.writes))
	}
}

// An invalid list or an unreadable host: no Prepared, Run's error and
// report.
func TestPrepareFailures(t *testing.T) {
	h := newMemHost()
	delete(h.roles, "ReadOnly")
	p, rep, err := Prepare(context.Background(), h, entries(t, `[{id: u1, operation: add, password: "Abcdef12!x", role: ReadOnly}]`), Options{Checker: &lenChecker{}})
	if p != nil || !errors.Is(err, errkind.ErrInvalid) || rep.OK || rep.Results[0].Outcome != Invalid || len(h.writes) != 0 {
		t.Errorf("invalid: %v %v %+v", p, err, rep)
	}
	h.readErr = errors.New("connection refused")
	p, rep, err = Prepare(context.Background(), h, entries(t, `[{id: u1, operation: remove}]`), Options{})
	if p != nil || !errors.Is(err, errkind.ErrConnect) || rep.OK || rep.Error == "" {
		t.Errorf("unreadable: %v %v %+v", p, err, rep)
	}
}

// Options.Halt ends the run before the next entry: the entry in progress is
// finished, the rest are not run, and the error says why.
func TestApplyHalt(t *testing.T) {
	h := newMemHost()
	doc := `[{id: u1, operation: add, password: "Abcdef12!x", role: Admin}, {id: u2, operation: add, password: "Abcdef12!y", role: Admin}, {id: u3, operation: remove}]`
	asked := 0
	stop := errors.New("another host failed (--fail-fast)")
	opt := Options{Checker: &lenChecker{}, Halt: func() error {
		asked++
		if asked > 1 {
			return stop
		}
		return nil
	}}
	p, _, err := Prepare(context.Background(), h, entries(t, doc), opt)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Apply(context.Background())
	if !errors.Is(err, errkind.ErrInterrupted) || !errors.Is(err, stop) || errkind.ExitCode(err) != errkind.ExitApply {
		t.Fatalf("err = %v", err)
	}
	if got := outcomes(rep); !reflect.DeepEqual(got, []Outcome{Created, NotRun, NotRun}) || rep.OK {
		t.Errorf("outcomes = %v", got)
	}
	if !strings.Contains(rep.Error, `before entry 2 (id "u2", add)`) || !strings.Contains(rep.Error, "--fail-fast") {
		t.Errorf("report error = %q", rep.Error)
	}
	if !reflect.DeepEqual(h.writes, []string{"create u1", "grant u1 Admin"}) {
		t.Errorf("writes = %v", h.writes)
	}
}
