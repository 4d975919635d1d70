package tcpcount

import (
	"net"
	"testing"
)

func TestOpened(t *testing.T) {
	l := Start(t)
	if n := l.Opened(t); n != 0 {
		t.Fatalf("Opened = %d before any connection", n)
	}
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if n := l.Opened(t); n != 3 {
		t.Fatalf("Opened = %d, want 3", n)
	}
	if n := l.Opened(t); n != 3 {
		t.Fatalf("Opened = %d, want 3 (its own connections are not counted)", n)
	}
}
