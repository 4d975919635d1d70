package pack

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/digitalrebar/provision/v4/models"
	"github.com/digitalrebar/provision/v4/store"
	"github.com/xeipuuv/gojsonschema"
	"go.yaml.in/yaml/v3"

	"github.com/esxi-users/esxi-users/content"
	"github.com/esxi-users/esxi-users/params"
)

func TestConstantsNameParamsInThePack(t *testing.T) {
	names := ParamNames()
	own := slices.Clone(content.OwnParams)
	sort.Strings(own)
	if !slices.Equal(names, own) {
		t.Fatalf("Params in the pack = %v\nOwnParams          = %v", names, own)
	}
	for _, n := range content.OwnParams {
		p, err := Param(n)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != n {
			t.Errorf("Param key %q has Name %q", n, p.Name)
		}
		if p.Documentation == "" || p.Description == "" || p.Schema == nil {
			t.Errorf("%s: needs Description, Documentation and Schema", n)
		}
		p.Validate()
		if err := p.HasError(); err != nil {
			t.Errorf("%s: models.Param.Validate: %v", n, err)
		}
	}
	if slices.Contains(names, content.ParamInsecurePassword) {
		t.Errorf("%s is RackN's Param and must not be redefined here", content.ParamInsecurePassword)
	}
}

func TestTaskParamListsAreTheConstants(t *testing.T) {
	agent, err := Task(content.AgentTaskName)
	if err != nil {
		t.Fatal(err)
	}
	wantReq := []string{content.ParamUsers}
	wantOpt := []string{content.ParamIgnoreList, content.ParamServer, content.ParamUsername, content.ParamPassword, content.ParamThumbprint,
		content.ParamInsecure, content.ParamPasswordPolicy, content.ParamSkipPasswordCheck, content.ParamPassThrough, content.ParamPassThroughPkg,
		content.ParamSPN, content.ParamViHost, content.ParamAllowSelfLockout, content.ParamInsecurePassword}
	if !slices.Equal(agent.RequiredParams, wantReq) {
		t.Errorf("RequiredParams = %v, want %v", agent.RequiredParams, wantReq)
	}
	if !slices.Equal(agent.OptionalParams, wantOpt) {
		t.Errorf("OptionalParams = %v, want %v", agent.OptionalParams, wantOpt)
	}
	// The default task lists the same inputs (the action reads them) and
	// the DRP certificate pin its ESXi template renders.
	def, err := Task(content.TaskName)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(def.RequiredParams, wantReq) || !slices.Equal(def.OptionalParams, append(slices.Clone(wantOpt), content.ParamDRPCertSHA256)) {
		t.Errorf("%s: Required %v Optional %v", content.TaskName, def.RequiredParams, def.OptionalParams)
	}
	// Every Param but the report (an output), the pin, the destination
	// store's and the plugin's own settings is an input of a run.
	all := append(slices.Clone(agent.RequiredParams), agent.OptionalParams...)
	for _, n := range content.OwnParams {
		if n == content.ParamReport || n == content.ParamDRPCertSHA256 || slices.Contains(content.StoreParams, n) || slices.Contains(content.PluginParams, n) {
			if slices.Contains(all, n) {
				t.Errorf("%s is not an input of a run", n)
			}
			continue
		}
		if !slices.Contains(all, n) {
			t.Errorf("task does not list %s", n)
		}
	}
	if !slices.Equal(content.RequiredParams(), wantReq) || !slices.Equal(content.OptionalParams(), wantOpt) {
		t.Errorf("RequiredParams()/OptionalParams() disagree with the task")
	}
}

// runBound is the plugin's run limit (drp.RunTimeout, 30 minutes: this
// package cannot import internal/drp; internal/drp's tests check the
// templates' timeouts against the real value).
const runBound = 30 * 60

