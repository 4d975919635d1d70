package main

// These tests build the real plugin binary (with freshly cross-built task
// binaries embedded through `go build -overlay`, so the source tree is not
// touched) and drive it the way dr-provision does, through drpfake.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/digitalrebar/provision/v4/models"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/testsupport/drpfake"
	"github.com/esxi-users/esxi-users/internal/testsupport/missing"
	"github.com/esxi-users/esxi-users/internal/testsupport/pluginbuild"
	"github.com/esxi-users/esxi-users/params"
	"github.com/esxi-users/esxi-users/tasks"
)

const (
	canary      = "Canary#Pw-7719-zz"
	machineUUID = "7f0e6a52-1b2c-4d3e-9f40-112233445566"
)

var (
	buildOnce sync.Once
	buildDir  string
	pluginBin string
	taskBin   string // linux binary for this machine's arch
	// embeds is what the plugin embeds: name in embedded/ -> file.
	embeds   map[string]string
	buildErr error
)

// build builds the task binaries and the plugin with them embedded, as
// `make plugin` ships them (internal/testsupport/pluginbuild). Cached by the go build
// cache across runs.
func build(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the plugin and task binaries")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "esxi-users-test-")
		if buildErr != nil {
			return
		}
		var b *pluginbuild.Build
		if b, buildErr = pluginbuild.All(buildDir); buildErr != nil {
			return
		}
		pluginBin, taskBin, embeds = b.Plugin, b.Task[runtime.GOARCH], b.Embeds
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

type world struct {
	fake   *drpfake.Server
	sim    *esxsim.Server
	plugin *drpfake.Plugin
	dir    string
	// token is what {{.GenerateToken}} renders for machineUUID: the ESXi
	// script's token.
	token string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	build(t)
	sim, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	fake := drpfake.NewForPack(t)
	// Unix socket paths must be short: use a short temp dir.
	dir, err := os.MkdirTemp("", "eu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := fake.AddMachine(machineUUID, "esx01", ""); err != nil {
		t.Fatal(err)
	}
	pw, _ := sim.URL.User.Password()
	for k, v := range map[string]any{
		content.ParamServer: sim.URL.Host, content.ParamThumbprint: sim.Thumbprint, content.ParamPassword: pw,
		content.ParamUsers: []any{
			map[string]any{"id": "user1", "operation": "add", "description": "User One", "password": canary, "role": "Admin"},
			map[string]any{"id": "user2", "operation": "set", "password": canary, "role": "ReadOnly"},
			map[string]any{"id": "dcui", "operation": "remove"},
			map[string]any{"id": "user1", "operation": "set", "password": canary, "role": "NoAccess"},
		},
	} {
		if err := fake.SetParam(machineUUID, k, v); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := fake.StartPlugin(ctx, pluginBin, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &world{fake: fake, sim: sim, plugin: p, dir: dir, token: fake.GenerateToken(machineUUID)}
}

func (w *world) checkApplied(t *testing.T) tasks.Report {
	t.Helper()
	users := w.sim.Users()
	if d, ok := users["user1"]; !ok || d != params.DefaultDescription {
		t.Errorf("user1 on host: %q %v (set without description resets it to the default)", d, ok)
	}
	if _, ok := users["user2"]; !ok {
		t.Error("user2 not on host")
	}
	if _, ok := users["dcui"]; !ok {
		t.Error("dcui was removed")
	}
	v := w.fake.Param(machineUUID, content.ParamReport)
	b, _ := json.Marshal(v)
	if v == nil || bytes.Contains(b, []byte(canary)) {
		t.Fatalf("report param: %s", b)
	}
	t.Logf("%s: %s", content.ParamReport, b)
	var r tasks.Report
	json.Unmarshal(b, &r)
	if !r.OK || len(r.Results) != 4 || r.Results[2].Outcome != tasks.Ignored {
		t.Errorf("report = %s", b)
	}
	return r
}

func (w *world) noCanary(t *testing.T, where string, s string) {
	t.Helper()
	if strings.Contains(s, canary) {
		t.Fatalf("the canary password appears in %s", where)
	}
}

func (w *world) logText() string {
	var b strings.Builder
	for _, l := range w.plugin.Logs() {
		fmt.Fprintf(&b, "%s %s\n", l.Level, l.Message)
	}
	return b.String()
}

func TestDefine(t *testing.T) {
	build(t)
	def, raw, err := drpfake.Define(context.Background(), pluginBin, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	if def.Name != "esxi-users" || def.PluginVersion != 4 || !def.AutoStart || def.HasPublish {
		t.Errorf("def = %+v", def)
	}
	if len(def.AvailableActions) != 2 {
		t.Fatalf("actions = %+v", def.AvailableActions)
	}
	a := def.AvailableActions[0]
	if a.Model != "machines" || a.Command != content.ActionName ||
		strings.Join(a.RequiredParams, ",") != strings.Join(content.RequiredParams(), ",") ||
		strings.Join(a.OptionalParams, ",") != strings.Join(content.OptionalParams(), ",") {
		t.Errorf("action = %+v", a)
	}
	// The destination check reads the machine's Params itself: DRP fills
	// it none.
	if d := def.AvailableActions[1]; d.Model != "machines" || d.Command != content.DestinationActionName || len(d.RequiredParams)+len(d.OptionalParams) != 0 {
		t.Errorf("destination action = %+v", d)
	}
	// The bundle loads with models as DRP loads it.
	st, err := def.Store()
	if err != nil {
		t.Fatalf("Content does not load: %v", err)
	}
	var c models.Content
	if err := c.FromStore(st); err != nil {
		t.Fatal(err)
	}
	for section, keys := range map[string][]string{"params": {content.ParamUsers}, "tasks": {content.TaskName, content.AgentTaskName},
		"stages": {content.StageName, content.AgentStageName}, "workflows": {content.WorkflowName, content.AgentWorkflowName},
		"templates": {content.AgentTemplate, content.ESXiTemplate, content.ActionTemplate, content.DigestTemplate}} {
		for _, key := range keys {
			if _, ok := c.Sections[section][key]; !ok {
				t.Errorf("bundle lacks %s/%s", section, key)
			}
		}
	}
	// The pack pins the digests of the binaries this plugin embeds (and
	// unpack publishes): the Go-agent template compares with them.
	var dt models.Template
	if err := models.Remarshal(c.Sections["templates"][content.DigestTemplate], &dt); err != nil {
		t.Fatal(err)
	}
	for _, arch := range Arches {
		bin, err := os.ReadFile(filepath.Join(buildDir, BinaryName(arch)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(bin)
		if want := "sha256_" + arch + `="` + hex.EncodeToString(sum[:]) + `"`; !strings.Contains(dt.Contents, want) {
			t.Errorf("defined digest template lacks %s:\n%s", want, dt.Contents)
		}
	}
	if len(c.Sections["params"]) != len(content.OwnParams) {
		t.Errorf("bundle has %d params", len(c.Sections["params"]))
	}
	if bytes.Contains(raw, []byte(canary)) {
		t.Fatal("canary in define")
	}
}

func TestUnpackWithoutBinariesFails(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin without its task binaries")
	}
	// A plugin built from a fresh clone (no binaries in embedded/).
	dir := t.TempDir()
	bin := filepath.Join(dir, "esxi-users")
	if err := pluginbuild.Plugin(dir, bin, nil); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "unpack", filepath.Join(dir, "unpacked")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "esxi-manage-users.amd64.linux was not embedded") {
		t.Fatalf("unpack: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "unpacked", BinaryName("amd64"))); err == nil {
		t.Fatal("unpack wrote a binary it does not have")
	}
}

// A plugin whose embedded blob was damaged (truncated) after `make plugin`
// recorded its digest neither defines nor unpacks, and says which file.
func TestUnpackTruncatedBlobFails(t *testing.T) {
	build(t)
	dir := t.TempDir()
	embed := maps.Clone(embeds)
	gz, err := os.ReadFile(embed[compressedName("amd64")])
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, compressedName("amd64"))
	os.WriteFile(cut, gz[:len(gz)*9/10], 0o644)
	embed[compressedName("amd64")] = cut
	bin := filepath.Join(dir, "esxi-users")
	if err := pluginbuild.Plugin(dir, bin, embed); err != nil {
		t.Fatal(err)
	}
	unpacked := filepath.Join(dir, "unpacked")
	os.Mkdir(unpacked, 0o755)
	for _, args := range [][]string{{"unpack", unpacked}, {"define"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "embedded esxi-manage-users.amd64.linux.gz is corrupt") ||
			strings.Contains(string(out), "esxi-users: esxi-users:") {
			t.Fatalf("%s: %v\n%s", args[0], err, out)
		}
		t.Logf("%s: %s", args[0], bytes.TrimSpace(out))
	}
	if entries, _ := os.ReadDir(unpacked); len(entries) != 0 {
		t.Fatalf("unpack left %v", entries)
	}
}

func TestPluginProtocol(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()

	// Unpacked files and their checksums.
	root := filepath.Join(w.dir, "files", "plugin_providers", "esxi-users")
	for _, arch := range Arches {
		bin, err := os.ReadFile(filepath.Join(root, BinaryName(arch)))
		if err != nil || len(bin) < 1<<20 {
			t.Fatalf("unpacked %s: %v (%d bytes)", arch, err, len(bin))
		}
		sum, _ := os.ReadFile(filepath.Join(root, BinaryName(arch)+".sha256"))
		if !strings.HasSuffix(strings.TrimSpace(string(sum)), "  "+BinaryName(arch)) {
			t.Errorf("sha256 file: %q", sum)
		}
	}

	// The action, as DRP sends it: the machine as Model, Params decrypted.
	pw, _ := w.sim.URL.User.Password()
	action := models.Action{
		Model: map[string]any{"Uuid": machineUUID, "Name": "esx01"}, Plugin: "esxi-users", Command: content.ActionName,
		Params: map[string]any{
			content.ParamServer: w.sim.URL.Host, content.ParamThumbprint: w.sim.Thumbprint, content.ParamPassword: pw,
			content.ParamUsers: []any{
				map[string]any{"id": "user1", "operation": "add", "description": "User One", "password": canary, "role": "Admin"},
				map[string]any{"id": "user2", "operation": "set", "password": canary, "role": "ReadOnly"},
				map[string]any{"id": "dcui", "operation": "remove"},
				map[string]any{"id": "user1", "operation": "set", "password": canary, "role": "NoAccess"},
			},
		},
	}
	code, body, err := w.plugin.Post(ctx, "/api-plugin/v4/action", action)
	if err != nil || code != http.StatusOK {
		t.Fatalf("action: %d %s %v\n%s", code, body, err, w.plugin.Output())
	}
	w.noCanary(t, "the action response", string(body))
	var r tasks.Report
	if err := json.Unmarshal(body, &r); err != nil || !r.OK {
		t.Fatalf("response %s: %v", body, err)
	}
	w.checkApplied(t)
	logs := w.logText()
	for _, want := range []string{`entry 1 (id "user1", add): created role=Admin`, `entry 3 (id "dcui", remove): ignored`} {
		if !strings.Contains(logs, want) {
			t.Errorf("plugin log lacks %q:\n%s", want, logs)
		}
	}

	// Invalid input: 400 naming the entry, nothing applied. (The action
	// applies the machine's own Params: change them there.)
	action.Params[content.ParamUsers] = []any{
		map[string]any{"id": "user9", "operation": "add", "password": canary, "role": "Admin"},
		map[string]any{"id": "user3", "operation": "set", "password": canary, "role": "Owner"},
	}
	w.setParams(t, machineUUID, action.Params)
	code, body, _ = w.plugin.Post(ctx, "/api-plugin/v4/action", action)
	var merr models.Error
	json.Unmarshal(body, &merr)
	if code != 400 || merr.Code != 400 || !strings.Contains(string(body), `entry 2 (id \"user3\", set): role \"Owner\" is not one of Admin, ReadOnly, NoAccess`) {
		t.Errorf("bad input: %d %s", code, body)
	}
	w.noCanary(t, "the 400 response", string(body))
	if _, ok := w.sim.Users()["user9"]; ok {
		t.Error("user9 created from an invalid list")
	}

	// Host refuses login: 502.
	action.Params[content.ParamUsers] = []any{}
	action.Params[content.ParamPassword] = "not-the-" + canary
	w.setParams(t, machineUUID, action.Params)
	code, body, _ = w.plugin.Post(ctx, "/api-plugin/v4/action", action)
	if code != 502 {
		t.Errorf("bad login: %d %s", code, body)
	}
	w.noCanary(t, "the 502 response", string(body))

	// An action whose Params differ from the machine's: 400, nothing
	// contacted (a caller cannot redirect the password or the list).
	logins := w.sim.Logins()
	action.Params[content.ParamPassword] = pw
	action.Params[content.ParamUsers] = []any{map[string]any{"id": "evil", "operation": "add", "password": canary, "role": "Admin"}}
	code, body, _ = w.plugin.Post(ctx, "/api-plugin/v4/action", action)
	if code != 400 || !strings.Contains(string(body), content.ParamPassword) || !strings.Contains(string(body), content.ParamUsers) ||
		!strings.Contains(string(body), "differ from the machine's") {
		t.Errorf("override: %d %s", code, body)
	}
	w.noCanary(t, "the override response", string(body))
	if w.sim.Logins() != logins {
		t.Error("the host was contacted for a refused override")
	}

	// Unknown command: 404. Wrong content type: 400.
	action.Command = "frobnicate"
	if code, body, _ = w.plugin.Post(ctx, "/api-plugin/v4/action", action); code != 404 {
		t.Errorf("unknown command: %d %s", code, body)
	}
	if code, _, _ = w.plugin.PostRaw(ctx, "/api-plugin/v4/action", "text/plain", []byte("{}")); code != 400 {
		t.Errorf("text/plain: %d", code)
	}

	w.noCanary(t, "the plugin log", w.logText())
	if err := w.plugin.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	w.noCanary(t, "the plugin's stdout/stderr", w.plugin.Output())
}

// drpData is what DRP's template renderer offers, as far as the templates use it.
type drpData struct {
	ProvisionerURL, ApiURL string
	Machine                struct{ UUID string }
	token                  string
	params                 map[string]any
}

func (d *drpData) GenerateToken() string { return d.token }
func (d *drpData) Param(name string) any { return d.params[name] }
func (d *drpData) ParamExists(name string) bool {
	_, ok := d.params[name]
	return ok
}

// render renders template id of the content pack a plugin defined (the
// PluginProvider's Content, digests pinned), with every template of the
// pack available to {{template}} by ID, as DRP renders them.
func render(t *testing.T, def *models.PluginProvider, id string, d *drpData) string {
	t.Helper()
	var c struct {
		Sections map[string]map[string]json.RawMessage `json:"sections"`
	}
	if err := json.Unmarshal([]byte(def.Content), &c); err != nil {
		t.Fatal(err)
	}
	set := template.New("").Option("missingkey=error")
	for key, raw := range c.Sections["templates"] {
		var tm models.Template
		if err := json.Unmarshal(raw, &tm); err != nil {
			t.Fatal(err)
		}
		if _, err := set.New(key).Parse(tm.Contents); err != nil {
			t.Fatalf("template %s: %v", key, err)
		}
	}
	var b bytes.Buffer
	if err := set.ExecuteTemplate(&b, id, d); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// setParams stores Params on a machine of the fake (nil deletes).
func (w *world) setParams(t *testing.T, uuid string, vals map[string]any) {
	t.Helper()
	for k, v := range vals {
		if err := w.fake.SetParam(uuid, k, v); err != nil {
			t.Fatal(err)
		}
	}
}

func (w *world) data(token string) *drpData {
	d := &drpData{ProvisionerURL: w.fake.ProvisionerURL(), ApiURL: w.fake.Endpoint(), token: token, params: map[string]any{}}
	d.Machine.UUID = machineUUID
	return d
}

func TestESXiTemplateEndToEnd(t *testing.T) {
	missing.File(t, "/usr/bin/python3", "apt-get install python3")
	w := newWorld(t)
	script := render(t, &w.plugin.Def, content.ESXiTemplate, w.data(w.token))
	w.noCanary(t, "the rendered ESXi template", script)
	path := filepath.Join(w.dir, "esxi-manage-users.py")
	os.WriteFile(path, []byte(script), 0o755)
	cmd := exec.Command("/usr/bin/python3", path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s\nplugin:\n%s", err, out, w.plugin.Output())
	}
	w.noCanary(t, "the job log", string(out))
	for _, want := range []string{`entry 1 ("user1", add): created role=Admin`, "report: {"} {
		if !strings.Contains(strings.ReplaceAll(string(out), "id ", ""), want) {
			t.Errorf("job log lacks %q:\n%s", want, out)
		}
	}
	w.checkApplied(t)
	w.noCanary(t, "the plugin log", w.logText())

	// A failing run exits non-zero and prints DRP's error.
	w.fake.SetParam(machineUUID, content.ParamUsers, []any{map[string]any{"id": "x y", "operation": "remove"}})
	out, err = exec.Command("/usr/bin/python3", path).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "HTTP 400") {
		t.Errorf("invalid list: %v\n%s", err, out)
	}
}

// agentWorld is newWorld for a test that runs the Go-agent template (bash,
// curl, sha256sum and awk, and the linux task binary), with the task's
// directory.
func agentWorld(t *testing.T) (*world, string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the Go-agent template runs the linux task binary")
	}
	for _, tool := range []string{"bash", "curl", "sha256sum", "awk"} {
		missing.LookPath(t, tool, "apt-get install "+tool)
	}
	w := newWorld(t)
	taskDir := filepath.Join(w.dir, "task")
	if err := os.MkdirAll(taskDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return w, taskDir
}

func TestGoAgentTemplateEndToEnd(t *testing.T) {
	w, taskDir := agentWorld(t)
	token, err := w.fake.JobToken(machineUUID, content.AgentTaskName)
	if err != nil {
		t.Fatal(err)
	}
	script := render(t, &w.plugin.Def, content.AgentTemplate, w.data("unused"))
	w.noCanary(t, "the rendered Go-agent template", script)
	path := filepath.Join(taskDir, "esxi-manage-users.sh")
	os.WriteFile(path, []byte(script), 0o755)
	cmd := exec.Command("bash", path)
	cmd.Env = append(os.Environ(), "RS_ENDPOINT="+w.fake.Endpoint(), "RS_TOKEN="+token,
		"RS_UUID="+machineUUID, "RS_TASK_DIR="+taskDir, "RS_RUNNER_DIR="+w.dir)
	out, err := cmd.CombinedOutput()
	// The agent streams the output into the job log.
	jobLog(t, w, token, out)
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	log := w.fake.JobLog(w.fake.CurrentJob(machineUUID))
	w.noCanary(t, "the job log", log)
	if !strings.Contains(log, `entry 1 (id "user1", add): created role=Admin`) {
		t.Errorf("job log:\n%s", log)
	}
	w.checkApplied(t)
}

// jobLog PUTs b to the machine's job log with the job's token, as the Go
// agent does.
func jobLog(t *testing.T, w *world, token string, b []byte) {
	req, _ := http.NewRequest(http.MethodPut, w.fake.Endpoint()+"/api/v3/jobs/"+w.fake.CurrentJob(machineUUID)+"/log", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := w.fake.API.Client().Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("job log PUT: %v %v", err, resp)
	}
	resp.Body.Close()
}
