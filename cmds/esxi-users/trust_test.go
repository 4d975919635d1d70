package main

// Trust boundaries of the DRP side — credentials in the server Param,
// passwords with spaces, the DRP certificate pin, the agent binary's pinned
// digest, runs in parallel and one at a time per machine, exit codes that
// follow the plugin's answers — driven through the real plugin binary over
// its unix socket, the fake DRP API and the rendered templates.

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/pack"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/testsupport/missing"
	"github.com/esxi-users/esxi-users/internal/testsupport/netfault"
	"github.com/esxi-users/esxi-users/internal/testsupport/tcpcount"
	"github.com/esxi-users/esxi-users/tasks"
)

// simUsers reads a simulator's local users with an independent client.
// serverCanary is a password put where it must never be: the server Param.
const serverCanary = "Srv#Canary-5521-qq"

// postAction posts the machine action through the fake DRP API, as the
// templates and drpcli do, and returns the status and body.
func (w *world) postAction(t *testing.T, uuid, token string, body any) (int, []byte) {
	t.Helper()
	return w.call(t, http.MethodPost, "/api/v3/machines/"+uuid+"/actions/"+content.ActionName+"?plugin="+content.PluginName, token, body)
}

func (w *world) everything(t *testing.T) string {
	t.Helper()
	b, _ := json.Marshal(w.fake.Param(machineUUID, content.ParamReport))
	return w.logText() + w.plugin.Output() + string(b)
}

// TestServerParamCredentialsThroughPlugin: a server Param with a
// password is refused (400 naming esxi/manage-users-password) and the
// password shows up nowhere: not in the answer, the plugin's log, its
// output or the report; the host is not contacted.
func TestServerParamCredentialsThroughPlugin(t *testing.T) {
	w := newWorld(t)
	for _, server := range []string{
		"https://root:" + serverCanary + "@" + w.sim.URL.Host + "/sdk",
		"root:" + serverCanary + "@" + w.sim.URL.Host,
		"http://" + w.sim.URL.Host + "/" + serverCanary,
	} {
		w.setParams(t, machineUUID, map[string]any{content.ParamServer: server})
		logins := w.sim.Logins()
		code, body := w.postAction(t, machineUUID, w.token, map[string]any{})
		if code != http.StatusBadRequest || !strings.Contains(string(body), content.ParamServer) {
			t.Errorf("server %d: %d %s", len(server), code, body)
		}
		if !strings.HasPrefix(server, "http:") && !strings.Contains(string(body), content.ParamPassword) {
			t.Errorf("the answer does not name %s: %s", content.ParamPassword, body)
		}
		for where, s := range map[string]string{"the answer": string(body), "the plugin log, output or report": w.everything(t)} {
			if strings.Contains(s, serverCanary) {
				t.Fatalf("the server Param's password appears in %s", where)
			}
		}
		if w.sim.Logins() != logins {
			t.Error("the host was contacted")
		}
	}
}

