package krbaccept_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
	"github.com/esxi-users/esxi-users/internal/testsupport/krbtest"
)

// mitInitiator is MIT GSSAPI (python3-gssapi) as a running initiator.
type mitInitiator struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *strings.Builder
}

func startMIT(t *testing.T, e *krbtest.Fixture, mech string, mutual bool) *mitInitiator {
	t.Helper()
	m := "nomutual"
	if mutual {
		m = "mutual"
	}
	cmd := exec.Command(krbtest.Python, "testdata/gss_initiator.py", spn+"@"+e.Name, mech, m)
	cmd.Env = append(e.Env(), "KRB5CCNAME=FILE:"+e.CCache)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	se := new(strings.Builder)
	cmd.Stderr = se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return &mitInitiator{cmd: cmd, in: stdin, out: bufio.NewReader(stdout), stderr: se}
}

// read returns the next token (nil for none) and whether MIT says it is complete.
func (m *mitInitiator) read(t *testing.T) ([]byte, bool) {
	t.Helper()
	line, err := m.out.ReadString('\n')
	if err != nil {
		_ = m.cmd.Wait()
		t.Fatalf("MIT initiator: %v; stderr: %s", err, m.stderr.String())
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "TOKEN" {
		t.Fatalf("MIT initiator: unexpected line %q", line)
	}
	var tok []byte
	if f[1] != "-" {
		tok, err = base64.StdEncoding.DecodeString(f[1])
		if err != nil {
			t.Fatal(err)
		}
	}
	return tok, f[2] == "COMPLETE"
}

func (m *mitInitiator) send(t *testing.T, tok []byte) {
	t.Helper()
	if _, err := fmt.Fprintln(m.in, base64.StdEncoding.EncodeToString(tok)); err != nil {
		t.Fatal(err)
	}
}

// TestInteropMIT: MIT's GSSAPI initiator (python3-gssapi) against this
// acceptor. Every output token of the acceptor goes to MIT, whose context
// must end complete: it verified the AP-REP and, in the mechListMIC
// exchange, our mechListMIC, and answered with its own.
func TestInteropMIT(t *testing.T) {
	krbtest.RequireGSSAPI(t)
	e := krbtest.NewFixture(t, spn, "host/other.test")
	cases := []struct {
		name     string
		mech     string
		mutual   bool
		mic      bool
		wantLegs int
	}{
		{"spnego/no-mutual", "spnego", false, false, 1},
		{"spnego/mutual", "spnego", true, false, 1},
		{"spnego/mutual/mechlistmic", "spnego", true, true, 2},
		{"krb5/no-mutual", "krb5", false, false, 1},
		{"krb5/mutual", "krb5", true, false, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := e.Acceptor(t, krbaccept.Options{MechListMIC: tc.mic})
			m := startMIT(t, e, tc.mech, tc.mutual)
			tok, complete := m.read(t)
			legs := 0
			for {
				legs++
				if legs > 4 {
					t.Fatal("too many legs")
				}
				out, principal, done, err := a.Accept("mit", tok)
				if err != nil {
					t.Fatalf("leg %d: Accept: %v", legs, err)
				}
				if len(out) > 0 {
					if complete {
						t.Fatalf("leg %d: acceptor sent a token to a complete MIT initiator", legs)
					}
					m.send(t, out)
					tok, complete = m.read(t)
				}
				if done {
					if principal != "alice@ESXI.TEST" {
						t.Fatalf("principal %q", principal)
					}
					if len(out) > 0 && len(tok) != 0 {
						t.Fatal("MIT answered the acceptor's final token")
					}
					break
				}
				if len(tok) == 0 {
					t.Fatalf("leg %d: MIT sent no token for our challenge (complete=%v)", legs, complete)
				}
			}
			if legs != tc.wantLegs || !complete {
				t.Fatalf("legs = %d, MIT complete = %v; want %d, true", legs, complete, tc.wantLegs)
			}
		})
	}
}
