package drp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/digitalrebar/provision/v4/models"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/drp"
	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/testsupport/drpfake"
	"github.com/esxi-users/esxi-users/internal/testsupport/tcpcount"
	"github.com/esxi-users/esxi-users/tasks"
)

const canary = "Canary#Pw-7719-zz"

const machineUUID = "3a1c2f4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b"

type world struct {
	fake *drpfake.Server
	sim  *esxsim.Server
	env  map[string]string
}

// newWorld is a fake DRP with machineUUID and a simulated host; RS_TOKEN is
// the job token of the agent task on that machine, as the Go agent passes
// it.
func newWorld(t *testing.T) *world {
	t.Helper()
	sim, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	fake := drpfake.NewForPack(t)
	must(t, fake.AddMachine(machineUUID, "esx01", ""))
	token, err := fake.JobToken(machineUUID, content.AgentTaskName)
	must(t, err)
	pw, _ := sim.URL.User.Password()
	must(t, fake.SetParam(machineUUID, content.ParamServer, sim.URL.Host))
	must(t, fake.SetParam(machineUUID, content.ParamThumbprint, sim.Thumbprint))
	must(t, fake.SetParam(machineUUID, content.ParamPassword, pw))
	attachPlugin(t, fake)
	return &world{fake: fake, sim: sim, env: map[string]string{
		drp.EnvEndpoint: fake.Endpoint(), drp.EnvToken: token, drp.EnvUUID: machineUUID,
	}}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (w *world) run(t *testing.T) (int, string, string) {
	var out, errb bytes.Buffer
	code := drp.RunTaskWith(context.Background(), drp.TaskOptions{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return w.env[k] }})
	return code, out.String(), errb.String()
}

func (w *world) report(t *testing.T) tasks.Report {
	t.Helper()
	v := w.fake.Param(machineUUID, content.ParamReport)
	if v == nil {
		t.Fatal("no report written")
	}
	b, _ := json.Marshal(v)
	if bytes.Contains(b, []byte(canary)) {
		t.Fatalf("report holds the password: %s", b)
	}
	var r tasks.Report
	must(t, json.Unmarshal(b, &r))
	return r
}

func TestRunTaskAppliesAndReports(t *testing.T) {
	w := newWorld(t)
	users := []map[string]any{
		{"id": "user1", "operation": "add", "description": "User One", "password": canary, "role": "Admin"},
		{"id": "user2", "operation": "set", "password": canary, "role": "ReadOnly"},
		{"id": "root", "operation": "set", "password": canary, "role": "Admin"},
		{"id": "user2", "operation": "remove"},
	}
	must(t, w.fake.SetParam(machineUUID, content.ParamUsers, users))
	// The Secure Param is sealed on the wire without decode=true.
	if !models.IsSecureData(w.fake.RawParam(machineUUID, content.ParamUsers)) {
		t.Fatal("esxi/manage-users is not stored sealed")
	}

	code, stdout, stderr := w.run(t)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		`entry 1 (id "user1", add): created role=Admin`,
		`entry 2 (id "user2", set): created role=ReadOnly`,
		`entry 3 (id "root", set): ignored`,
		`entry 4 (id "user2", remove): removed`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout+stderr, canary) {
		t.Fatal("canary password in the job log")
	}
	r := w.report(t)
	if !r.OK || len(r.Results) != 4 || r.Results[0].Outcome != tasks.Created {
		t.Errorf("report = %+v", r)
	}
	got := w.sim.Users()
	if d, ok := got["user1"]; !ok || d != "User One" {
		t.Errorf("user1 on host = %q (%v)", d, ok)
	}
	if _, ok := got["user2"]; ok {
		t.Error("user2 still on host")
	}
	// Reads were aggregated and decoded, in one bulk call.
	var sawBulk bool
	for _, rq := range w.fake.Requests() {
		if strings.HasPrefix(rq, "GET /api/v3/machines/"+machineUUID+"/params?") &&
			strings.Contains(rq, "aggregate=true") && strings.Contains(rq, "decode=true") {
			sawBulk = true
		}
	}
	if !sawBulk {
		t.Errorf("no aggregate+decode bulk read in %v", w.fake.Requests())
	}
}

