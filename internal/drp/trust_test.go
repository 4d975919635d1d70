package drp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalrebar/provision/v4/models"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/drp"
	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/pack"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
)

// serverCanary is a password put where it must never be: in the server Param.
const serverCanary = "Srv#Canary-5521-qq"

// TestServerParamRefusesCredentials: esxi/manage-users-server
// is not Secure, so user information in it is refused (exit 2, naming where
// the password goes) and its value is printed nowhere - not in the job log,
// not in the report - and no host is contacted; plain http is refused too.
func TestServerParamRefusesCredentials(t *testing.T) {
	for _, tc := range []struct {
		name, server, want string
	}{
		{"url with password", "https://root:" + serverCanary + "@HOST/sdk", content.ParamPassword},
		{"bare user:password@host", "root:" + serverCanary + "@HOST", content.ParamPassword},
		{"password with @ and /", "https://root:a@b/" + serverCanary + "@HOST", content.ParamPassword},
		{"user only", "https://" + serverCanary + "@HOST", content.ParamUsername},
		{"plain http", "http://HOST/sdk?" + serverCanary, "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			server := strings.ReplaceAll(tc.server, "HOST", w.sim.URL.Host)
			must(t, w.fake.SetParam(machineUUID, content.ParamServer, server))
			must(t, w.fake.SetParam(machineUUID, content.ParamUsers, []any{
				map[string]any{"id": "user1", "operation": "add", "password": canary, "role": "Admin"},
			}))
			before := w.sim.Requests()
			code, stdout, stderr := w.run(t)
			if code != errkind.ExitInvalid {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, errkind.ExitInvalid, stdout, stderr)
			}
			if !strings.Contains(stderr, content.ParamServer) || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not name %s and %s:\n%s", content.ParamServer, tc.want, stderr)
			}
			b, _ := json.Marshal(w.fake.Param(machineUUID, content.ParamReport))
			for where, s := range map[string]string{"stdout": stdout, "stderr": stderr, "the report": string(b)} {
				if strings.Contains(s, serverCanary) || strings.Contains(s, canary) {
					t.Errorf("a password appears in %s:\n%s", where, s)
				}
			}
			if after := w.sim.Requests(); after != before {
				t.Errorf("the host was contacted (%d requests)", after-before)
			}
		})
	}
}

// TestDisplayServer: whatever reaches a log line or report has no user
// information, even with "@" in a password.
func TestDisplayServer(t *testing.T) {
	for in, want := range map[string]string{
		"https://root:p@ss@esx01:443/sdk": "https://esx01:443/sdk",
		"root:p@ss@esx01":                 "esx01",
		"esx01.example.com":               "esx01.example.com",
		" https://esx01/sdk ":             "https://esx01/sdk",
	} {
		if got := drp.DisplayServer(in); got != want {
			t.Errorf("DisplayServer(%q) = %q, want %q", in, got, want)
		}
	}
}

// spacedPassword has leading and trailing spaces: Secure Params are passed
// byte for byte, and an admin password may begin and end with spaces.
const spacedPassword = "  Sp4ce#Admin-77  "

