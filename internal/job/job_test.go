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
	"github.com/esxi-users/esxi-users/internal/passwdqc"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

const seed = `
- {id: user1, operation: add, description: User One, password: S3cr3tP455!, role: Admin}
- {id: user2, operation: set, password: S3cr3tP455!, role: ReadOnly}
- {id: user1, operation: remove}
`

func TestRunOnSimulator(t *testing.T) {
	var progress []string
	rep, err := Run(context.Background(), Config{Simulator: esxsim.StartForRun, Options: Options{Input: []byte(seed)}, Progress: func(r tasks.Result) {
		progress = append(progress, r.ID+":"+string(r.Outcome))
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(progress, " "); got != "user1:created user2:created user1:removed" {
		t.Errorf("progress = %s", got)
	}
	if !rep.OK || rep.User != "root" || !strings.HasPrefix(rep.Host, "127.0.0.1:") {
		t.Errorf("report = %+v", rep)
	}
}

// Invalid input is reported per entry and no connection is attempted.
func TestInvalidInputNeverDials(t *testing.T) {
	dialed := false
	dial := func(context.Context, esx.Config) (tasks.Host, func() error, error) {
		dialed = true
		return nil, nil, errors.New("must not dial")
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad role", Config{Options: Options{Input: []byte(`[{id: u1, operation: add, password: x, role: Owner}]`)}}, `role "Owner"`},
		{"syntax", Config{Options: Options{Input: []byte(`[{`)}}, "syntax error"},
		{"bad override", Config{Options: Options{Input: []byte(seed), PasswordPolicy: "min=bogus"}}, "password policy override"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Dial = dial
			rep, err := Run(context.Background(), tt.cfg)
			if !errors.Is(err, errkind.ErrInvalid) || errkind.ExitCode(err) != errkind.ExitInvalid {
				t.Fatalf("err = %v", err)
			}
			if dialed {
				t.Error("dialed the host for invalid input")
			}
			if rep == nil || rep.OK || !strings.Contains(rep.Error, tt.want) {
				t.Errorf("report = %+v", rep)
			}
		})
	}
}

func TestConnectFailureIsExit3(t *testing.T) {
	_, err := Run(context.Background(), Config{
		Connection: Connection{Server: "esx01.example.com", Dial: func(context.Context, esx.Config) (tasks.Host, func() error, error) {
			return nil, nil, errors.New("connection refused")
		}},
		Options: Options{Input: []byte(seed)},
	})
	if errkind.ExitCode(err) != errkind.ExitConnect {
		t.Fatalf("err = %v", err)
	}
}

func TestHostPasswordPolicy(t *testing.T) {
	p, err := HostPasswordPolicy(context.Background(), Config{Simulator: esxsim.StartForRun})
	if err != nil || p != passwdqc.ESXiDefault {
		t.Fatalf("policy = %q, %v", p, err)
	}
}

// A password written into the server URL never reaches the log or report,
// whether the URL parses (the host is then dialed: exit 3) or not (a "#" in
// the password: invalid input, exit 2).
func TestServerUserinfoNotShown(t *testing.T) {
	for canary, want := range map[string]int{"Canary#Pw-7719-zz": errkind.ExitInvalid, "CanaryPw7719zz": errkind.ExitConnect} {
		var logs strings.Builder
		rep, err := Run(context.Background(), Config{
			Connection: Connection{
				Server: "https://root:" + canary + "@127.0.0.1:1/sdk", Password: params.NewPassword("x"), Insecure: true,
				Timeout: 2 * time.Second,
			},
			Options: Options{Input: []byte(seed), Log: slog.New(slog.NewTextHandler(&logs, nil))},
		})
		if errkind.ExitCode(err) != want {
			t.Fatalf("%s: err = %v, want exit %d", canary, err, want)
		}
		if all := logs.String() + rep.Host + rep.Error + err.Error(); strings.Contains(all, canary) {
			t.Fatalf("password shown: %s", all)
		}
	}
}
