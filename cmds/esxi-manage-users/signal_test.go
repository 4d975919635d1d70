package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
)

// SIGINT/SIGTERM (a DRP job being stopped) while a write is in flight: the
// call is given time to finish, the entry is read back, the report says
// what the host holds, the session is logged out, exit 1.
func TestSignalDuringWrite(t *testing.T) {
	for _, tt := range []struct {
		sig    os.Signal
		output string
	}{
		{syscall.SIGTERM, "json"},
		{os.Interrupt, "text"},
	} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			sim, err := esxsim.Start(esxsim.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			arrived, release := make(chan struct{}), make(chan struct{})
			held := false
			// The host holds its answer to the first CreateUser until the
			// test has seen the signal handled: the call is in flight when
			// the run stops.
			sim.OnRequest(func(_ int, method string) {
				if method == "CreateUser" && !held {
					held = true
					close(arrived)
					select {
					case <-release:
					case <-time.After(time.Minute): // never block a broken run forever
					}
				}
			})
			pw, _ := sim.URL.User.Password()
			cmd := exec.Command(binary, "apply", "--output", tt.output, "--server", sim.URL.Host, "--thumbprint", sim.Thumbprint, "--verbose")
			cmd.Stdin = strings.NewReader(seedFirst + "- {id: user2, operation: set, password: 'S3cr3tP455!', role: ReadOnly}\n")
			cmd.Env = append(os.Environ(), "ESXI_PASSWORD="+pw, "GOVC_URL=")
			var out bytes.Buffer
			errb := newWatch("stopping: no new call is started")
			cmd.Stdout, cmd.Stderr = &out, errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-arrived:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatal("CreateUser never arrived")
			}
			if err := cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-errb.seen:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("the signal was not handled; stderr:\n%s", errb)
			}
			close(release)
			err = cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s\n%s", code, &out, errb)
			}
			if tt.output == "json" {
				var rep struct {
					OK      bool
					Error   string
					Results []struct {
						Outcome  string
						Error    string
						Observed map[string]any
					}
				}
				if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
					t.Fatalf("%v\n%s", err, &out)
				}
				r := rep.Results[0]
				want := map[string]any{"exists": true, "role": "", "description": "User One"}
				if rep.OK || r.Outcome != "failed" || !strings.Contains(r.Error, "interrupted") || len(r.Observed) != 3 ||
					r.Observed["exists"] != true || r.Observed["role"] != "" || r.Observed["description"] != "User One" {
					t.Errorf("entry 1 = %+v, want failed, interrupted, observed %v\n%s", r, want, &out)
				}
				if rep.Results[1].Outcome != "not-run" {
					t.Errorf("entry 2 = %+v", rep.Results[1])
				}
			} else if !strings.Contains(out.String(), "the host now has user1 with no role") || !strings.Contains(out.String(), "not-run") {
				t.Errorf("text output:\n%s", &out)
			}
			if sim.LogoutRequests() != 1 || !strings.Contains(errb.String(), "logged out") {
				t.Errorf("%d Logout requests; stderr:\n%s", sim.LogoutRequests(), errb)
			}
		})
	}
}

// watch is a writer that keeps what it is given and closes seen once it
// holds want.
type watch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
}

func newWatch(want string) *watch { return &watch{want: want, seen: make(chan struct{})} }

func (w *watch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	select {
	case <-w.seen:
	default:
		if strings.Contains(w.buf.String(), w.want) {
			close(w.seen)
		}
	}
	return n, err
}

func (w *watch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// simulate --expire-session-at K: the host ends the session at request K;
// apply logs in again and finishes (exit 0), saying so with --verbose.
func TestSimulateExpireSession(t *testing.T) {
	u, tp := simulate(t, "--expire-session-at", "6")
	env := []string{"GOVC_URL=" + u.String(), "GOVC_THUMBPRINT=" + tp}
	out, errb, code := run(t, seedFirst, env, "apply", "--verbose")
	if code != 0 || !strings.Contains(errb, "NotAuthenticated") || !strings.Contains(errb, "logged in again") {
		t.Fatalf("exit %d\n%s%s", code, out, errb)
	}
}
