package content

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/digitalrebar/provision/v4/models"
	"github.com/digitalrebar/provision/v4/store"
	"github.com/xeipuuv/gojsonschema"
	"go.yaml.in/yaml/v3"

	"github.com/esxi-users/esxi-users/params"
)

func TestConstantsNameParamsInThePack(t *testing.T) {
	names := ParamNames()
	own := slices.Clone(OwnParams)
	sort.Strings(own)
	if !slices.Equal(names, own) {
		t.Fatalf("Params in the pack = %v\nOwnParams          = %v", names, own)
	}
	for _, n := range OwnParams {
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
	if slices.Contains(names, ParamInsecurePassword) {
		t.Errorf("%s is RackN's Param and must not be redefined here", ParamInsecurePassword)
	}
}

func TestTaskParamListsAreTheConstants(t *testing.T) {
	task, err := Task()
	if err != nil {
		t.Fatal(err)
	}
	wantReq := []string{ParamUsers}
	wantOpt := []string{ParamIgnoreList, ParamServer, ParamUsername, ParamPassword, ParamThumbprint,
		ParamInsecure, ParamPasswordPolicy, ParamSkipPasswordCheck, ParamPassThrough, ParamPassThroughPkg,
		ParamSPN, ParamViHost, ParamInsecurePassword}
	if !slices.Equal(task.RequiredParams, wantReq) {
		t.Errorf("RequiredParams = %v, want %v", task.RequiredParams, wantReq)
	}
	if !slices.Equal(task.OptionalParams, wantOpt) {
		t.Errorf("OptionalParams = %v, want %v", task.OptionalParams, wantOpt)
	}
	// Every Param but the report (an output) is an input of the task.
	all := append(slices.Clone(task.RequiredParams), task.OptionalParams...)
	for _, n := range OwnParams {
		if n == ParamReport {
			if slices.Contains(all, n) {
				t.Errorf("%s is written by the task, not read", n)
			}
			continue
		}
		if !slices.Contains(all, n) {
			t.Errorf("task does not list %s", n)
		}
	}
	if !slices.Equal(RequiredParams(), wantReq) || !slices.Equal(OptionalParams(), wantOpt) {
		t.Errorf("RequiredParams()/OptionalParams() disagree with the task")
	}
}

func TestTaskShape(t *testing.T) {
	task, err := Task()
	if err != nil {
		t.Fatal(err)
	}
	task.Validate()
	if err := task.HasError(); err != nil {
		t.Fatalf("models.Task.Validate: %v", err)
	}
	if task.Meta["feature-flags"] != "sane-exit-codes" {
		t.Errorf("Meta feature-flags = %q", task.Meta["feature-flags"])
	}
	var getSecure, action bool
	for _, c := range task.ExtraClaims {
		getSecure = getSecure || (c.Scope == "machines" && c.Action == "getSecure" && c.Specific == "*")
		action = action || (c.Scope == "machines" && c.Action == "action:"+ActionName)
	}
	if !getSecure || !action {
		t.Errorf("ExtraClaims %v: need machines getSecure * and action:%s", task.ExtraClaims, ActionName)
	}
	oses := map[string]string{}
	for _, tm := range task.Templates {
		body, err := Template(tm.ID)
		if err != nil {
			t.Fatal(err)
		}
		oses[tm.Meta["OS"]] = body
		if tm.Path != "" {
			t.Errorf("template %s: Path %q, want a script", tm.Name, tm.Path)
		}
	}
	if !strings.Contains(oses["linux"], "apply --from-drp") || !strings.Contains(oses["esxi"], "/actions/"+ActionName) {
		t.Errorf("templates by OS: %v", oses)
	}
	c, _ := Bundle()
	if _, ok := c.Sections["stages"][StageName]; !ok {
		t.Error("no stage")
	}
	if _, ok := c.Sections["workflows"][WorkflowName]; !ok {
		t.Error("no workflow")
	}
	if c.Meta.Name != PackName {
		t.Errorf("meta Name %q", c.Meta.Name)
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string
	}{
		{ParamUsers, "[]"},
		{ParamIgnoreList, "[root dcui]"},
		{ParamUsername, "root"},
		{ParamInsecure, "false"},
		{ParamSkipPasswordCheck, "false"},
		{ParamPassThrough, "false"},
		{ParamPassThroughPkg, "Negotiate"},
	} {
		v, ok := Default(tc.name)
		if !ok {
			t.Errorf("%s: no default", tc.name)
			continue
		}
		if got := strings.TrimSpace(strings.ReplaceAll(strings.Trim(sprint(v), "\n"), "\n", " ")); got != tc.want {
			t.Errorf("%s default = %s, want %s", tc.name, got, tc.want)
		}
	}
	for _, n := range []string{ParamServer, ParamPassword, ParamThumbprint, ParamPasswordPolicy, ParamReport} {
		if _, ok := Default(n); ok {
			t.Errorf("%s should have no default", n)
		}
	}
	if !IsSecure(ParamUsers) || !IsSecure(ParamPassword) || IsSecure(ParamServer) {
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
	schema, ok := Schema(ParamUsers)
	if !ok {
		t.Fatal("no schema")
	}
	compiled, err := gojsonschema.NewSchema(gojsonschema.NewGoLoader(schema))
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	for _, dir := range []string{"valid", "invalid"} {
		paths, _ := filepath.Glob(filepath.Join("testdata", dir, "*"))
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
	def, _ := Default(ParamUsers)
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
	cmd.Dir = "."
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
	for _, s := range Sections {
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
	if len(got.Sections) != len(Sections) {
		t.Errorf("drpcli bundled sections %d, want %d (testdata must not be bundled)", len(got.Sections), len(Sections))
	}
	// Objects decode into their models and validate.
	var p models.Param
	if err := models.Remarshal(got.Sections["params"][ParamUsers], &p); err != nil {
		t.Fatal(err)
	}
	if !p.Secure || p.Schema == nil {
		t.Errorf("bundled %s: Secure=%v Schema=%v", ParamUsers, p.Secure, p.Schema)
	}
	var task models.Task
	if err := models.Remarshal(got.Sections["tasks"][TaskName], &task); err != nil {
		t.Fatal(err)
	}
	if len(task.Templates) != 2 || len(task.ExtraClaims) == 0 {
		t.Errorf("bundled task: %+v", task)
	}
}

// drpcliBinary returns bin/drpcli when make built it, else builds it.
func drpcliBinary(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "windows" {
		if p, err := filepath.Abs("../bin/drpcli"); err == nil {
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
