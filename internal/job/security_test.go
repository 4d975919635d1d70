package job

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/esx"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/testsupport/tcpcount"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

const canary = "Canary#Pw-7719-zz"

// Run refuses a plaintext (or any non-https) server before anything is
// contacted, whatever Insecure says, through every way of dialing. This is
// the path of the DRP Param esxi/manage-users-server too.
func TestPlaintextServerRefused(t *testing.T) {
	l := tcpcount.Start(t)
	for _, server := range []string{"http://" + l.Addr(), "http://" + l.Addr() + "/sdk", "Http://root@" + l.Addr(), "ftp://" + l.Addr()} {
		for _, vihost := range []string{"", "esx01"} {
			for _, insecure := range []bool{false, true} {
				var logs strings.Builder
				rep, err := Run(context.Background(), Config{
					Connection: Connection{Server: server, Username: "root", Password: params.NewPassword(canary), Insecure: insecure, Timeout: 5 * time.Second},
					Options:    Options{Input: []byte(seed), Log: slog.New(slog.NewTextHandler(&logs, nil))},
					ViHost:     vihost,
				})
				if !errors.Is(err, errkind.ErrInvalid) || errkind.ExitCode(err) != errkind.ExitInvalid || errkind.HTTPStatus(err) != 400 {
					t.Fatalf("%s vihost=%q insecure=%v: err = %v", server, vihost, insecure, err)
				}
				if !strings.Contains(rep.Error, "HTTPS") || rep.OK || len(rep.Results) != 3 || rep.Results[0].Outcome != tasks.NotRun {
					t.Errorf("report = %+v", rep)
				}
				if strings.Contains(logs.String(), "connecting") {
					t.Errorf("logged a connection attempt: %s", &logs)
				}
				if strings.Contains(rep.Error+logs.String(), canary) {
					t.Error("password shown")
				}
			}
		}
		if _, err := HostPasswordPolicy(context.Background(), Config{Connection: Connection{Server: server, Password: params.NewPassword(canary), Insecure: true}}); errkind.ExitCode(err) != errkind.ExitInvalid {
			t.Errorf("HostPasswordPolicy(%s): err = %v", server, err)
		}
	}
	if n := l.Opened(t); n != 0 {
		t.Fatalf("%d connections opened", n)
	}
}

// The session's own user (a non-root Admin) cannot be demoted or removed
// unless AllowSelfLockout; nothing is written when it is refused.
func TestSelfLockoutOnSimulator(t *testing.T) {
	const admin = "opadmin"
	doc := "- {id: u1, operation: add, password: 'S3cr3tP455!', role: Admin}\n- {id: " + admin + ", operation: set, password: '" + canary + "', role: ReadOnly}\n"
	for _, allow := range []bool{false, true} {
		sim, err := esxsim.Start(esxsim.Options{Common: esxsim.Common{Username: admin}})
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		pw, _ := sim.URL.User.Password()
		rep, err := Run(context.Background(), Config{
			Connection: Connection{Server: sim.URL.Host, Thumbprint: sim.Thumbprint, Username: admin, Password: params.NewPassword(pw)},
			Options:    Options{Input: []byte(doc), AllowSelfLockout: allow},
		})
		if allow {
			if err != nil || rep.Results[1].Outcome != tasks.Updated {
				t.Fatalf("allowed: err = %v, report = %+v", err, rep)
			}
			continue
		}
		if errkind.ExitCode(err) != errkind.ExitInvalid || sim.Writes() != 0 {
			t.Fatalf("err = %v, %d writes", err, sim.Writes())
		}
		if res := rep.Results[1]; res.Outcome != tasks.Invalid || !strings.Contains(res.Error, "the user this run is logged in as") {
			t.Errorf("result = %+v", res)
		}
		if rep.User != admin || strings.Contains(rep.Error, canary) {
			t.Errorf("report = %+v", rep)
		}
	}
}

// rawHandler writes records as they come, as the DRP action's job log does.
type rawHandler struct{ w *strings.Builder }

func (h rawHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h rawHandler) Handle(_ context.Context, r slog.Record) error {
	h.w.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { h.w.WriteString(" " + a.Key + "=" + a.Value.String()); return true })
	h.w.WriteString("\n")
	return nil
}
func (h rawHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h rawHandler) WithGroup(string) slog.Handler      { return h }

// Log lines carry host text escaped, whatever handler receives them.
func TestLogEscapesHostText(t *testing.T) {
	var logs strings.Builder
	h := rawHandler{&logs}
	_, err := Run(context.Background(), Config{
		Connection: Connection{
			Server:   "esx\u202e01.example",
			Password: params.NewPassword("x"),
			Dial: func(context.Context, esx.Config) (tasks.Host, func() error, error) {
				return nil, nil, errors.New("fault \x1b]0;pwned\x07")
			},
		},
		Options: Options{Input: []byte(seed), Log: slog.New(h)},
	})
	if errkind.ExitCode(err) != errkind.ExitConnect {
		t.Fatalf("err = %v", err)
	}
	if out := logs.String(); strings.ContainsAny(out, "\x1b\x07\u202e") || !strings.Contains(out, `esx\u202e01.example`) {
		t.Errorf("log = %q", out)
	}
}
