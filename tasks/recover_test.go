package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/params"
)

// fast is the retry policy of these tests: no real waiting.
var fast = RetryPolicy{Backoff: time.Microsecond}

// injected is what faultyHost does to one write call.
type injected struct {
	applied bool             // the host applies the call, then the fault (its answer is lost)
	err     error            // the fault; nil: none
	before  func(h *memHost) // another writer's change, just before the call
	during  func()           // run inside the call (e.g. a signal arriving)
}

// faultyHost is memHost with faults injected by write call number (every
// attempt counts, from 1), and a Lookup that counts its calls.
type faultyHost struct {
	*memHost
	n        int
	calls    []string // every write attempt, "op id"
	faults   map[int]injected
	fault    func(n int, op string) injected // if set, consulted for every call
	lookups  int
	lookupOK func(n int) bool // nil: every lookup works
}

func (h *faultyHost) do(op, id string, call func() error) error {
	h.n++
	h.calls = append(h.calls, op+" "+id)
	f := h.faults[h.n]
	if h.fault != nil {
		f = h.fault(h.n, op)
	}
	if f.before != nil {
		f.before(h.memHost)
	}
	if f.during != nil {
		f.during()
	}
	if f.err != nil && !f.applied {
		return f.err
	}
	if err := call(); err != nil {
		return err
	}
	return f.err
}

func (h *faultyHost) CreateUser(ctx context.Context, id, d string, pw params.Password) error {
	return h.do("create", id, func() error { return h.memHost.CreateUser(ctx, id, d, pw) })
}

func (h *faultyHost) UpdateUser(ctx context.Context, id, d string, pw params.Password) error {
	return h.do("update", id, func() error { return h.memHost.UpdateUser(ctx, id, d, pw) })
}

func (h *faultyHost) RemoveUser(ctx context.Context, id string) error {
	return h.do("remove", id, func() error { return h.memHost.RemoveUser(ctx, id) })
}

func (h *faultyHost) SetRole(ctx context.Context, id, role string) error {
	return h.do("grant", id, func() error { return h.memHost.SetRole(ctx, id, role) })
}

func (h *faultyHost) RemoveRole(ctx context.Context, id string) error {
	return h.do("revoke", id, func() error { return h.memHost.RemoveRole(ctx, id) })
}

func (h *faultyHost) Lookup(_ context.Context, id string) (Observation, error) {
	h.lookups++
	if h.lookupOK != nil && !h.lookupOK(h.lookups) {
		return Observation{}, errors.New("host unreachable")
	}
	a, ok := h.users[id]
	return Observation{Exists: ok, Role: h.perms[id], Description: a.Description}, nil
}

var (
	errLost    = fmt.Errorf("%w: EOF", errkind.ErrUncertain)
	errExpired = fmt.Errorf("%w: NotAuthenticated", errkind.ErrNotApplied)
)

// seedWrites are the seed's writes without faults.
var seedWrites = []string{"create user1", "grant user1 Admin", "create user2", "grant user2 ReadOnly", "update user1", "grant user1 NoAccess", "revoke user1", "remove user1", "revoke user2", "remove user2"}

func logger(b *strings.Builder) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// A transient fault at any write of the seed is recovered from: the run
// succeeds with the fault-free outcomes and host, and — the point — no
// write is repeated: a lost answer is resolved by reading the host, an
// unapplied call (reset before it was sent, expired session) is made once
// more. One log line says what happened.
func TestRecoverAtEveryWrite(t *testing.T) {
	kinds := []struct {
		name  string
		fault injected
		log   string
	}{
		{"answer lost", injected{applied: true, err: errLost}, "answer lost"},
		{"not sent", injected{err: errLost}, "retrying"},
		{"session expired", injected{err: errExpired}, "retrying"},
	}
	for _, kind := range kinds {
		for k := 1; k <= len(seedWrites); k++ {
			t.Run(fmt.Sprintf("%s at write %d", kind.name, k), func(t *testing.T) {
				h := &faultyHost{memHost: newMemHost(), faults: map[int]injected{k: kind.fault}}
				var logs strings.Builder
				rep, err := Run(context.Background(), h, entries(t, seed), Options{Checker: &lenChecker{}, Retry: fast, Log: logger(&logs)})
				if err != nil {
					t.Fatalf("err = %v\n%s", err, logs.String())
				}
				if want := []Outcome{Created, Created, Updated, Removed, Removed}; !reflect.DeepEqual(outcomes(rep), want) {
					t.Errorf("outcomes = %v, want %v", outcomes(rep), want)
				}
				if !reflect.DeepEqual(h.writes, seedWrites) {
					t.Errorf("writes =\n%v\nwant\n%v", h.writes, seedWrites)
				}
				if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), kind.log) {
					t.Errorf("log (%d lines) =\n%s", n, logs.String())
				}
				failedEntry := (k - 1) / 2
				if kind.fault.applied && !strings.Contains(rep.Results[failedEntry].Note, "answer to") {
					t.Errorf("entry %d note = %q", failedEntry, rep.Results[failedEntry].Note)
				}
				for _, r := range rep.Results {
					if r.Observed != nil || r.Error != "" {
						t.Errorf("entry %d: %+v", r.Index, r)
					}
				}
			})
		}
	}
}

