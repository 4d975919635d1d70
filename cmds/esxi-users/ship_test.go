package main

// What ships contains no test double: the plugin and the task binaries it
// embeds (built as mk/drp.mk builds them, with -tags $(DRP_TASK_TAGS)) link
// nothing below the folders that hold the simulators, the test support and
// the end-to-end suites; a task binary built that way says it has no
// simulator instead of starting one; and every other package of the module
// is linked by what ships, so the tree shows what ships.

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/testsupport/pluginbuild"
)

const module = "github.com/esxi-users/esxi-users"

// testDoubles are the folders what ships must not link: every package below
// one of them. The project's own are the simulator (internal/sim), the test
// support (internal/testsupport) and the end-to-end suites (test); beside
// them, govmomi's simulator (vcsim) and Toxiproxy.
var testDoubles = []string{
	module + "/internal/sim",
	module + "/internal/testsupport",
	module + "/test",
	"github.com/vmware/govmomi/simulator",
	"github.com/Shopify/toxiproxy",
}

// taskTags are the build tags mk/drp.mk builds the embedded task binaries
// with (DRP_TASK_TAGS): the tests build and check what `make plugin` ships.
var taskTags = func() string {
	tags, err := pluginbuild.TaskTags("../..")
	if err != nil {
		panic(err)
	}
	return tags
}()

// deps lists the packages pkg links when built for linux/goarch with tags.
func deps(t *testing.T, pkg, goarch, tags string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-tags", tags, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// linkedDoubles lists the test doubles among pkg's dependencies.
func linkedDoubles(t *testing.T, pkg, goarch, tags string) []string {
	var bad []string
	for _, dep := range deps(t, pkg, goarch, tags) {
		if slices.ContainsFunc(testDoubles, func(d string) bool { return dep == d || strings.HasPrefix(dep, d+"/") }) {
			bad = append(bad, dep)
		}
	}
	return bad
}

func TestShippedBinariesLinkNoTestDouble(t *testing.T) {
	shipped := []struct{ pkg, tags string }{
		{module + "/cmds/esxi-users", ""},
		{module + "/cmds/esxi-manage-users", taskTags},
	}
	for _, s := range shipped {
		for _, arch := range Arches {
			if bad := linkedDoubles(t, s.pkg, arch, s.tags); len(bad) > 0 {
				t.Errorf("%s (linux/%s, tags %q) links test doubles:\n  %s", s.pkg, arch, s.tags, strings.Join(bad, "\n  "))
			}
		}
	}
	// The check finds them where they are: the default (development) build
	// of esxi-manage-users keeps the simulator for --simulate.
	bad := linkedDoubles(t, module+"/cmds/esxi-manage-users", runtime.GOARCH, "")
	if !slices.Contains(bad, module+"/internal/sim/esxsim") || !slices.Contains(bad, "github.com/vmware/govmomi/simulator") {
		t.Errorf("the default build of esxi-manage-users should link the simulator; found %q", bad)
	}
}

// devTools is the folder of the developers' tools (generators, lint's
// tests): neither shipped nor a test double.
const devTools = module + "/tools"

// Every package outside the test-double folders and tools/ is linked by the
// plugin or by the task binary it ships, for some arch: a simulator, a fake
// or a test helper put beside the shipped packages fails here and goes below
// internal/sim or internal/testsupport.
func TestEveryOtherPackageShips(t *testing.T) {
	out, err := exec.Command("go", "list", "../../...").Output()
	if err != nil {
		t.Fatalf("go list ../../...: %v", err)
	}
	shipped := map[string]bool{}
	for _, arch := range Arches {
		for _, dep := range deps(t, module+"/cmds/esxi-users", arch, "") {
			shipped[dep] = true
		}
		for _, dep := range deps(t, module+"/cmds/esxi-manage-users", arch, taskTags) {
			shipped[dep] = true
		}
	}
	for _, pkg := range strings.Fields(string(out)) {
		under := func(d string) bool { return pkg == d || strings.HasPrefix(pkg, d+"/") }
		if slices.ContainsFunc(testDoubles, under) || under(devTools) {
			continue
		}
		if !shipped[pkg] {
			t.Errorf("%s is neither shipped nor below a test-double folder (%s)", pkg, strings.Join(testDoubles[:3], ", "))
		}
	}
}

// The task binary talks to the DRP API with internal/drp's own client and
// reads the pack without the SDK (content): the DRP SDK, a third of its
// size, stays in the plugin.
func TestTaskBinaryLinksNoDRPSDK(t *testing.T) {
	for _, dep := range deps(t, module+"/cmds/esxi-manage-users", "amd64", taskTags) {
		if strings.HasPrefix(dep, "github.com/digitalrebar/") {
			t.Errorf("the task binary links %s", dep)
		}
	}
}

// The task binary the plugin ships refuses simulate and --simulate with
// exit 2 and says why; nothing is started.
func TestShippedTaskBinaryHasNoSimulator(t *testing.T) {
	build(t)
	if runtime.GOOS != "linux" {
		t.Skip("the task binary is a linux binary")
	}
	for _, args := range [][]string{
		{"simulate"},
		{"simulate", "--vcenter", "--listen", "127.0.0.1:0"},
		{"apply", "--simulate", "--file", "../../params/testdata/seed.yaml"},
		{"plan", "--simulate", "--vihost", "h1", "--file", "../../params/testdata/seed.yaml"},
		{"check-password", "--simulate"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := exec.Command(taskBin, args...)
			cmd.Stdin = strings.NewReader("S3cr3tP455!\n")
			out, err := cmd.Output()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v, want 2\nstdout: %s", err, out)
			}
			if len(out) != 0 {
				t.Errorf("stdout = %q, want nothing", out)
			}
			if msg := string(ee.Stderr); !strings.Contains(msg, "this build of esxi-manage-users has no simulator: it was built with -tags nosim") {
				t.Errorf("stderr = %q", msg)
			}
		})
	}
}
