package fleet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

// fakeHost is an in-memory host whose writes can be held or failed.
type fakeHost struct {
	name   string
	mu     sync.Mutex
	users  map[string]tasks.Account
	perms  map[string]string
	writes []string
	// before, if set, runs before each write (it may block) and may fail
	// it.
	before func(n int) error
}

func newFakeHost(name string) *fakeHost {
	return &fakeHost{name: name, users: map[string]tasks.Account{"root": {ID: "root"}}, perms: map[string]string{"root": "Admin"}}
}

func (h *fakeHost) Read(context.Context) (*tasks.Snapshot, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return &tasks.Snapshot{Host: h.name, User: "root", Users: maps.Clone(h.users), Permissions: maps.Clone(h.perms),
		Roles: map[string]bool{"Admin": true, "ReadOnly": true, "NoAccess": true}}, nil
}

func (h *fakeHost) write(op string, apply func()) error {
	h.mu.Lock()
	n := len(h.writes) + 1
	before := h.before
	h.mu.Unlock()
	if before != nil {
		if err := before(n); err != nil {
			return err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes = append(h.writes, op)
	apply()
	return nil
}

func (h *fakeHost) CreateUser(_ context.Context, id, d string, _ params.Password) error {
	return h.write("create "+id, func() { h.users[id] = tasks.Account{ID: id, Description: d} })
}

func (h *fakeHost) UpdateUser(_ context.Context, id, d string, _ params.Password) error {
	return h.write("update "+id, func() { h.users[id] = tasks.Account{ID: id, Description: d} })
}

func (h *fakeHost) RemoveUser(_ context.Context, id string) error {
	return h.write("remove "+id, func() { delete(h.users, id) })
}

func (h *fakeHost) SetRole(_ context.Context, id, role string) error {
	return h.write("grant "+id, func() { h.perms[id] = role })
}

func (h *fakeHost) RemoveRole(_ context.Context, id string) error {
	return h.write("revoke "+id, func() { delete(h.perms, id) })
}

func (h *fakeHost) Writes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.writes...)
}

// fleetOf is a fleet of fake standalone hosts named a.test, b.test, ...
func fleetOf(names ...string) (Config, map[string]*fakeHost) {
	hosts := map[string]*fakeHost{}
	var servers []string
	for _, n := range names {
		hosts[n] = newFakeHost(n)
		servers = append(servers, n)
	}
	cfg := Config{Servers: servers}
	cfg.Username, cfg.Password = "root", params.NewPassword("Login#Pw-1")
	cfg.Dial = func(_ context.Context, ec esx.Config) (tasks.Host, func() error, error) {
		u, _ := esx.ServerURL(ec.Server)
		h, ok := hosts[u.Host]
		if !ok {
			return nil, nil, fmt.Errorf("dial %s: connection refused", u.Host)
		}
		return h, func() error { return nil }, nil
	}
	return cfg, hosts
}

const list = `[
  {id: u1, operation: add, password: "Abcdef12!x7", role: Admin},
  {id: u2, operation: add, password: "Abcdef12!y7", role: ReadOnly},
  {id: u3, operation: add, password: "Abcdef12!z7", role: NoAccess}
]`

// --fail-fast: a host running when another fails finishes the entry it is
// in (all its calls) and stops before the next; a host not started does
// not start.
func TestFailFastFinishesCurrentEntry(t *testing.T) {
	cfg, hosts := fleetOf("a.test", "b.test", "c.test")
	cfg.Input, cfg.Parallel, cfg.FailFast = []byte(list), 2, true
	a, b, c := hosts["a.test"], hosts["b.test"], hosts["c.test"]
	aDone := make(chan struct{})
	cfg.HostDone = func(r *HostReport) {
		if r.Host == a.name {
			close(aDone)
		}
	}
	bStarted := make(chan struct{})
	a.before = func(int) error {
		<-bStarted // a fails while b is in its first entry
		return errors.New("the host refused (SystemError)")
	}
	b.before = func(n int) error {
		if n == 1 {
			close(bStarted)
			<-aDone // a has failed and been recorded
		}
		return nil
	}
	rep, err := Run(context.Background(), cfg)
	if err == nil || errkind.ExitCode(err) != errkind.ExitApply || rep.OK {
		t.Fatalf("err %v", err)
	}
	if got := b.Writes(); !reflect.DeepEqual(got, []string{"create u1", "grant u1"}) {
		t.Errorf("b wrote %v, want its first entry only", got)
	}
	if len(c.Writes()) != 0 || len(a.Writes()) != 0 {
		t.Errorf("a wrote %v, c wrote %v", a.Writes(), c.Writes())
	}
	want := map[string][]tasks.Outcome{
		a.name: {tasks.Failed, tasks.NotRun, tasks.NotRun},
		b.name: {tasks.Created, tasks.NotRun, tasks.NotRun},
		c.name: {tasks.NotRun, tasks.NotRun, tasks.NotRun},
	}
	for _, h := range rep.Hosts {
		var got []tasks.Outcome
		for _, r := range h.Results {
			got = append(got, r.Outcome)
		}
		if !reflect.DeepEqual(got, want[h.Host]) {
			t.Errorf("%s: %v, want %v", h.Host, got, want[h.Host])
		}
	}
	for _, h := range rep.Hosts[1:] {
		if !strings.Contains(h.Error, "host a.test failed (--fail-fast)") {
			t.Errorf("%s: %q", h.Host, h.Error)
		}
	}
	if s := []string{rep.Hosts[0].Status(), rep.Hosts[1].Status(), rep.Hosts[2].Status()}; !reflect.DeepEqual(s, []string{"failed", "failed", "not-run"}) {
		t.Errorf("statuses %v", s)
	}
}