func TestTaskShape(t *testing.T) {
	for _, name := range []string{content.TaskName, content.AgentTaskName} {
		task, err := Task(name)
		if err != nil {
			t.Fatal(err)
		}
		task.Validate()
		if err := task.HasError(); err != nil {
			t.Fatalf("%s: models.Task.Validate: %v", name, err)
		}
		if task.Meta["feature-flags"] != "sane-exit-codes" {
			t.Errorf("%s: Meta feature-flags = %q", name, task.Meta["feature-flags"])
		}
		for _, tm := range task.Templates {
			if _, err := Template(tm.ID); err != nil {
				t.Fatal(err)
			}
			if tm.Path != "" {
				t.Errorf("template %s: Path %q, want a script", tm.Name, tm.Path)
			}
		}
	}
	c, _ := Bundle()
	for _, k := range []string{content.StageName, content.AgentStageName} {
		if _, ok := c.Sections["stages"][k]; !ok {
			t.Errorf("no stage %s", k)
		}
	}
	for _, k := range []string{content.WorkflowName, content.AgentWorkflowName} {
		if _, ok := c.Sections["workflows"][k]; !ok {
			t.Errorf("no workflow %s", k)
		}
	}
	if c.Meta.Name != content.PackName {
		t.Errorf("meta Name %q", c.Meta.Name)
	}
}

// TestTokenClaims checks what the tasks ask of DRP's tokens: no task adds a claim (the default machine claims authorise the
// action's POST and the decoded read, for the job's own machine only) or a
// role, no claim in the pack names every object ("*"), and no task sets a
// field the SDK's models.Task lacks (ExtraDuration among them: the SDK,
// drpcli's bundle and servers that do not know a field drop it without a
// word). The docs say what the rendered token can do, not what it cannot.
func TestTokenClaims(t *testing.T) {
	def, err := Task(content.TaskName)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := Task(content.AgentTaskName)
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range []*models.Task{def, agent} {
		if len(ts.ExtraClaims) != 0 || len(ts.ExtraRoles) != 0 {
			t.Errorf("%s: ExtraClaims %v, ExtraRoles %v; want none", ts.Name, ts.ExtraClaims, ts.ExtraRoles)
		}
		for _, c := range ts.ExtraClaims {
			if slices.Contains(strings.Split(c.Specific, ","), "*") || strings.TrimSpace(c.Specific) == "*" {
				t.Errorf("%s: claim %s names every object", ts.Name, c)
			}
		}
		if !strings.Contains(ts.Documentation, "no ``ExtraClaims``") {
			t.Errorf("%s: Documentation does not say the task adds no claim", ts.Name)
		}
	}
	// Every field of the task files survives a trip through models.Task.
	for _, name := range TaskNames() {
		b, err := fs.ReadFile(content.FS(), "tasks/"+name+".yaml")
		if err != nil {
			t.Fatal(err)
		}
		var raw, kept map[string]any
		var task models.Task
		if err := yaml.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		if err := store.YamlCodec.Decode(b, &task); err != nil {
			t.Fatal(err)
		}
		if err := models.Remarshal(&task, &kept); err != nil {
			t.Fatal(err)
		}
		for k := range raw {
			if _, ok := kept[k]; !ok {
				t.Errorf("tasks/%s.yaml: field %s is not in the SDK's models.Task: DRP would drop it", name, k)
			}
		}
	}
	// What the rendered token can do is said; no text says it cannot read
	// Secure Params or change what is applied.
	for _, want := range []string{"knownTokenTimeout", ".GenerateInfiniteToken", "decode=true", "any plugin action"} {
		if !strings.Contains(def.Documentation, want) {
			t.Errorf("%s: Documentation does not mention %q", def.Name, want)
		}
	}
	texts := map[string]string{def.Name: def.Documentation, agent.Name: agent.Documentation}
	c, _ := Bundle()
	for name, st := range c.Sections["stages"] {
		texts["stage "+name] = st.(*models.Stage).Documentation
	}
	for _, id := range []string{content.ESXiTemplate, content.ActionTemplate, content.AgentTemplate} {
		texts[id], _ = Template(id)
	}
	for where, text := range texts {
		flat := strings.Join(strings.Fields(text), " ")
		for _, bad := range []string{"cannot read any Secure", "cannot decrypt", "token that can read one", "cannot read a secret", "getSecure claim"} {
			if strings.Contains(flat, bad) {
				t.Errorf("%s says %q", where, bad)
			}
		}
	}
	// Templates by task and OS: the ESXi template belongs to the default
	// task, and the agent task has no ESXi template.
	oses := func(ts *models.Task) map[string]string {
		m := map[string]string{}
		for _, tm := range ts.Templates {
			m[tm.Meta["OS"]] = tm.ID
		}
		return m
	}
	if got := oses(def); got["esxi"] != content.ESXiTemplate || got["linux"] != content.ActionTemplate || len(got) != 2 {
		t.Errorf("%s templates by OS = %v", content.TaskName, got)
	}
	if got := oses(agent); got["linux"] != content.AgentTemplate || len(got) != 1 {
		t.Errorf("%s templates by OS = %v", content.AgentTaskName, got)
	}
	// The scripts that run under the default task post the action and
	// nothing else: no decode=true, no Param read, no secret rendered.
	for _, id := range []string{content.ESXiTemplate, content.ActionTemplate} {
		body, _ := Template(id)
		if !strings.Contains(body, "/actions/"+content.ActionName+"?plugin="+content.PluginName) {
			t.Errorf("%s does not post the action", id)
		}
		for _, bad := range []string{"decode=true", "/params", `.Param "esxi/manage-users"`, `.Param "esxi/manage-users-password"`, "GenerateInfiniteToken"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", id, bad)
			}
		}
	}
	// A stage holds only one of the tasks: the agent task must not share a
	// stage (and thus an ESXi machine's task list) with the default task.
	for name, want := range map[string][]string{content.StageName: {content.TaskName}, content.AgentStageName: {content.AgentTaskName}} {
		st := c.Sections["stages"][name].(*models.Stage)
		if !slices.Equal(st.Tasks, want) {
			t.Errorf("stage %s Tasks = %v, want %v", name, st.Tasks, want)
		}
	}
}

