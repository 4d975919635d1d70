package krbaccept_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/krbaccept"
)

const python = "/usr/bin/python3" // Debian's python3, which has python3-gssapi

func requireGSSAPI(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import gssapi").CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("python3-gssapi not available (%v: %s); apt-get install python3-gssapi", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// mitInitiator is MIT GSSAPI (python3-gssapi) as a running initiator.
type mitInitiator struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *strings.Builder
}

func startMIT(t *testing.T, e *env, mech string, mutual bool) *mitInitiator {
	t.Helper()
	m := "nomutual"
	if mutual {
		m = "mutual"
	}
	cmd := exec.Command(python, "testdata/gss_initiator.py", spn+"@"+e.realm.Name, mech, m)
	cmd.Env = append(e.realm.Env(), "KRB5CCNAME=FILE:"+e.ccache)
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

func TestInteropMIT(t *testing.T) {
	requireGSSAPI(t)
	e := setup(t)
	cases := []struct {
		name      string
		mech      string
		mutual    bool
		secondLeg bool
		wantLegs  int
		// mitComplete: MIT's initiator must end complete (it verified our
		// AP-REP and, for SPNEGO, our mechListMIC).
		mitComplete bool
	}{
		{"spnego/one-leg", "spnego", false, false, 1, false},
		{"spnego/mutual", "spnego", true, false, 2, true},
		{"spnego/require-second-leg", "spnego", true, true, 2, true},
		{"krb5/one-leg", "krb5", false, false, 1, true},
		{"krb5/mutual-final-ap-rep", "krb5", true, false, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := e.acceptor(t, krbaccept.Options{RequireSecondLeg: tc.secondLeg})
			m := startMIT(t, e, tc.mech, tc.mutual)
			tok, complete := m.read(t)
			legs := 0
			for {
				legs++
				if legs > 4 {
					t.Fatal("too many legs")
				}
				ch, principal, done, err := a.Accept("mit", tok)
				if err != nil {
					t.Fatalf("leg %d: Accept: %v", legs, err)
				}
				if done {
					if principal != "alice@ESXI.TEST" {
						t.Fatalf("principal %q", principal)
					}
					if len(ch) > 0 && !complete {
						// A final token (raw Kerberos AP-REP): MIT must accept it.
						m.send(t, ch)
						var extra []byte
						extra, complete = m.read(t)
						if len(extra) != 0 {
							t.Fatal("MIT sent a token after the final AP-REP")
						}
					}
					break
				}
				if complete {
					t.Fatalf("leg %d: acceptor challenged a complete MIT initiator", legs)
				}
				m.send(t, ch)
				tok, complete = m.read(t)
				if len(tok) == 0 {
					t.Fatalf("leg %d: MIT sent no token for our challenge (complete=%v)", legs, complete)
				}
			}
			if legs != tc.wantLegs {
				t.Fatalf("legs = %d, want %d", legs, tc.wantLegs)
			}
			if complete != tc.mitComplete {
				t.Fatalf("MIT complete = %v, want %v", complete, tc.mitComplete)
			}
		})
	}
}