// TestSpacedPasswordThroughPlugin: an admin whose password begins
// and ends with spaces logs in through the plugin.
func TestSpacedPasswordThroughPlugin(t *testing.T) {
	w := newWorld(t)
	sim, err := esxsim.Start(esxsim.Options{Common: esxsim.Common{Username: "opsadmin", Password: "  Sp4ce#Admin-77  "}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	w.setParams(t, machineUUID, map[string]any{
		content.ParamServer: sim.URL.Host, content.ParamThumbprint: sim.Thumbprint,
		content.ParamUsername: "opsadmin", content.ParamPassword: "  Sp4ce#Admin-77  ",
	})
	code, body := w.postAction(t, machineUUID, w.token, map[string]any{})
	if code != http.StatusOK {
		t.Fatalf("opsadmin with a spaced password: %d %s", code, body)
	}
	var r tasks.Report
	if err := json.Unmarshal(body, &r); err != nil || !r.OK || r.User != "opsadmin" {
		t.Errorf("report %s: %v", body, err)
	}
}

// TestActionOverridesRefusedThroughDRP: the action applies the machine's
// stored Params only, so arguments that would redirect the host's password
// or apply another list are refused (400), whoever may post it.
func TestActionOverridesRefusedThroughDRP(t *testing.T) {
	w := newWorld(t)
	logins := w.sim.Logins()
	for _, args := range []map[string]any{
		{content.ParamServer: "127.0.0.1:1", content.ParamInsecure: true},
		{content.ParamUsers: []any{map[string]any{"id": "evil", "operation": "add", "password": canary, "role": "Admin"}}},
	} {
		code, body := w.postAction(t, machineUUID, w.token, args)
		if code != http.StatusBadRequest || !strings.Contains(string(body), "differ from the machine's") {
			t.Errorf("override %v: %d %s", args, code, body)
		}
	}
	if w.sim.Logins() != logins {
		t.Error("the host was contacted")
	}
	// A token without the action claim on this machine cannot post it at
	// all: DRP's unknown-machine token (machines create, get *).
	if code, body := w.postAction(t, machineUUID, w.fake.GenerateToken(""), map[string]any{}); code != http.StatusForbidden {
		t.Errorf("no claim: %d %s", code, body)
	}
}

func runScript(t *testing.T, name string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestESXiTemplatePinsDRPCertificate: with
// esxi/manage-users-drp-cert-sha256 the script sends its token only to the
// server presenting that certificate; the exit codes follow the plugin's
// answers (2 for a pin that is not SHA-256; 3 for a wrong pin, a refused or
// expired token, or DRP out of reach, nothing applied; 1 when the host was
// changed but the report could not be saved).
func TestESXiTemplatePinsDRPCertificate(t *testing.T) {
	missing.File(t, "/usr/bin/python3", "apt-get install python3")
	w := newWorld(t)
	script := func(token, pin string) string {
		d := w.data(token)
		if pin != "" {
			d.params[content.ParamDRPCertSHA256] = pin
		}
		p := filepath.Join(w.dir, fmt.Sprintf("esxi-%d.py", time.Now().UnixNano()))
		os.WriteFile(p, []byte(render(t, &w.plugin.Def, content.ESXiTemplate, d)), 0o700)
		return p
	}
	actions := func() int {
		n := 0
		for _, r := range w.fake.Requests() {
			if strings.Contains(r, "/actions/") {
				n++
			}
		}
		return n
	}

	// The right pin (any case, with colons): verified, applied.
	pin := strings.ToUpper(w.fake.CertSHA256())
	var colons []string
	for i := 0; i < len(pin); i += 2 {
		colons = append(colons, pin[i:i+2])
	}
	code, out := runScript(t, "/usr/bin/python3", nil, script(w.token, strings.Join(colons, ":")))
	if code != 0 || !strings.Contains(out, "DRP certificate verified") {
		t.Fatalf("pinned run: exit %d\n%s", code, out)
	}
	w.checkApplied(t)

	// As openssl x509 -noout -fingerprint -sha256 prints it (OpenSSL 3 and
	// 1.1), prefix included.
	for _, prefix := range []string{"sha256 Fingerprint=", "SHA256 Fingerprint="} {
		if code, out = runScript(t, "/usr/bin/python3", nil, script(w.token, prefix+strings.Join(colons, ":"))); code != 0 || !strings.Contains(out, "DRP certificate verified") {
			t.Errorf("pin %q…: exit %d\n%s", prefix, code, out)
		}
	}
	// Not a SHA-256 fingerprint (a SHA-1, another prefix): invalid, exit 2,
	// nothing sent.
	before0 := actions()
	for _, bad := range []string{strings.Join(colons[:20], ":"), "md5 Fingerprint=" + strings.Join(colons, ":"), "zz" + pin[2:]} {
		if code, out = runScript(t, "/usr/bin/python3", nil, script(w.token, bad)); code != 2 || !strings.Contains(out, "is not a SHA-256 fingerprint") {
			t.Errorf("pin %q: exit %d\n%s", bad, code, out)
		}
	}
	if actions() != before0 {
		t.Error("the token was sent with an invalid pin")
	}

	// A wrong pin: the token is never sent, exit 3.
	before := actions()
	wrong := strings.Repeat("ab", 32)
	code, out = runScript(t, "/usr/bin/python3", nil, script(w.token, wrong))
	if code != 3 || !strings.Contains(out, "the token was not sent") {
		t.Errorf("wrong pin: exit %d\n%s", code, out)
	}
	if actions() != before {
		t.Error("the action was posted to a server with the wrong certificate")
	}

	// No pin: it says the certificate is not verified.
	code, out = runScript(t, "/usr/bin/python3", nil, script(w.token, ""))
	if code != 0 || !strings.Contains(out, "is not verified") {
		t.Errorf("unpinned: exit %d\n%s", code, out)
	}

	// DRP refuses the token (not one it issued, or without the action claim
	// on this machine: 403): exit 3.
	for _, tok := range []string{"not-a-token", w.fake.GenerateToken("")} {
		if code, out = runScript(t, "/usr/bin/python3", nil, script(tok, "")); code != 3 {
			t.Errorf("token %s: exit %d\n%s", tok, code, out)
		}
	}
	// DRP cannot be reached: exit 3.
	d := w.data(w.token)
	d.ApiURL = "https://127.0.0.1:1"
	p := filepath.Join(w.dir, "unreachable.py")
	os.WriteFile(p, []byte(render(t, &w.plugin.Def, content.ESXiTemplate, d)), 0o700)
	if code, out = runScript(t, "/usr/bin/python3", nil, p); code != 3 || !strings.Contains(out, "nothing was applied") {
		t.Errorf("unreachable: exit %d\n%s", code, out)
	}
	// The report cannot be saved after the host was changed: the job fails.
	w.setParams(t, machineUUID, map[string]any{content.ParamUsers: []any{
		map[string]any{"id": "user7", "operation": "add", "password": canary, "role": "ReadOnly"},
	}})
	w.fake.SetWriteFault(content.ParamReport, http.StatusInternalServerError)
	code, out = runScript(t, "/usr/bin/python3", nil, script(w.token, ""))
	if code != 1 || !strings.Contains(out, "HTTP 500") || !strings.Contains(out, "the host was changed") {
		t.Errorf("report not saved: exit %d\n%s", code, out)
	}
	if _, ok := w.sim.Users()["user7"]; !ok {
		t.Error("user7 not created")
	}
	w.noCanary(t, "the job log", out)

	// The token has expired (knownTokenTimeout, 3600 s by default): exit 3.
	w.fake.SetParam(machineUUID, content.ParamUsers, []any{})
	w.fake.SetWriteFault(content.ParamReport, 0)
	w.fake.Advance(time.Hour + time.Second)
	if code, out = runScript(t, "/usr/bin/python3", nil, script(w.token, "")); code != 3 || !strings.Contains(out, "token is expired") {
		t.Errorf("expired token: exit %d\n%s", code, out)
	}
}

// TestActionTemplateEndToEnd: the default task's Go-agent template posts the
// action with the job's token (RS_TOKEN) and maps the answers.
func TestActionTemplateEndToEnd(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		missing.LookPath(t, tool, "apt-get install "+tool)
	}
	w := newWorld(t)
	jobToken, err := w.fake.JobToken(machineUUID, content.TaskName)
	if err != nil {
		t.Fatal(err)
	}
	script := render(t, &w.plugin.Def, content.ActionTemplate, w.data("unused"))
	if strings.Contains(script, jobToken) {
		t.Fatal("the token is rendered into the script")
	}
	path := filepath.Join(w.dir, "action.sh")
	os.WriteFile(path, []byte(script), 0o700)
	env := []string{"RS_ENDPOINT=" + w.fake.Endpoint(), "RS_TOKEN=" + jobToken, "RS_UUID=" + machineUUID}
	code, out := runScript(t, "bash", env, path)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	w.checkApplied(t)
	w.noCanary(t, "the job log", out)

	w.setParams(t, machineUUID, map[string]any{content.ParamUsers: []any{map[string]any{"id": "x y", "operation": "remove"}}})
	if code, out = runScript(t, "bash", env, path); code != 2 || !strings.Contains(out, "HTTP 400") {
		t.Errorf("invalid list: exit %d\n%s", code, out)
	}
	if code, out = runScript(t, "bash", []string{"RS_ENDPOINT=" + w.fake.Endpoint(), "RS_TOKEN=nope", "RS_UUID=" + machineUUID}, path); code != 3 {
		t.Errorf("refused token: exit %d\n%s", code, out)
	}
	if code, out = runScript(t, "bash", []string{"RS_ENDPOINT=https://127.0.0.1:1", "RS_TOKEN=" + jobToken, "RS_UUID=" + machineUUID}, path); code != 3 {
		t.Errorf("unreachable: exit %d\n%s", code, out)
	}
	// Refused before any request: a plain endpoint (the
	// token would cross the network in clear), a UUID that is not one.
	plain := tcpcount.Start(t)
	if code, out = runScript(t, "bash", []string{"RS_ENDPOINT=http://" + plain.Addr(), "RS_TOKEN=" + jobToken, "RS_UUID=" + machineUUID}, path); code != 3 ||
		!strings.Contains(out, "RS_ENDPOINT is not https: the token was not sent") || plain.Opened(t) != 0 {
		t.Errorf("http endpoint: exit %d, %d connections\n%s", code, plain.Opened(t), out)
	}
	before := len(w.fake.Requests())
	if code, out = runScript(t, "bash", []string{"RS_ENDPOINT=" + w.fake.Endpoint(), "RS_TOKEN=" + jobToken, "RS_UUID=../../profiles/global"}, path); code != 2 ||
		!strings.Contains(out, "RS_UUID is not a machine UUID") || len(w.fake.Requests()) != before {
		t.Errorf("bad RS_UUID: exit %d, requests %v\n%s", code, w.fake.Requests()[before:], out)
	}
}

// TestGoAgentTemplateRefusesTamperedBinary: an attacker on the file
// server's path replaces the binary and its .sha256; the script compares
// with the digest pinned in the content pack and refuses to run it. A pack
// without pinned digests runs nothing.
func TestGoAgentTemplateRefusesTamperedBinary(t *testing.T) {
	w, taskDir := agentWorld(t)
	marker := filepath.Join(w.dir, "tampered-binary-ran")
	evil := []byte("#!/bin/sh\ntouch " + marker + "\n")
	served := filepath.Join(w.dir, "files", "plugin_providers", content.PluginName, BinaryName(runtime.GOARCH))
	if err := os.WriteFile(served, evil, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256(evil))
	os.WriteFile(served+".sha256", []byte(sum+"  "+BinaryName(runtime.GOARCH)+"\n"), 0o644)

	env := []string{"RS_ENDPOINT=" + w.fake.Endpoint(), "RS_TOKEN=x", "RS_UUID=" + machineUUID, "RS_TASK_DIR=" + taskDir}
	path := filepath.Join(taskDir, "agent.sh")
	os.WriteFile(path, []byte(render(t, &w.plugin.Def, content.AgentTemplate, w.data("unused"))), 0o700)
	code, out := runScript(t, "bash", env, path)
	if code == 0 || !strings.Contains(out, "refusing to run it") || !strings.Contains(out, sum) {
		t.Errorf("tampered download: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the tampered binary ran")
	}
	if _, err := os.Stat(filepath.Join(taskDir, "esxi-manage-users")); err == nil {
		t.Error("the tampered binary was kept")
	}

	// Nothing to download (DRP's static file server off, or the plugin's
	// files missing): exit 3 with a message, not curl's own code.
	os.Remove(served)
	if code, out = runScript(t, "bash", env, path); code != 3 || !strings.Contains(out, "cannot download "+BinaryName(runtime.GOARCH)+" from DRP's static file server") {
		t.Errorf("no file to download: exit %d\n%s", code, out)
	}

	// The pack as bundled without the plugin pins nothing: nothing runs.
	src, _ := pack.Template(content.DigestTemplate)
	def := w.plugin.Def
	var c map[string]any
	json.Unmarshal([]byte(def.Content), &c)
	c["sections"].(map[string]any)["templates"].(map[string]any)[content.DigestTemplate].(map[string]any)["Contents"] = src
	b, _ := json.Marshal(c)
	def.Content = string(b)
	os.WriteFile(path, []byte(render(t, &def, content.AgentTemplate, w.data("unused"))), 0o700)
	code, out = runScript(t, "bash", env, path)
	if code == 0 || !strings.Contains(out, "no SHA-256 is pinned") {
		t.Errorf("unpinned pack: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a binary ran without a pinned digest")
	}
}

// activity records, on a simulator's trace, when its requests began and
// ended (monotonic clock; compared, never measured against a limit).
type activity struct {
	mu          sync.Mutex
	armed       bool
	first, last time.Time
	n           int
	started     chan struct{}
}

func newActivity() *activity { return &activity{started: make(chan struct{})} }

func (a *activity) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.armed {
		return len(p), nil
	}
	now := time.Now()
	if a.n == 0 {
		a.first = now
		close(a.started)
	}
	a.last = now
	a.n++
	return len(p), nil
}

func (a *activity) arm() {
	a.mu.Lock()
	a.armed = true
	a.mu.Unlock()
}

// latencyProxy puts Toxiproxy (in-process: internal/testsupport/netfault) between the
// plugin and a simulator, adding ms of latency to every reply.
func latencyProxy(t *testing.T, upstream string, ms int) string {
	t.Helper()
	p, err := netfault.Start(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := p.Latency("latency", "downstream", time.Duration(ms)*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	return p.Addr
}

type slowHost struct {
	uuid string
	sim  *esxsim.Server
	act  *activity
}

// addSlowMachines adds n machines to the fake, each with its own simulator
// behind a latency proxy.
func (w *world) addSlowMachines(t *testing.T, n, ms int) []slowHost {
	t.Helper()
	var hosts []slowHost
	for i := 0; i < n; i++ {
		act := newActivity()
		sim, err := esxsim.Start(esxsim.Options{Common: esxsim.Common{Trace: act}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sim.Close)
		uuid := fmt.Sprintf("7f0e6a52-1b2c-4d3e-9f40-%012d", i+1)
		if err := w.fake.AddMachine(uuid, fmt.Sprintf("esx%02d", i+2), ""); err != nil {
			t.Fatal(err)
		}
		pw, _ := sim.URL.User.Password()
		w.setParams(t, uuid, map[string]any{
			content.ParamServer:     latencyProxy(t, sim.URL.Host, ms),
			content.ParamThumbprint: sim.Thumbprint, content.ParamPassword: pw,
			content.ParamUsers: []any{
				map[string]any{"id": "user1", "operation": "add", "password": canary, "role": "Admin"},
				map[string]any{"id": "user2", "operation": "set", "password": canary, "role": "ReadOnly"},
			},
		})
		act.arm()
		hosts = append(hosts, slowHost{uuid: uuid, sim: sim, act: act})
	}
	return hosts
}

// TestRunsParallelAcrossMachines: 20 machines' runs, posted at
// once against hosts with 100 ms of latency per reply, all overlap: there is
// an instant at which every one of them is talking to its host (the latest
// first request comes before the earliest last request).
func TestRunsParallelAcrossMachines(t *testing.T) {
	w := newWorld(t)
	hosts := w.addSlowMachines(t, 20, 100)
	admin := w.fake.SuperuserToken()
	var wg sync.WaitGroup
	codes := make([]int, len(hosts))
	bodies := make([][]byte, len(hosts))
	for i, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], bodies[i] = w.postAction(t, h.uuid, admin, map[string]any{})
		}()
	}
	wg.Wait()
	var maxFirst, minLast time.Time
	for i, h := range hosts {
		if codes[i] != http.StatusOK {
			t.Fatalf("machine %d: %d %s", i, codes[i], bodies[i])
		}
		if _, ok := h.sim.Users()["user2"]; !ok {
			t.Errorf("machine %d: user2 not on its host", i)
		}
		h.act.mu.Lock()
		first, last, n := h.act.first, h.act.last, h.act.n
		h.act.mu.Unlock()
		if n == 0 {
			t.Fatalf("machine %d: its host saw no request", i)
		}
		if maxFirst.IsZero() || first.After(maxFirst) {
			maxFirst = first
		}
		if minLast.IsZero() || last.Before(minLast) {
			minLast = last
		}
	}
	if !maxFirst.Before(minLast) {
		t.Errorf("the 20 runs did not all overlap: the last to start began %v after the first to finish ended", maxFirst.Sub(minLast))
	}
}

// TestSecondRunForAMachineIsRefused: while a run for a machine is
// in progress, another call for it is refused at once with 409 and never
// touches the host; afterwards the machine runs again.
func TestSecondRunForAMachineIsRefused(t *testing.T) {
	w := newWorld(t)
	h := w.addSlowMachines(t, 1, 150)[0]
	admin := w.fake.SuperuserToken()
	first := make(chan int, 1)
	go func() {
		code, _ := w.postAction(t, h.uuid, admin, map[string]any{})
		first <- code
	}()
	select {
	case <-h.act.started:
	case <-time.After(2 * time.Minute):
		t.Fatal("the first run never reached its host")
	}
	code, body := w.postAction(t, h.uuid, admin, map[string]any{})
	if code != http.StatusConflict || !strings.Contains(string(body), "a run for this machine is in progress") {
		t.Fatalf("second call: %d %s", code, body)
	}
	if c := <-first; c != http.StatusOK {
		t.Fatalf("first call: %d", c)
	}
	// One login: the first run's. The refused call never reached the host.
	if n := h.sim.Logins(); n != 1 {
		t.Errorf("%d logins to the host for one run and one refused call", n)
	}
	if code, body = w.postAction(t, h.uuid, admin, map[string]any{}); code != http.StatusOK {
		t.Errorf("after the first run: %d %s", code, body)
	}
}