// TestTimeoutsExceedTheRunLimit: the scripts wait longer for the action's
// answer than a run may last, so a run in progress is never abandoned.
func TestTimeoutsExceedTheRunLimit(t *testing.T) {
	re := regexp.MustCompile(`(?m)^(?:TIMEOUT|timeout)=\s*(\d+)`)
	for _, id := range []string{content.ESXiTemplate, content.ActionTemplate} {
		body, _ := Template(id)
		m := re.FindStringSubmatch(strings.ReplaceAll(body, "TIMEOUT = ", "TIMEOUT="))
		if m == nil {
			t.Fatalf("%s: no timeout", id)
		}
		n, _ := strconv.Atoi(m[1])
		if n <= runBound {
			t.Errorf("%s: timeout %d s does not exceed the run limit %d s", id, n, runBound)
		}
	}
}

// TestDigestTemplate: the pack's own copy pins nothing (the agent script
// then refuses to run); Digests pins what it is given; the bundle the plugin
// publishes carries them.
func TestDigestTemplate(t *testing.T) {
	src, err := Template(content.DigestTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(src, `sha256_amd64=""`) || !strings.Contains(src, `sha256_arm64=""`) {
		t.Errorf("the pack's digest template pins something:\n%s", src)
	}
	agent, _ := Template(content.AgentTemplate)
	if !strings.Contains(agent, `{{template "`+content.DigestTemplate+`" .}}`) {
		t.Errorf("%s does not include %s", content.AgentTemplate, content.DigestTemplate)
	}
	d := map[string]string{"amd64": strings.Repeat("ab", 32), "arm64": strings.Repeat("cd", 32)}
	b, err := BundleJSONWithDigests("v9.9.9", d)
	if err != nil {
		t.Fatal(err)
	}
	var got models.Content
	if err := store.JsonCodec.Decode(b, &got); err != nil {
		t.Fatal(err)
	}
	var tmpl models.Template
	if err := models.Remarshal(got.Sections["templates"][content.DigestTemplate], &tmpl); err != nil {
		t.Fatal(err)
	}
	for a, h := range d {
		if !strings.Contains(tmpl.Contents, "sha256_"+a+`="`+h+`"`) {
			t.Errorf("published digest template lacks %s:\n%s", a, tmpl.Contents)
		}
	}
	// The embedded pack itself is unchanged.
	if again, _ := Template(content.DigestTemplate); again != src {
		t.Error("BundleJSONWithDigests changed the loaded pack")
	}
	if _, err := BundleJSONWithDigests("v1", map[string]string{"amd64": "not-hex"}); err == nil {
		t.Error("a malformed digest was accepted")
	}
	// The published tasks add no claims.
	for _, name := range TaskNames() {
		var task models.Task
		if err := models.Remarshal(got.Sections["tasks"][name], &task); err != nil {
			t.Fatal(err)
		}
		if len(task.ExtraClaims) != 0 || len(task.Templates) == 0 {
			t.Errorf("published task %s: %+v", name, task)
		}
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string
	}{
		{content.ParamUsers, "[]"},
		{content.ParamIgnoreList, "[root dcui]"},
		{content.ParamUsername, "root"},
		{content.ParamInsecure, "false"},
		{content.ParamSkipPasswordCheck, "false"},
		{content.ParamPassThrough, "false"},
		{content.ParamPassThroughPkg, "Negotiate"},
		{content.ParamAllowSelfLockout, "false"},
	} {
		v, ok := content.Default(tc.name)
		if !ok {
			t.Errorf("%s: no default", tc.name)
			continue
		}
		if got := strings.TrimSpace(strings.ReplaceAll(strings.Trim(sprint(v), "\n"), "\n", " ")); got != tc.want {
			t.Errorf("%s default = %s, want %s", tc.name, got, tc.want)
		}
	}
	for _, n := range []string{content.ParamServer, content.ParamPassword, content.ParamThumbprint, content.ParamPasswordPolicy, content.ParamReport, content.ParamDRPCertSHA256} {
		if _, ok := content.Default(n); ok {
			t.Errorf("%s should have no default", n)
		}
	}
	// content reads the defaults without the SDK: they are what the SDK's
	// models.Param.DefaultValue reads, for every Param of the pack.
	for _, n := range ParamNames() {
		p, err := Param(n)
		if err != nil {
			t.Fatal(err)
		}
		want, wantOK := p.DefaultValue()
		got, ok := content.Default(n)
		if ok != wantOK || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: content.Default = %v, %v; models.Param.DefaultValue = %v, %v", n, got, ok, want, wantOK)
		}
	}
	if !IsSecure(content.ParamUsers) || !IsSecure(content.ParamPassword) || IsSecure(content.ParamServer) {
		t.Error("Secure flags wrong")
	}
}

