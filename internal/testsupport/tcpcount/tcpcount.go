// Package tcpcount is a test helper: a TCP listener on 127.0.0.1 that
// counts the connections made to it, to prove that code under test opened
// none (for instance, that an http:// server is refused before dialing).
package tcpcount

import (
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// Listener accepts and closes connections, remembering each one.
type Listener struct {
	ln       net.Listener
	mu       sync.Mutex
	accepted []string        // remote addresses, in accept order
	own      map[string]bool // Opened's own connections
	changed  chan struct{}
}

// Start listens on 127.0.0.1 and stops with the test.
func Start(t testing.TB) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &Listener{ln: ln, own: map[string]bool{}, changed: make(chan struct{}, 1)}
	go l.serve()
	t.Cleanup(func() { ln.Close() })
	return l
}

// Addr is the listener's host:port.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

func (l *Listener) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		l.accepted = append(l.accepted, c.RemoteAddr().String())
		l.mu.Unlock()
		c.Close()
		select {
		case l.changed <- struct{}{}:
		default:
		}
	}
}

// Opened returns how many connections others (not Opened) made to the
// listener so far.
// It connects once itself and waits until that connection is accepted:
// connections are accepted in the order they were established, so every
// connection made before Opened was called has been counted by then.
func (l *Listener) Opened(t testing.TB) int {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().String()
	deadline := time.After(30 * time.Second) // only so that a broken listener cannot hang the test
	for {
		l.mu.Lock()
		i := slices.Index(l.accepted, me)
		n := 0
		if i >= 0 {
			l.own[me] = true
			for _, a := range l.accepted[:i] {
				if !l.own[a] {
					n++
				}
			}
		}
		l.mu.Unlock()
		if i >= 0 {
			return n
		}
		select {
		case <-l.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatal("tcpcount: the listener did not accept its own connection")
		}
	}
}
