package tasks

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/passwdqc"
	"github.com/esxi-users/esxi-users/params"
)

const canary = "Canary#Pw-7719-zz"

// memHost is an in-memory Host that records every write.
type memHost struct {
	users   map[string]Account
	perms   map[string]string
	roles   map[string]bool
	policy  string
	writes  []string
	failAt  int   // fail the failAt-th write (1-based); 0 never
	failErr error // what it fails with
	readErr error
	user    string // the session's user ("root" when empty)
	viaVC   bool   // reached through vCenter
}

func newMemHost() *memHost {
	return &memHost{
		users:  map[string]Account{"root": {ID: "root", Description: "Administrator"}, "dcui": {ID: "dcui", Description: "DCUI User"}},
		perms:  map[string]string{"root": "Admin", "dcui": "Admin"},
		roles:  map[string]bool{"Admin": true, "ReadOnly": true, "NoAccess": true, "View": true},
		policy: passwdqc.ESXiDefault,
	}
}

func (h *memHost) Read(context.Context) (*Snapshot, error) {
	if h.readErr != nil {
		return nil, h.readErr
	}
	user := h.user
	if user == "" {
		user = "root"
	}
	return &Snapshot{Host: "mem", User: user, ViaVCenter: h.viaVC, Users: maps.Clone(h.users), Permissions: maps.Clone(h.perms), Roles: maps.Clone(h.roles), PasswordPolicy: h.policy}, nil
}

func (h *memHost) write(op string) error {
	h.writes = append(h.writes, op)
	if h.failAt == len(h.writes) {
		return h.failErr
	}
	return nil
}

func (h *memHost) CreateUser(_ context.Context, id, d string, _ params.Password) error {
	if _, ok := h.users[id]; ok {
		return fmt.Errorf("create %s: %w", id, errkind.ErrUserExists)
	}
	if err := h.write("create " + id); err != nil {
		return err
	}
	h.users[id] = Account{ID: id, Description: d}
	return nil
}

func (h *memHost) UpdateUser(_ context.Context, id, d string, _ params.Password) error {
	if _, ok := h.users[id]; !ok {
		return fmt.Errorf("update %s: %w", id, errkind.ErrNoSuchUser)
	}
	if err := h.write("update " + id); err != nil {
		return err
	}
	h.users[id] = Account{ID: id, Description: d}
	return nil
}

func (h *memHost) RemoveUser(_ context.Context, id string) error {
	if _, ok := h.users[id]; !ok {
		return fmt.Errorf("remove %s: %w", id, errkind.ErrNoSuchUser)
	}
	if err := h.write("remove " + id); err != nil {
		return err
	}
	delete(h.users, id)
	return nil
}

func (h *memHost) SetRole(_ context.Context, id, role string) error {
	if !h.roles[role] {
		return errors.New("no such role")
	}
	if err := h.write(fmt.Sprintf("grant %s %s", id, role)); err != nil {
		return err
	}
	h.perms[id] = role
	return nil
}

func (h *memHost) RemoveRole(_ context.Context, id string) error {
	if _, ok := h.perms[id]; !ok {
		return fmt.Errorf("revoke %s: %w", id, errkind.ErrNoSuchPermission)
	}
	if err := h.write("revoke " + id); err != nil {
		return err
	}
	delete(h.perms, id)
	return nil
}

// lenChecker accepts passwords of at least 7 bytes (a stand-in for the
// policy; the real one is tested in internal/passwdqc and internal/job).
type lenChecker struct{ calls []string }

func (c *lenChecker) CheckPassword(policy, id, desc string, pw params.Password) (string, error) {
	c.calls = append(c.calls, policy+"|"+id+"|"+desc)
	if policy == "bad" {
		return "", errors.New("unparsable")
	}
	if pw.Len() < 7 {
		return "too short", nil
	}
	return "", nil
}

