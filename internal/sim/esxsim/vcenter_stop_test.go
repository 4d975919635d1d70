package esxsim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// cancelAt is a trace writer that cancels the build when it reports host
// k ("build: host k of n"), and counts the hosts reported.
type cancelAt struct {
	k      int
	cancel context.CancelFunc
	mu     sync.Mutex
	hosts  int
}

func (c *cancelAt) Write(b []byte) (int, error) {
	if _, rest, ok := strings.Cut(string(b), "build: host "); ok {
		var i, n int
		fmt.Sscanf(rest, "%d of %d", &i, &n)
		c.mu.Lock()
		c.hosts = max(c.hosts, i)
		c.mu.Unlock()
		if i == c.k {
			c.cancel()
		}
	}
	return len(b), nil
}

// StartVCenterContext stops building the inventory as soon as its context
// is done (a signal): cancelled while host 20 of 400 is being set up, no
// further host is (before: the build ignored signals and finished all
// hosts, 17.6 s for 2,000). The event is the build's own trace line, not a
// clock.
func TestStartVCenterStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &cancelAt{k: 20, cancel: cancel}
	vc, err := StartVCenterContext(ctx, VCenterOptions{Common: Common{Trace: c}, Hosts: 400})
	if err == nil {
		vc.Close()
		t.Fatal("the build finished after its context was cancelled")
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped after 20 of 400 hosts") {
		t.Errorf("error %v, want context.Canceled after 20 of 400 hosts", err)
	}
	if c.hosts != 20 {
		t.Errorf("%d hosts set up, want 20", c.hosts)
	}
	// Cancelled before it starts: no host is added.
	vc, err = StartVCenterContext(ctx, VCenterOptions{Hosts: 400})
	if !errors.Is(err, context.Canceled) {
		if vc != nil {
			vc.Close()
		}
		t.Errorf("cancelled before the start: %v", err)
	}
}

// More hosts than a vCenter manages are an OptionError, before anything is
// built (before: 100,000,000 hosts took 15 GB).
func TestStartVCenterBound(t *testing.T) {
	_, err := StartVCenter(VCenterOptions{Hosts: MaxVCenterHosts + 1})
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Option != "Hosts" || !strings.Contains(err.Error(), "a vCenter manages at most 2500") {
		t.Errorf("%v, want an OptionError for Hosts", err)
	}
}
