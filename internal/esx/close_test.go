package esx

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/params"
)

// connGauge forwards TCP connections to upstream and counts those open
// (a client's connection is open until either side closes it).
type connGauge struct {
	ln      net.Listener
	mu      sync.Mutex
	open    int
	changed chan struct{}
}

func startConnGauge(t *testing.T, upstream string) *connGauge {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &connGauge{ln: ln, changed: make(chan struct{}, 1)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			g.add(1)
			go func() {
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, c); done <- struct{}{} }()
				go func() { io.Copy(c, up); done <- struct{}{} }()
				<-done // either side closed: the connection is gone
				c.Close()
				up.Close()
				g.add(-1)
			}()
		}
	}()
	return g
}

func (g *connGauge) add(d int) {
	g.mu.Lock()
	g.open += d
	g.mu.Unlock()
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// waitClosed waits until no connection is open; it fails after a guard far
// below the transport's idle timeout (90 s), which would close it anyway.
func (g *connGauge) waitClosed(t *testing.T, what string) {
	t.Helper()
	guard := time.After(15 * time.Second)
	for {
		g.mu.Lock()
		n := g.open
		g.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-g.changed:
		case <-guard:
			t.Fatalf("%s: %d connection(s) to the host still open", what, n)
		}
	}
}

// TestClosedSessionKeepsNoConnection: a session that is
// closed, or whose Dial failed, keeps no connection to its host (a plugin
// running a rack of hosts would otherwise hold one, and its goroutines,
// per host for the transport's idle timeout).
func TestClosedSessionKeepsNoConnection(t *testing.T) {
	sim, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	g := startConnGauge(t, sim.URL.Host)
	pw, _ := sim.URL.User.Password()
	cfg := Config{Server: g.ln.Addr().String(), Thumbprint: sim.Thumbprint, Username: "root", Password: params.NewPassword(pw)}
	s, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewHost(s); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	g.waitClosed(t, "after Close")
	cfg.Password = params.NewPassword("Wr0ng#Passw0rd")
	if _, err := Dial(context.Background(), cfg); err == nil {
		t.Fatal("a wrong password logged in")
	}
	g.waitClosed(t, "after a failed Dial")
}