func TestRunTaskDefaultsAndFallbacks(t *testing.T) {
	w := newWorld(t)
	// No esxi/manage-users at all: the default [] applies; the password
	// comes from RackN's esxi/insecure-password; the ignore list default.
	pw, _ := w.sim.URL.User.Password()
	must(t, w.fake.SetParam(machineUUID, content.ParamPassword, nil))
	must(t, w.fake.SetParam(machineUUID, content.ParamInsecurePassword, pw))
	code, stdout, stderr := w.run(t)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if r := w.report(t); !r.OK || len(r.Results) != 0 || r.User != "root" {
		t.Errorf("report = %+v", r)
	}
}

// TestRunTaskInvalidInputWritesReport: a list the run refuses exits 2 and
// the report says why. The list sits on a profile: DRP's Schema refuses
// role "Owner" on any write and re-validates all of an object's Params on
// every write (backend/param.go ValidateParams), so stored on the machine
// itself (as after a Schema change) it would block the report too.
func TestRunTaskInvalidInputWritesReport(t *testing.T) {
	w := newWorld(t)
	must(t, w.fake.AddProfile("site"))
	must(t, w.fake.SetProfileParam("site", content.ParamUsers, []any{
		map[string]any{"id": "user1", "operation": "add", "password": canary, "role": "Admin"},
		map[string]any{"id": "user3", "operation": "set", "password": canary, "role": "Owner"},
	}))
	must(t, w.fake.SetMachineProfiles(machineUUID, "site"))
	code, stdout, stderr := w.run(t)
	if code != errkind.ExitInvalid {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, errkind.ExitInvalid, stdout, stderr)
	}
	if !strings.Contains(stderr, `entry 2 (id "user3", set): role "Owner"`) {
		t.Errorf("stderr does not name the entry:\n%s", stderr)
	}
	if strings.Contains(stdout+stderr, canary) {
		t.Fatal("canary in output")
	}
	r := w.report(t)
	if r.OK || r.Error == "" {
		t.Errorf("report = %+v", r)
	}
	if _, ok := w.sim.Users()["user1"]; ok {
		t.Error("user1 was created although the list is invalid")
	}
}

func TestRunTaskConnectFailure(t *testing.T) {
	w := newWorld(t)
	must(t, w.fake.SetParam(machineUUID, content.ParamPassword, "wrong-"+canary))
	must(t, w.fake.SetParam(machineUUID, content.ParamUsers, []any{}))
	code, stdout, stderr := w.run(t)
	if code != errkind.ExitConnect {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, errkind.ExitConnect, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, canary) {
		t.Fatal("password in output")
	}
	if r := w.report(t); r.OK {
		t.Errorf("report ok on connect failure")
	}
}

// TestRunTaskWithoutGetSecure: a token that may get the machine but not
// decode its Params (DRP's unknown-machine token: machines create, get *)
// gets 403, and the run fails.
func TestRunTaskWithoutGetSecure(t *testing.T) {
	w := newWorld(t)
	w.env[drp.EnvToken] = w.fake.GenerateToken("")
	code, _, stderr := w.run(t)
	if code == 0 || !strings.Contains(stderr, "403") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
}