func sprint(v any) string {
	switch x := v.(type) {
	case []any:
		s := make([]string, len(x))
		for i := range x {
			s[i] = sprint(x[i])
		}
		return "[" + strings.Join(s, " ") + "]"
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return "?"
}

// TestSchemaAgreesWithGoValidator runs every fixture through the Param's
// JSON Schema (gojsonschema, draft 4, what DRP's models use) and through
// params.Parse, and requires the same verdict.
func TestSchemaAgreesWithGoValidator(t *testing.T) {
	schema, ok := Schema(content.ParamUsers)
	if !ok {
		t.Fatal("no schema")
	}
	compiled, err := gojsonschema.NewSchema(gojsonschema.NewGoLoader(schema))
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	for _, dir := range []string{"valid", "invalid"} {
		paths, _ := filepath.Glob(filepath.Join("..", "..", "content", "testdata", dir, "*"))
		if len(paths) < 10 {
			t.Fatalf("only %d fixtures in %s", len(paths), dir)
		}
		for _, p := range paths {
			t.Run(dir+"/"+filepath.Base(p), func(t *testing.T) {
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				var doc any
				if err := yaml.Unmarshal(data, &doc); err != nil {
					t.Fatalf("fixture is not YAML/JSON: %v", err)
				}
				res, err := compiled.Validate(gojsonschema.NewGoLoader(doc))
				if err != nil {
					t.Fatalf("schema validate: %v", err)
				}
				_, goErr := params.Parse(data)
				wantValid := dir == "valid"
				if res.Valid() != wantValid {
					t.Errorf("JSON Schema says valid=%v, want %v: %v", res.Valid(), wantValid, res.Errors())
				}
				if (goErr == nil) != wantValid {
					t.Errorf("params.Parse says valid=%v, want %v: %v", goErr == nil, wantValid, goErr)
				}
			})
		}
	}
	// The default must satisfy the schema (DRP checks it too).
	def, _ := content.Default(content.ParamUsers)
	if res, _ := compiled.Validate(gojsonschema.NewGoLoader(def)); !res.Valid() {
		t.Errorf("default invalid: %v", res.Errors())
	}
}

// TestDrpcliBundle builds the real drpcli from the SDK, bundles this folder
// with it, and checks the result loads with models and matches Bundle().
func TestDrpcliBundle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds drpcli")
	}
	drpcli := drpcliBinary(t)
	out := filepath.Join(t.TempDir(), "esxi-users.yaml")
	cmd := exec.Command(drpcli, "contents", "bundle", out)
	cmd.Dir = "../../content"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("drpcli contents bundle: %v\n%s", err, b)
	}
	buf, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got models.Content
	if err := store.YamlCodec.Decode(buf, &got); err != nil {
		t.Fatalf("decode bundle: %v", err)
	}
	mine, err := Bundle()
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta.Name != "esxi-users" || got.Meta.Version != mine.Meta.Version || got.Meta.Prerequisites != mine.Meta.Prerequisites {
		t.Errorf("meta = %+v", got.Meta)
	}
	for _, s := range content.Sections {
		var gk, mk []string
		for k := range got.Sections[s] {
			gk = append(gk, k)
		}
		for k := range mine.Sections[s] {
			mk = append(mk, k)
		}
		sort.Strings(gk)
		sort.Strings(mk)
		if !slices.Equal(gk, mk) || len(gk) == 0 {
			t.Errorf("section %s: drpcli %v, content.Bundle %v", s, gk, mk)
		}
	}
	if len(got.Sections) != len(content.Sections) {
		t.Errorf("drpcli bundled sections %d, want %d (testdata must not be bundled)", len(got.Sections), len(content.Sections))
	}
	// Objects decode into their models and validate.
	var p models.Param
	if err := models.Remarshal(got.Sections["params"][content.ParamUsers], &p); err != nil {
		t.Fatal(err)
	}
	if !p.Secure || p.Schema == nil {
		t.Errorf("bundled %s: Secure=%v Schema=%v", content.ParamUsers, p.Secure, p.Schema)
	}
	for name, n := range map[string]int{content.TaskName: 2, content.AgentTaskName: 1} {
		var task models.Task
		if err := models.Remarshal(got.Sections["tasks"][name], &task); err != nil {
			t.Fatal(err)
		}
		if len(task.Templates) != n || len(task.ExtraClaims) != 0 {
			t.Errorf("bundled task %s: %+v", name, task)
		}
	}
}