func entries(t *testing.T, doc string) []params.Entry {
	t.Helper()
	es, err := params.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func outcomes(r *Report) []Outcome {
	var out []Outcome
	for _, res := range r.Results {
		out = append(out, res.Outcome)
	}
	return out
}

const seed = `
- {id: user1, operation: add, description: User One, password: S3cr3tP455!, role: Admin}
- {id: user2, operation: set, password: S3cr3tP455!, role: ReadOnly}
- {id: user1, operation: set, password: S3cr3tP455!, role: NoAccess}
- {id: user1, operation: remove}
- {id: user2, operation: remove}
`

func TestRunSeed(t *testing.T) {
	h := newMemHost()
	var progress []string
	rep, err := Run(context.Background(), h, entries(t, seed), Options{Checker: &lenChecker{}, Progress: func(r Result) {
		progress = append(progress, fmt.Sprintf("%d:%s", r.Index, r.Outcome))
	}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Outcome{Created, Created, Updated, Removed, Removed}; !reflect.DeepEqual(outcomes(rep), want) {
		t.Errorf("outcomes = %v, want %v", outcomes(rep), want)
	}
	wantWrites := []string{"create user1", "grant user1 Admin", "create user2", "grant user2 ReadOnly", "update user1", "grant user1 NoAccess", "revoke user1", "remove user1", "revoke user2", "remove user2"}
	if !reflect.DeepEqual(h.writes, wantWrites) {
		t.Errorf("writes =\n%v\nwant\n%v", h.writes, wantWrites)
	}
	if !reflect.DeepEqual(progress, []string{"0:created", "1:created", "2:updated", "3:removed", "4:removed"}) {
		t.Errorf("progress = %v", progress)
	}
	if !rep.OK || rep.Host != "mem" || rep.User != "root" {
		t.Errorf("report = %+v", rep)
	}
	if _, ok := h.users["user1"]; ok {
		t.Error("user1 still exists")
	}
}

func TestRunOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(h *memHost)
		doc        string
		ignore     []string
		want       []Outcome
		wantWrites []string
		check      func(t *testing.T, h *memHost)
	}{
		{
			name:  "add of an existing user updates it",
			setup: func(h *memHost) { h.users["u1"] = Account{ID: "u1", Description: "old"}; h.perms["u1"] = "ReadOnly" },
			doc:   `[{id: u1, operation: add, password: S3cr3tP455!, role: Admin}]`,
			want:  []Outcome{Updated}, wantWrites: []string{"update u1", "grant u1 Admin"},
			check: func(t *testing.T, h *memHost) {
				if h.users["u1"].Description != params.DefaultDescription {
					t.Errorf("description = %q, want the default", h.users["u1"].Description)
				}
			},
		},
		{
			name: "set of a missing user creates it",
			doc:  `[{id: u1, operation: set, password: S3cr3tP455!, role: ReadOnly, description: Backup}]`,
			want: []Outcome{Created}, wantWrites: []string{"create u1", "grant u1 ReadOnly"},
			check: func(t *testing.T, h *memHost) {
				if h.users["u1"].Description != "Backup" {
					t.Errorf("description = %q", h.users["u1"].Description)
				}
			},
		},
		{
			name:  "a role already granted is not written again",
			setup: func(h *memHost) { h.users["u1"] = Account{ID: "u1", Description: "x"}; h.perms["u1"] = "ReadOnly" },
			doc:   `[{id: u1, operation: set, password: S3cr3tP455!, role: ReadOnly}]`,
			want:  []Outcome{Updated}, wantWrites: []string{"update u1"},
		},
		{
			name: "remove of a missing user is absent",
			doc:  `[{id: ghost, operation: remove}]`,
			want: []Outcome{Absent},
		},
		{
			name:  "remove of a user with a leftover permission only removes the permission",
			setup: func(h *memHost) { h.perms["u1"] = "ReadOnly" },
			doc:   `[{id: u1, operation: remove}]`,
			want:  []Outcome{Removed}, wantWrites: []string{"revoke u1"},
		},
		{
			name:  "remove of a user without a permission removes the user",
			setup: func(h *memHost) { h.users["u1"] = Account{ID: "u1", Description: "x"} },
			doc:   `[{id: u1, operation: remove}]`,
			want:  []Outcome{Removed}, wantWrites: []string{"remove u1"},
		},
		{
			name:   "root, dcui and listed ids are ignored, even with invalid passwords",
			doc:    `[{id: root, operation: set, password: x, role: ReadOnly}, {id: dcui, operation: remove}, {id: svc, operation: remove}, {id: u1, operation: remove}]`,
			ignore: []string{"svc"},
			want:   []Outcome{Ignored, Ignored, Ignored, Absent},
		},
		{
			name: "an entry repeating what this run wrote is unchanged",
			doc:  `[{id: u1, operation: add, password: S3cr3tP455!, role: Admin}, {id: u1, operation: set, password: S3cr3tP455!, role: Admin}, {id: u1, operation: set, password: 0ther!Pass, role: Admin}]`,
			want: []Outcome{Created, Unchanged, Updated}, wantWrites: []string{"create u1", "grant u1 Admin", "update u1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newMemHost()
			if tt.setup != nil {
				tt.setup(h)
			}
			ig, _ := params.NewIgnoreList(tt.ignore)
			rep, err := Run(context.Background(), h, entries(t, tt.doc), Options{Checker: &lenChecker{}, Ignore: ig})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(outcomes(rep), tt.want) {
				t.Errorf("outcomes = %v, want %v", outcomes(rep), tt.want)
			}
			if !reflect.DeepEqual(h.writes, tt.wantWrites) {
				t.Errorf("writes = %v, want %v", h.writes, tt.wantWrites)
			}
			if tt.check != nil {
				tt.check(t, h)
			}
		})
	}
}

// Every invalid entry is reported, and nothing is written.
func TestRunInvalidChangesNothing(t *testing.T) {
	h := newMemHost()
	delete(h.roles, "NoAccess")
	doc := `[{id: u1, operation: add, password: S3cr3tP455!, role: Admin},
	{id: u2, operation: add, password: short, role: Admin},
	{id: u3, operation: set, password: S3cr3tP455!, role: NoAccess},
	{id: root, operation: set, password: x, role: Admin}]`
	chk := &lenChecker{}
	rep, err := Run(context.Background(), h, entries(t, doc), Options{Checker: chk})
	if !errors.Is(err, errkind.ErrInvalid) || errkind.ExitCode(err) != errkind.ExitInvalid || errkind.HTTPStatus(err) != 400 {
		t.Fatalf("err = %v", err)
	}
	if len(h.writes) != 0 {
		t.Errorf("writes = %v", h.writes)
	}
	if want := []Outcome{NotRun, Invalid, Invalid, NotRun}; !reflect.DeepEqual(outcomes(rep), want) {
		t.Errorf("outcomes = %v, want %v", outcomes(rep), want)
	}
	if got := rep.Results[1].Error; got != "password does not meet the host's policy: too short" {
		t.Errorf("entry 2 error = %q", got)
	}
	if got := rep.Results[2].Error; got != `role "NoAccess" is not defined on the host` {
		t.Errorf("entry 3 error = %q", got)
	}
	if !strings.Contains(err.Error(), `entry 2 (id "u2", add): password does not meet`) {
		t.Errorf("error = %v", err)
	}
	// The checker saw the host's policy, the id and the effective description.
	if chk.calls[0] != passwdqc.ESXiDefault+"|u1|ESXi User" {
		t.Errorf("checker calls = %v", chk.calls)
	}
}

func TestRunPolicyOverrideAndSkip(t *testing.T) {
	h := newMemHost()
	h.policy = ""
	chk := &lenChecker{}
	doc := `[{id: u1, operation: add, password: short, role: Admin}]`
	if _, err := Run(context.Background(), h, entries(t, doc), Options{Checker: chk, PasswordPolicy: "min=1,1,1,1,1"}); !errors.Is(err, errkind.ErrInvalid) {
		t.Fatal(err)
	}
	if !strings.HasPrefix(chk.calls[0], "min=1,1,1,1,1|") {
		t.Errorf("override not used: %v", chk.calls)
	}
	if _, err := Run(context.Background(), h, entries(t, doc), Options{Checker: chk, PasswordPolicy: "bad"}); !errors.Is(err, errkind.ErrInvalid) {
		t.Errorf("unparsable policy: %v", err)
	}
	// Without a checker the host decides.
	rep, err := Run(context.Background(), h, entries(t, doc), Options{})
	if err != nil || rep.Results[0].Outcome != Created {
		t.Errorf("skip check: %v %v", rep.Results, err)
	}
}

// Stop at the first failure, at every write position: earlier entries are
// applied, the failing one is failed, the rest are not run.
func TestRunStopsAtFirstFailure(t *testing.T) {
	// Writes per entry of the seed: 2, 2, 2, 2, 2.
	for k := 1; k <= 10; k++ {
		t.Run(fmt.Sprint("write ", k), func(t *testing.T) {
			h := newMemHost()
			h.failAt, h.failErr = k, fmt.Errorf("host said no (echoing %s)", canary)
			doc := strings.ReplaceAll(seed, "S3cr3tP455!", canary)
			rep, err := Run(context.Background(), h, entries(t, doc), Options{Checker: &lenChecker{}})
			if !errors.Is(err, errkind.ErrApply) || errkind.ExitCode(err) != errkind.ExitApply {
				t.Fatalf("err = %v", err)
			}
			failed := (k - 1) / 2
			for i, res := range rep.Results {
				switch {
				case i < failed && (res.Outcome == NotRun || res.Outcome == Failed):
					t.Errorf("entry %d = %s, want applied", i, res.Outcome)
				case i == failed && res.Outcome != Failed:
					t.Errorf("entry %d = %s, want failed", i, res.Outcome)
				case i > failed && res.Outcome != NotRun:
					t.Errorf("entry %d = %s, want not-run", i, res.Outcome)
				}
			}
			if len(h.writes) != k {
				t.Errorf("%d writes, want %d", len(h.writes), k)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(rep.Error, canary) || strings.Contains(rep.Results[failed].Error, canary) {
				t.Errorf("password leaked: %v / %+v", err, rep)
			}
			if !strings.Contains(rep.Results[failed].Error, "host said no") {
				t.Errorf("failed entry error = %q", rep.Results[failed].Error)
			}
		})
	}
}

func TestRunReadFailure(t *testing.T) {
	h := newMemHost()
	h.readErr = errors.New("connection refused")
	rep, err := Run(context.Background(), h, entries(t, seed), Options{})
	if !errors.Is(err, errkind.ErrConnect) || errkind.ExitCode(err) != errkind.ExitConnect || errkind.HTTPStatus(err) != 502 {
		t.Fatalf("err = %v", err)
	}
	for _, o := range outcomes(rep) {
		if o != NotRun {
			t.Errorf("outcome %s, want not-run", o)
		}
	}
}

func TestPlanWritesNothing(t *testing.T) {
	h := newMemHost()
	rep, err := Run(context.Background(), h, entries(t, seed), Options{Checker: &lenChecker{}, Plan: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.writes) != 0 {
		t.Errorf("plan wrote %v", h.writes)
	}
	if want := []Outcome{Created, Created, Updated, Removed, Removed}; !reflect.DeepEqual(outcomes(rep), want) || !rep.Plan {
		t.Errorf("plan = %v %v", outcomes(rep), rep.Plan)
	}
}