func TestRunTaskMissingEnv(t *testing.T) {
	var out, errb bytes.Buffer
	code := drp.RunTaskWith(context.Background(), drp.TaskOptions{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if code != errkind.ExitInvalid || !strings.Contains(errb.String(), "RS_ENDPOINT, RS_TOKEN, RS_UUID not set") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

func TestConfigFallbacksAndTypeErrors(t *testing.T) {
	m := drp.Machine{UUID: machineUUID, Address: "192.0.2.10"}
	cfg, err := drp.Config(m, map[string]any{content.ParamInsecurePassword: canary, content.ParamUsers: nil})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server != "192.0.2.10" || cfg.Username != "root" || cfg.Password.Reveal() != canary || string(cfg.Input) != "[]" {
		t.Errorf("cfg = %+v input %s", cfg, cfg.Input)
	}
	if len(cfg.Ignore) != 2 || cfg.Insecure || cfg.SkipPasswordCheck {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	_, err = drp.Config(m, map[string]any{content.ParamInsecure: canary})
	if err == nil || strings.Contains(err.Error(), canary) || errkind.ExitCode(err) != errkind.ExitInvalid {
		t.Errorf("err = %v", err)
	}
	_, err = drp.Config(drp.Machine{}, nil)
	if err == nil || !strings.Contains(err.Error(), content.ParamServer) {
		t.Errorf("no server: %v", err)
	}
}

// esxi/manage-users-thumbprint is read as people paste it; anything else is
// invalid (exit 2, HTTP 400), naming the Param and the accepted forms.
func TestConfigThumbprint(t *testing.T) {
	m := drp.Machine{UUID: machineUUID, Address: "192.0.2.10"}
	sha256 := strings.Repeat("ab", 32)
	for _, ok := range []string{"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01", sha256, "thumbprint: " + sha256} {
		if _, err := drp.Config(m, map[string]any{content.ParamThumbprint: ok}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	_, err := drp.Config(m, map[string]any{content.ParamThumbprint: canary})
	if err == nil || errkind.ExitCode(err) != errkind.ExitInvalid || strings.Contains(err.Error(), canary) ||
		!strings.Contains(err.Error(), "Param "+content.ParamThumbprint+" is not a certificate thumbprint") || !strings.Contains(err.Error(), "SHA-256 (64 hex digits)") {
		t.Errorf("err = %v", err)
	}
}

// TestRunTaskRefusesPlainEndpoint: an RS_ENDPOINT that is
// not https is refused before the token is sent: exit 3, and the server
// named by it sees no connection at all.
func TestRunTaskRefusesPlainEndpoint(t *testing.T) {
	const token = "Tok#Canary-0042"
	for _, scheme := range []string{"http", "HTTP", "ftp", "ws"} {
		l := tcpcount.Start(t)
		var out, errb bytes.Buffer
		env := map[string]string{drp.EnvEndpoint: scheme + "://" + l.Addr(), drp.EnvToken: token, drp.EnvUUID: machineUUID}
		code := drp.RunTaskWith(context.Background(), drp.TaskOptions{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
		if code != errkind.ExitConnect || !strings.Contains(errb.String(), "RS_ENDPOINT is not https") || !strings.Contains(errb.String(), "it was not sent") {
			t.Errorf("%s: exit %d, stderr %q", scheme, code, errb.String())
		}
		if strings.Contains(out.String()+errb.String(), token) {
			t.Errorf("%s: the token was printed", scheme)
		}
		if n := l.Opened(t); n != 0 {
			t.Errorf("%s: %d connections were opened to the endpoint", scheme, n)
		}
	}
}

// TestRunTaskRefusesBadUUID: RS_UUID goes into request
// paths, so anything but a UUID ("../../profiles/global" would reach
// another object) is invalid input, exit 2, before any request.
func TestRunTaskRefusesBadUUID(t *testing.T) {
	w := newWorld(t)
	for _, uuid := range []string{"../../profiles/global", machineUUID + "/../x", "esx01", machineUUID[:35], " " + machineUUID, machineUUID + "?a=b", "3a1c2f4e5b6d4e7f8a9b0c1d2e3f4a5b"} {
		w.env[drp.EnvUUID] = uuid
		before := len(w.fake.Requests())
		code, _, stderr := w.run(t)
		if code != errkind.ExitInvalid || !strings.Contains(stderr, "RS_UUID is not a machine UUID") {
			t.Errorf("%q: exit %d, stderr %q", uuid, code, stderr)
		}
		if got := w.fake.Requests()[before:]; len(got) != 0 {
			t.Errorf("%q: requests were sent: %v", uuid, got)
		}
	}
	w.env[drp.EnvUUID] = strings.ToUpper(machineUUID)
	if !drp.IsUUID(w.env[drp.EnvUUID]) {
		t.Error("an upper-case UUID is a UUID")
	}
}