// drpcliBinary returns bin/drpcli when make built it, else builds it.
func drpcliBinary(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "windows" {
		if p, err := filepath.Abs("../../bin/drpcli"); err == nil {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	p := filepath.Join(t.TempDir(), "drpcli")
	cmd := exec.Command("go", "build", "-o", p, "github.com/digitalrebar/provision/v4/cmds/drpcli")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build drpcli: %v\n%s", err, b)
	}
	return p
}

// TestDRPCertPinSchema: esxi/manage-users-drp-cert-sha256 takes what
// `openssl x509 -noout -fingerprint -sha256` prints (OpenSSL 3 and 1.1,
// prefix included) and nothing else, as DRP validates it (the SDK's
// backend/param.go ValidateValue: gojsonschema).
func TestDRPCertPinSchema(t *testing.T) {
	p, err := Param(content.ParamDRPCertSHA256)
	if err != nil {
		t.Fatal(err)
	}
	sch, err := gojsonschema.NewSchema(gojsonschema.NewGoLoader(p.Schema))
	if err != nil {
		t.Fatal(err)
	}
	hexes := make([]string, 32)
	for i := range hexes {
		hexes[i] = strings.ToUpper(strconv.FormatInt(int64(16+i*7), 16))
	}
	fp := strings.Join(hexes, ":")
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{fp, true}, {strings.ToLower(strings.ReplaceAll(fp, ":", "")), true}, {"sha256 Fingerprint=" + fp, true},
		{"SHA256 Fingerprint=" + fp + "\n", true}, {"", true},
		{"md5 Fingerprint=" + fp, false}, {strings.Join(hexes[:20], ":"), false}, {"sha256 Fingerprint=", false}, {`"; import os #`, false},
	} {
		res, err := sch.Validate(gojsonschema.NewGoLoader(tc.v))
		if err != nil || res.Valid() != tc.ok {
			t.Errorf("%q: valid=%v %v, want %v", tc.v, err == nil && res.Valid(), err, tc.ok)
		}
	}
}
