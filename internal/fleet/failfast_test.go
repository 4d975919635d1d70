package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

// failFastFleet is n standalone hosts 127.0.0.1:10001… of which those
// whose port reachable says are reached (fake hosts), the others refuse
// the connection; dials counts the dials.
func failFastFleet(n int, failFast bool, reachable func(port int) bool, dials *atomic.Int64) Config {
	var servers []string
	for i := range n {
		servers = append(servers, fmt.Sprintf("127.0.0.1:%d", 10001+i))
	}
	cfg := Config{Servers: servers, Parallel: 8, FailFast: failFast}
	cfg.Username, cfg.Password = "root", params.NewPassword("Login#Pw-1")
	cfg.Input = []byte(list)
	cfg.Dial = func(_ context.Context, ec esx.Config) (tasks.Host, func() error, error) {
		dials.Add(1)
		u, _ := esx.ServerURL(ec.Server)
		var port int
		fmt.Sscan(u.Port(), &port)
		if reachable(port) {
			return newFakeHost(u.Host), func() error { return nil }, nil
		}
		return nil, nil, fmt.Errorf("dial %s: connection refused", u.Host)
	}
	return cfg
}

// --fail-fast shortens the read phase too: after the first host that
// cannot be reached, no other is dialled — of 1,000 unreachable hosts, only
// the Parallel (8) started at once (before: all 1,000 were, 188 s against
// real unreachable addresses). Measured as dials, not time.
func TestFailFastStopsTheReadPhase(t *testing.T) {
	const n = 1000
	for _, failFast := range []bool{false, true} {
		var dials atomic.Int64
		cfg := failFastFleet(n, failFast, func(int) bool { return false }, &dials)
		rep, err := Run(context.Background(), cfg)
		if !errors.Is(err, errkind.ErrConnect) { // exit 3: no host could be reached, nothing changed
			t.Errorf("fail-fast %v: %.200v, want ErrConnect", failFast, err)
		}
		got := int(dials.Load())
		t.Logf("fail-fast %v: %d dials for %d unreachable hosts", failFast, got, n)
		switch {
		case !failFast && got != n:
			t.Errorf("without --fail-fast: %d dials, want %d", got, n)
		case failFast && got > cfg.Parallel:
			t.Errorf("--fail-fast: %d dials, want at most %d (the hosts started before the first one failed)", got, cfg.Parallel)
		}
		if len(rep.Hosts) != n {
			t.Fatalf("%d host reports, want %d", len(rep.Hosts), n)
		}
		if last := rep.Hosts[n-1]; failFast && (last.Status() != "not-run" || !strings.Contains(last.Error, "not read: host 127.0.0.1:") || !strings.Contains(last.Error, "could not be reached (--fail-fast): nothing was changed on any host")) {
			t.Errorf("a host not read: %s %q", last.Status(), last.Error)
		}
	}
}

// With --fail-fast each host not applied to names the host that stopped
// the run, not every unreachable one (before: each of the 500 reachable
// hosts' messages listed the 500 unreachable ones).
func TestFailFastMessagesNameOneHost(t *testing.T) {
	const n = 1000
	var dials atomic.Int64
	cfg := failFastFleet(n, true, func(port int) bool { return port%2 == 1 }, &dials) // 10002, 10004… unreachable
	rep, err := Run(context.Background(), cfg)
	if err == nil || errors.Is(err, errkind.ErrInvalid) {
		t.Fatalf("%v, want some hosts not done", err)
	}
	t.Logf("%d dials for %d hosts, half of them unreachable", dials.Load(), n)
	if dials.Load() >= n {
		t.Errorf("%d dials: the read phase went on after the first unreachable host", dials.Load())
	}
	for _, h := range rep.Hosts {
		if c := strings.Count(h.Error, "127.0.0.1:"); c > 1 {
			t.Fatalf("host %s's message names %d hosts:\n%.300s", h.Host, c, h.Error)
		}
	}
}