func spacedSim(t *testing.T) *esxsim.Server {
	t.Helper()
	sim, err := esxsim.Start(esxsim.Options{Common: esxsim.Common{Username: "opsadmin", Password: spacedPassword}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

func TestSecretParamsByteForByte(t *testing.T) {
	for _, param := range []string{content.ParamPassword, content.ParamInsecurePassword} {
		t.Run(param, func(t *testing.T) {
			sim := spacedSim(t)
			w := newWorld(t)
			must(t, w.fake.SetParam(machineUUID, content.ParamServer, sim.URL.Host))
			must(t, w.fake.SetParam(machineUUID, content.ParamThumbprint, sim.Thumbprint))
			must(t, w.fake.SetParam(machineUUID, content.ParamUsername, "opsadmin"))
			must(t, w.fake.SetParam(machineUUID, content.ParamPassword, nil))
			must(t, w.fake.SetParam(machineUUID, param, spacedPassword))
			must(t, w.fake.SetParam(machineUUID, content.ParamUsers, []any{
				map[string]any{"id": "user1", "operation": "add", "password": canary, "role": "ReadOnly"},
			}))
			code, stdout, stderr := w.run(t)
			if code != 0 {
				t.Fatalf("opsadmin with a spaced password did not log in: exit %d\n%s\n%s", code, stdout, stderr)
			}
			if r := w.report(t); !r.OK || r.User != "opsadmin" {
				t.Errorf("report = %+v", r)
			}
		})
	}
	// Config keeps the bytes; non-secret Params are still trimmed.
	cfg, err := drp.Config(drp.Machine{Address: "192.0.2.1"}, map[string]any{
		content.ParamPassword: spacedPassword, content.ParamUsername: "  opsadmin ",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Password.Reveal() != spacedPassword || cfg.Username != "opsadmin" {
		t.Errorf("password %d bytes (want %d), username %q", len(cfg.Password.Reveal()), len(spacedPassword), cfg.Username)
	}
}

func TestAllowSelfLockoutParam(t *testing.T) {
	m := drp.Machine{Address: "192.0.2.1"}
	cfg, err := drp.Config(m, nil)
	if err != nil || cfg.AllowSelfLockout {
		t.Fatalf("default: %v %v", cfg.AllowSelfLockout, err)
	}
	cfg, err = drp.Config(m, map[string]any{content.ParamAllowSelfLockout: true})
	if err != nil || !cfg.AllowSelfLockout {
		t.Fatalf("true: %v %v", cfg.AllowSelfLockout, err)
	}
	if _, err := drp.Config(m, map[string]any{content.ParamAllowSelfLockout: "yes"}); err == nil || errkind.ExitCode(err) != errkind.ExitInvalid {
		t.Errorf("a string was accepted: %v", err)
	}
}

// TestDRPUnreachableOrRefusedExits3: nothing was applied,
// so the exit code is 3, not 1.
func TestDRPUnreachableOrRefusedExits3(t *testing.T) {
	w := newWorld(t)
	must(t, w.fake.SetParam(machineUUID, content.ParamUsers, []any{
		map[string]any{"id": "user1", "operation": "add", "password": canary, "role": "Admin"},
	}))
	const other = "00000000-0000-4000-8000-000000000000"
	must(t, w.fake.AddMachine(other, "esx99", ""))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String()
	ln.Close()
	for name, env := range map[string]map[string]string{
		"unreachable":        {drp.EnvEndpoint: closed},
		"unknown token":      {drp.EnvToken: "not-a-token"},
		"another machine's":  {drp.EnvToken: w.fake.GenerateToken(other)},
		"no getSecure claim": {drp.EnvToken: w.fake.GenerateToken("")},
		"not a DRP endpoint": {drp.EnvEndpoint: "https://127.0.0.1:1"},
	} {
		t.Run(name, func(t *testing.T) {
			saved := map[string]string{}
			for k, v := range w.env {
				saved[k] = v
			}
			for k, v := range env {
				w.env[k] = v
			}
			defer func() { w.env = saved }()
			code, stdout, stderr := w.run(t)
			if code != errkind.ExitConnect {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, errkind.ExitConnect, stdout, stderr)
			}
			if _, ok := w.sim.Users()["user1"]; ok {
				t.Fatal("user1 was created")
			}
		})
	}
}

// TestReportNotSavedFailsTheJob: the run changed the host
// but the report cannot be stored: the job fails and says so.
func TestReportNotSavedFailsTheJob(t *testing.T) {
	w := newWorld(t)
	must(t, w.fake.SetParam(machineUUID, content.ParamUsers, []any{
		map[string]any{"id": "user1", "operation": "add", "password": canary, "role": "Admin"},
		map[string]any{"id": "user2", "operation": "remove"},
	}))
	w.fake.SetWriteFault(content.ParamReport, http.StatusInternalServerError)
	code, stdout, stderr := w.run(t)
	if code == 0 {
		t.Fatalf("exit 0 although the report was not saved\n%s\n%s", stdout, stderr)
	}
	if !strings.Contains(stderr, "the host was changed (1 entry applied, listed above) but the report was NOT saved to "+content.ParamReport) {
		t.Errorf("stderr does not say the host was changed and the report not saved:\n%s", stderr)
	}
	if _, ok := w.sim.Users()["user1"]; !ok {
		t.Error("user1 not on the host: the run did not happen")
	}
	if strings.Contains(stdout+stderr, canary) {
		t.Fatal("canary in output")
	}
	// A run that changed nothing says that instead.
	must(t, w.fake.SetParam(machineUUID, content.ParamUsers, []any{map[string]any{"id": "user9", "operation": "remove"}}))
	code, _, stderr = w.run(t)
	if code == 0 || !strings.Contains(stderr, "the run succeeded (nothing on the host needed a change) but the report was NOT saved") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
}

// pluginClient is the plugin's own API session to the fake (superuser).
func pluginClient(t *testing.T, w *world) *drp.Client {
	t.Helper()
	c, err := drp.NewClient(w.fake.Endpoint(), w.fake.SuperuserToken(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// actionParams is what DRP sends with an action: the machine's aggregated,
// decoded values, merged with the caller's arguments.
func actionParams(t *testing.T, w *world, args map[string]any) map[string]any {
	t.Helper()
	vals := map[string]any{}
	for _, n := range drp.InputParams() {
		if v := w.fake.Param(machineUUID, n); v != nil {
			vals[n] = v
		}
	}
	for k, v := range args {
		vals[k] = v
	}
	return vals
}

// TestActionRefusesOverrides: the action applies only the machine's stored
// Params, so its caller cannot, through the action's arguments, send a
// host's password elsewhere or apply another list.
func TestActionRefusesOverrides(t *testing.T) {
	w := newWorld(t)
	must(t, w.fake.SetParam(machineUUID, content.ParamUsers, []any{
		map[string]any{"id": "user1", "operation": "add", "password": canary, "role": "Admin"},
	}))
	c := pluginClient(t, w)
	// A listener that records whether anyone connects to it.
	var mu sync.Mutex
	hits := 0
	evil := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { mu.Lock(); hits++; mu.Unlock() }))
	defer evil.Close()
	mach := drp.Machine{UUID: machineUUID, Name: "esx01"}
	for name, args := range map[string]map[string]any{
		"server":   {content.ParamServer: strings.TrimPrefix(evil.URL, "https://"), content.ParamInsecure: true},
		"list":     {content.ParamUsers: []any{map[string]any{"id": "evil", "operation": "add", "password": canary, "role": "Admin"}}},
		"username": {content.ParamUsername: "dcui"},
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			r, merr := drp.RunAction(context.Background(), c, mach, actionParams(t, w, args), func(l, m string) { logs.WriteString(l + " " + m + "\n") })
			if merr == nil || merr.Code != http.StatusBadRequest || r != nil {
				t.Fatalf("override accepted: %v %+v", r, merr)
			}
			msg := strings.Join(merr.Messages, "\n")
			for k := range args {
				if !strings.Contains(msg, k) {
					t.Errorf("error does not name %s: %s", k, msg)
				}
			}
			if strings.Contains(msg+logs.String(), canary) || strings.Contains(msg, evil.URL) {
				t.Errorf("error or log echoes a value: %s\n%s", msg, logs.String())
			}
		})
	}
	mu.Lock()
	if hits != 0 {
		t.Errorf("the overriding server was contacted %d times", hits)
	}
	mu.Unlock()
	if _, ok := w.sim.Users()["evil"]; ok {
		t.Fatal("the overriding list was applied")
	}
	// The machine's own Params, as DRP merges them, run - also when DRP
	// fills another pack's Param default into the action (an aggregated
	// read does not apply defaults); another value for it is an override.
	w.fake.AddParam(&models.Param{Name: content.ParamInsecurePassword, Secure: true,
		Schema: map[string]any{"type": "string", "default": "RocketSkates"}})
	if _, merr := drp.RunAction(context.Background(), c, mach, actionParams(t, w, map[string]any{content.ParamInsecurePassword: "Other"}), nil); merr == nil || merr.Code != http.StatusBadRequest {
		t.Fatalf("a non-default value of %s was accepted: %+v", content.ParamInsecurePassword, merr)
	}
	r, merr := drp.RunAction(context.Background(), c, mach, actionParams(t, w, map[string]any{content.ParamInsecurePassword: "RocketSkates"}), nil)
	if merr != nil || !r.OK {
		t.Fatalf("own Params: %+v %+v", r, merr)
	}
	if _, ok := w.sim.Users()["user1"]; !ok {
		t.Error("user1 not created")
	}
	// The report not saved: 500, the job fails, the message says the host
	// was changed.
	must(t, w.fake.SetParam(machineUUID, content.ParamUsers, []any{
		map[string]any{"id": "user3", "operation": "add", "password": canary, "role": "ReadOnly"},
	}))
	w.fake.SetWriteFault(content.ParamReport, http.StatusInternalServerError)
	_, merr = drp.RunAction(context.Background(), c, mach, actionParams(t, w, nil), nil)
	if merr == nil || merr.Code != http.StatusInternalServerError ||
		!strings.Contains(strings.Join(merr.Messages, "\n"), "the host was changed (1 entry applied, listed above) but the report was NOT saved") {
		t.Fatalf("report not saved: %+v", merr)
	}
	// The plugin cannot read the machine's Params: 503, nothing applied.
	// (A token that may get any machine but decode none: DRP's
	// unknown-machine token.)
	weak, _ := drp.NewClient(w.fake.Endpoint(), w.fake.GenerateToken(""), nil)
	must(t, w.fake.SetParam(machineUUID, content.ParamUsers, []any{
		map[string]any{"id": "user4", "operation": "add", "password": canary, "role": "ReadOnly"},
	}))
	if _, merr = drp.RunAction(context.Background(), weak, mach, actionParams(t, w, nil), nil); merr == nil || merr.Code != http.StatusServiceUnavailable {
		t.Fatalf("unreadable Params: %+v", merr)
	}
	if _, ok := w.sim.Users()["user4"]; ok {
		t.Error("user4 created without the machine's Params")
	}
}

func TestRunsSerialisePerMachine(t *testing.T) {
	var r drp.Runs
	rel1, ok := r.TryStart("m1")
	if !ok {
		t.Fatal("first run refused")
	}
	if _, ok := r.TryStart("m1"); ok {
		t.Fatal("second run for m1 started alongside the first")
	}
	rel2, ok := r.TryStart("m2")
	if !ok {
		t.Fatal("a run for another machine was refused")
	}
	rel1()
	rel1() // idempotent
	rel3, ok := r.TryStart("m1")
	if !ok {
		t.Fatal("m1 still busy after release")
	}
	rel2()
	rel3()
}

// TestTemplateTimeoutsExceedRunTimeout: the scripts that post the action
// wait longer than a run may last, so a run is never abandoned and retried
// while it goes on. (The token's lifetime does not bound the wait: DRP
// checks a token once, when the request arrives - frontend/frontend.go
// userAuth of the last public server code.)
func TestTemplateTimeoutsExceedRunTimeout(t *testing.T) {
	re := regexp.MustCompile(`(?m)^(?:TIMEOUT = |timeout=)(\d+)`)
	for _, id := range []string{content.ESXiTemplate, content.ActionTemplate} {
		body, err := pack.Template(id)
		if err != nil {
			t.Fatal(err)
		}
		m := re.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("%s: no timeout", id)
		}
		n, _ := strconv.Atoi(m[1])
		if time.Duration(n)*time.Second <= drp.RunTimeout {
			t.Errorf("%s waits %d s, not more than drp.RunTimeout %v", id, n, drp.RunTimeout)
		}
	}
}