// The password cannot be read back: after a lost UpdateUser answer that
// left the description as it was, the same values are written once more.
func TestLostUpdateAnswerIsWrittenAgain(t *testing.T) {
	h := &faultyHost{memHost: newMemHost(), faults: map[int]injected{1: {applied: true, err: errLost}}}
	h.users["u1"] = Account{ID: "u1", Description: params.DefaultDescription}
	h.perms["u1"] = "Admin"
	rep, err := Run(context.Background(), h, entries(t, `[{id: u1, operation: set, password: S3cr3tP455!, role: Admin}]`), Options{Checker: &lenChecker{}, Retry: fast})
	if err != nil || rep.Results[0].Outcome != Updated {
		t.Fatalf("%v %+v", err, rep.Results)
	}
	if want := []string{"update u1", "update u1"}; !reflect.DeepEqual(h.writes, want) {
		t.Errorf("writes = %v, want %v", h.writes, want)
	}
}

// A fault that persists on a call ends the entry after 3 attempts; the
// entry is failed with what the host holds for its id, the earlier ones
// keep their outcomes, the later ones are not run.
func TestPersistentFaultReportsObserved(t *testing.T) {
	tests := []struct {
		op   string // the call that keeps failing
		err  error
		want Observation // entry 1's id after the failure
		idx  int
	}{
		{"create", errLost, Observation{}, 0},
		{"grant", errLost, Observation{Exists: true, Description: "User One"}, 0},
		{"grant", errExpired, Observation{Exists: true, Description: "User One"}, 0},
		{"update", errExpired, Observation{Exists: true, Role: "Admin", Description: "User One"}, 2},
		{"revoke", errLost, Observation{Exists: true, Role: "NoAccess", Description: params.DefaultDescription}, 3},
		{"remove", errLost, Observation{Exists: true, Description: params.DefaultDescription}, 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.op, tt.err), func(t *testing.T) {
			attempts := 0
			h := &faultyHost{memHost: newMemHost(), fault: func(n int, op string) injected {
				if op == tt.op && (op != "grant" || attempts > 0 || n <= 2) {
					attempts++
					return injected{err: tt.err}
				}
				return injected{}
			}}
			rep, err := Run(context.Background(), h, entries(t, seed), Options{Checker: &lenChecker{}, Retry: fast})
			if !errors.Is(err, errkind.ErrApply) || errkind.ExitCode(err) != errkind.ExitApply {
				t.Fatalf("err = %v", err)
			}
			if attempts != 3 {
				t.Errorf("%d attempts, want 3", attempts)
			}
			for i, r := range rep.Results {
				switch {
				case i < tt.idx && (r.Outcome == Failed || r.Outcome == NotRun):
					t.Errorf("entry %d = %s", i, r.Outcome)
				case i == tt.idx:
					if r.Outcome != Failed || r.Observed == nil || *r.Observed != tt.want {
						t.Errorf("entry %d = %s observed %+v, want %+v", i, r.Outcome, r.Observed, tt.want)
					}
				case i > tt.idx && r.Outcome != NotRun:
					t.Errorf("entry %d = %s", i, r.Outcome)
				}
			}
			if !strings.Contains(err.Error(), tt.want.Words("user1")) || !strings.Contains(err.Error(), "gave up after 3 attempts") {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// Another writer changing the host between the read and a write: the
// engine converges instead of failing.
func TestConvergesWithOtherWriters(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(h *memHost)
		doc        string
		before     func(h *memHost) // just before write 1
		want       Outcome
		wantWrites []string
		wantState  Observation
	}{
		{
			name:   "add meets AlreadyExists: update",
			doc:    `[{id: u1, operation: add, password: S3cr3tP455!, role: Admin, description: Mine}]`,
			before: func(h *memHost) { h.users["u1"] = Account{ID: "u1", Description: "Theirs"} },
			want:   Updated, wantWrites: []string{"update u1", "grant u1 Admin"},
			wantState: Observation{Exists: true, Role: "Admin", Description: "Mine"},
		},
		{
			name:   "set meets UserNotFound: create",
			setup:  func(h *memHost) { h.users["u1"] = Account{ID: "u1", Description: "x"}; h.perms["u1"] = "ReadOnly" },
			doc:    `[{id: u1, operation: set, password: S3cr3tP455!, role: Admin}]`,
			before: func(h *memHost) { delete(h.users, "u1"); delete(h.perms, "u1") },
			want:   Created, wantWrites: []string{"create u1", "grant u1 Admin"},
			wantState: Observation{Exists: true, Role: "Admin", Description: params.DefaultDescription},
		},
		{
			name:   "remove meets UserNotFound: absent",
			setup:  func(h *memHost) { h.users["u1"] = Account{ID: "u1", Description: "x"} },
			doc:    `[{id: u1, operation: remove}]`,
			before: func(h *memHost) { delete(h.users, "u1") },
			want:   Absent,
		},
		{
			name:   "remove meets no permission, then removes the user",
			setup:  func(h *memHost) { h.users["u1"] = Account{ID: "u1", Description: "x"}; h.perms["u1"] = "ReadOnly" },
			doc:    `[{id: u1, operation: remove}]`,
			before: func(h *memHost) { delete(h.perms, "u1") },
			want:   Removed, wantWrites: []string{"remove u1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &faultyHost{memHost: newMemHost(), faults: map[int]injected{1: {before: tt.before}}}
			if tt.setup != nil {
				tt.setup(h.memHost)
			}
			rep, err := Run(context.Background(), h, entries(t, tt.doc), Options{Checker: &lenChecker{}, Retry: fast})
			if err != nil {
				t.Fatal(err)
			}
			if r := rep.Results[0]; r.Outcome != tt.want || !strings.Contains(r.Note, "another writer") {
				t.Errorf("result = %+v, want %s with a note", r, tt.want)
			}
			if !reflect.DeepEqual(h.writes, tt.wantWrites) {
				t.Errorf("writes = %v, want %v", h.writes, tt.wantWrites)
			}
			if got, _ := h.Lookup(context.Background(), "u1"); got != tt.wantState {
				t.Errorf("host has %+v, want %+v", got, tt.wantState)
			}
		})
	}
}

// When the read during recovery fails but the read after the failure shows
// the entry fully applied (only the answer was lost), the entry is done.
func TestFailureWhoseEffectIsFullyAppliedIsDone(t *testing.T) {
	h := &faultyHost{memHost: newMemHost(), faults: map[int]injected{2: {applied: true, err: errLost}}, lookupOK: func(n int) bool { return n > 1 }}
	doc := `[{id: u1, operation: add, password: S3cr3tP455!, role: Admin}, {id: u2, operation: add, password: S3cr3tP455!, role: Admin}]`
	rep, err := Run(context.Background(), h, entries(t, doc), Options{Checker: &lenChecker{}, Retry: fast})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	if r.Outcome != Created || r.Error != "" || !strings.Contains(r.Note, "a fresh read shows the entry applied") {
		t.Errorf("entry 1 = %+v", r)
	}
	if rep.Results[1].Outcome != Created {
		t.Errorf("entry 2 = %+v", rep.Results[1])
	}
}

// A cancelled context (SIGINT/SIGTERM) lets the call in flight finish, then
// stops: the entry in flight is failed with what the host holds (or done if
// it was complete), the rest not run, the error errkind.ErrInterrupted (exit
// 1).
func TestInterrupted(t *testing.T) {
	doc := `[{id: u1, operation: add, password: S3cr3tP455!, role: Admin}, {id: u2, operation: add, password: S3cr3tP455!, role: Admin}]`
	tests := []struct {
		name     string
		at       int // write during which the signal arrives
		want     []Outcome
		observed *Observation
	}{
		{"during create", 1, []Outcome{Failed, NotRun}, &Observation{Exists: true, Description: params.DefaultDescription}},
		{"during the entry's last call", 2, []Outcome{Created, NotRun}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h := &faultyHost{memHost: newMemHost(), faults: map[int]injected{tt.at: {during: cancel}}}
			rep, err := Run(ctx, h, entries(t, doc), Options{Checker: &lenChecker{}, Retry: fast})
			if !errors.Is(err, errkind.ErrInterrupted) || errkind.ExitCode(err) != errkind.ExitApply {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(outcomes(rep), tt.want) {
				t.Errorf("outcomes = %v, want %v", outcomes(rep), tt.want)
			}
			if got := rep.Results[0].Observed; !reflect.DeepEqual(got, tt.observed) {
				t.Errorf("observed = %+v, want %+v", got, tt.observed)
			}
			if len(h.writes) != tt.at {
				t.Errorf("writes = %v: the call in flight must finish, and nothing after it start", h.writes)
			}
		})
	}

	// A call that does not finish within the grace period is abandoned;
	// its entry is read back.
	t.Run("call outlives the grace", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h := &blockingHost{memHost: newMemHost(), cancel: cancel}
		rep, err := Run(ctx, h, entries(t, doc), Options{Checker: &lenChecker{}, Retry: fast, Grace: 50 * time.Millisecond})
		if !errors.Is(err, errkind.ErrInterrupted) {
			t.Fatalf("err = %v", err)
		}
		if r := rep.Results[0]; r.Outcome != Failed || r.Observed == nil || *r.Observed != (Observation{}) || !strings.Contains(r.Error, "answer was lost") {
			t.Errorf("entry 1 = %+v", r)
		}
	})

	t.Run("before the first entry", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h := &faultyHost{memHost: newMemHost()}
		rep, err := Run(ctx, h, entries(t, doc), Options{Checker: &lenChecker{}})
		if !errors.Is(err, errkind.ErrInterrupted) || len(h.calls) != 0 {
			t.Fatalf("err = %v, calls %v", err, h.calls)
		}
		if want := []Outcome{NotRun, NotRun}; !reflect.DeepEqual(outcomes(rep), want) {
			t.Errorf("outcomes = %v", outcomes(rep))
		}
	})
}

// blockingHost's CreateUser signals the run and then blocks until its
// context ends, like a host that does not answer.
type blockingHost struct {
	*memHost
	cancel func()
}

func (h *blockingHost) CreateUser(ctx context.Context, id, d string, pw params.Password) error {
	h.cancel()
	<-ctx.Done()
	return fmt.Errorf("%w: %w", errkind.ErrUncertain, ctx.Err())
}

func TestObservationJSON(t *testing.T) {
	tests := []struct {
		o     Observation
		json  string
		words string
	}{
		{Observation{Unreadable: true}, `null`, "the host could not be read afterwards: what it holds for u1 is unknown"},
		{Observation{}, `{"exists":false}`, "the host now has no user u1"},
		{Observation{Exists: true, Description: "D"}, `{"exists":true,"role":"","description":"D"}`, "the host now has u1 with no role"},
		{Observation{Exists: true, Role: "Admin", Description: "D"}, `{"exists":true,"role":"Admin","description":"D"}`, "the host now has u1 with role Admin"},
		{Observation{Role: "ReadOnly"}, `{"exists":false,"role":"ReadOnly"}`, "the host now has no user u1, but a permission for it with role ReadOnly"},
	}
	for _, tt := range tests {
		b, err := json.Marshal(Result{ID: "u1", Observed: &tt.o})
		if err != nil {
			t.Fatal(err)
		}
		if want := `"observed":` + tt.json; !strings.Contains(string(b), want) {
			t.Errorf("%+v: %s, want %s", tt.o, b, want)
		}
		var back Observation
		if err := json.Unmarshal([]byte(tt.json), &back); err != nil || back != tt.o {
			t.Errorf("%s read back as %+v (%v)", tt.json, back, err)
		}
		if got := tt.o.Words("u1"); got != tt.words {
			t.Errorf("Words = %q, want %q", got, tt.words)
		}
	}
	b, _ := json.Marshal(Result{ID: "u1"})
	if strings.Contains(string(b), "observed") {
		t.Errorf("observed shown on an entry that did not fail: %s", b)
	}
}

func TestRetryPolicy(t *testing.T) {
	var p RetryPolicy
	now := time.Now()
	for failed, want := range map[int]time.Duration{1: DefaultBackoff, 2: 2 * DefaultBackoff} {
		if d, ok := p.Retry(failed, now); !ok || d != want {
			t.Errorf("Retry(%d) = %v %v, want %v", failed, d, ok, want)
		}
	}
	if _, ok := p.Retry(3, now); ok {
		t.Error("a 4th attempt")
	}
	if _, ok := p.Retry(1, now.Add(-DefaultRetryDeadline)); ok {
		t.Error("retry past the deadline")
	}
}
