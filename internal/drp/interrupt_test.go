package drp_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/drp"
	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/tasks"
)

// A job stopped while a write is in flight (SIGTERM cancels the task's
// context) still writes esxi/manage-users-report, saying what the host now
// holds for the entry in flight, and exits 1.
func TestRunTaskInterruptedWritesReport(t *testing.T) {
	w := newWorld(t)
	must(t, w.fake.SetParam(machineUUID, content.ParamUsers, []map[string]any{
		{"id": "user1", "operation": "add", "password": canary, "role": "Admin"},
		{"id": "user2", "operation": "add", "password": canary, "role": "Admin"},
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	w.sim.OnRequest(func(_ int, method string) {
		if method == "CreateUser" {
			once.Do(cancel) // the signal arrives while CreateUser is on its way
		}
	})
	var out, errb bytes.Buffer
	code := drp.RunTaskWith(ctx, drp.TaskOptions{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return w.env[k] }})
	if code != errkind.ExitApply {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	r := w.report(t)
	if r.OK || len(r.Results) != 2 {
		t.Fatalf("report = %+v", r)
	}
	first := r.Results[0]
	if first.Outcome != tasks.Failed || first.Observed == nil || !first.Observed.Exists || first.Observed.Role != "" {
		t.Errorf("entry 1 = %+v (observed %+v): want failed, the host holding user1 with no role", first, first.Observed)
	}
	if r.Results[1].Outcome != tasks.NotRun {
		t.Errorf("entry 2 = %+v, want not-run", r.Results[1])
	}
	if !strings.Contains(out.String(), "the host now has user1 with no role") {
		t.Errorf("job log does not say what the host holds:\n%s", out.String())
	}
	if strings.Contains(out.String()+errb.String(), canary) {
		t.Fatal("canary password in the job log")
	}
}