// Exit codes and the hosts' statuses: all done 0; an unreachable host among
// done ones 1; only unreachable hosts 3; an invalid entry for one host 2
// with nothing written anywhere; a list that does not parse 2 before any
// host is dialled.
func TestVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		servers  []string // "x.test" not dialable
		input    string
		readOnly string // a host without the ReadOnly role
		code     int
		statuses []string
	}{
		{"all done", []string{"a.test", "b.test"}, list, "", 0, []string{"done", "done"}},
		{"one unreachable", []string{"a.test", "x.test"}, list, "", 1, []string{"done", "unreachable"}},
		{"all unreachable", []string{"x.test", "y.test"}, list, "", 3, []string{"unreachable", "unreachable"}},
		{"invalid on one", []string{"a.test", "b.test", "x.test"}, list, "b.test", 2, []string{"not-run", "invalid", "unreachable"}},
		{"list invalid", []string{"a.test"}, `[{id: u1, operation: add, role: Admin}]`, "", 2, nil},
		// Entry 1 has no password: every host is still read and checked
		// for entry 2, and the one unreachable is reported so.
		{"list partly invalid", []string{"a.test", "x.test", "b.test"}, `[{id: u1, operation: add, role: Admin}, {id: u2, operation: add, password: "Abcdef12!y7", role: ReadOnly}]`, "b.test", 2, []string{"invalid", "unreachable", "invalid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var names []string
			for _, s := range tc.servers {
				if !strings.HasPrefix(s, "x.") && !strings.HasPrefix(s, "y.") {
					names = append(names, s)
				}
			}
			cfg, hosts := fleetOf(names...)
			cfg.Servers, cfg.Input = tc.servers, []byte(tc.input)
			dialled := 0
			dial := cfg.Dial
			cfg.Dial = func(ctx context.Context, ec esx.Config) (tasks.Host, func() error, error) {
				dialled++
				h, closeFn, err := dial(ctx, ec)
				if err == nil && h.(*fakeHost).name == tc.readOnly {
					return noReadOnly{h.(*fakeHost)}, closeFn, nil
				}
				return h, closeFn, err
			}
			cfg.Parallel = 1
			rep, err := Run(context.Background(), cfg)
			if code := errkind.ExitCode(err); code != tc.code || rep.OK != (code == 0) {
				t.Fatalf("exit %d (%v), want %d", code, err, tc.code)
			}
			var got []string
			for _, h := range rep.Hosts {
				got = append(got, h.Status())
			}
			if !reflect.DeepEqual(got, tc.statuses) {
				t.Errorf("statuses %v, want %v", got, tc.statuses)
			}
			if tc.statuses == nil && dialled != 0 {
				t.Errorf("dialled %d hosts for an invalid list", dialled)
			}
			if tc.name == "list partly invalid" {
				// The structural problem once; b.test's own problem with
				// entry 2; every host's entry 1 invalid, b.test's entry 2.
				msg := err.Error()
				if strings.Count(msg, `entry 1 (id "u1", add): password is required`) != 1 || !strings.Contains(msg, "\nthe other entries are invalid for 1 of 3 hosts:\nhost b.test: entry 2 (id \"u2\", add): role \"ReadOnly\" is not defined on the host") ||
					!strings.Contains(msg, "1 of 3 hosts could not be read, so the other entries were not checked against them:\nhost x.test: ") {
					t.Errorf("error:\n%s", msg)
				}
				for _, h := range rep.Hosts {
					if h.Results[0].Outcome != tasks.Invalid || (h.Results[1].Outcome == tasks.Invalid) != (h.Host == "b.test") {
						t.Errorf("%s: %+v", h.Host, h.Results)
					}
				}
			}
			if tc.code == 2 {
				for _, h := range hosts {
					if len(h.Writes()) != 0 {
						t.Errorf("%s wrote %v", h.name, h.Writes())
					}
				}
			}
		})
	}
}

// noReadOnly is a host that does not define the ReadOnly role.
type noReadOnly struct{ *fakeHost }

func (h noReadOnly) Read(ctx context.Context) (*tasks.Snapshot, error) {
	s, err := h.fakeHost.Read(ctx)
	if s != nil {
		delete(s.Roles, "ReadOnly")
	}
	return s, err
}
