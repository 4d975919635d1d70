package errkind

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/esxi-users/esxi-users"

// deps lists pkg's dependencies (pkg included), each with whether it is in
// the standard library.
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, std, _ := strings.Cut(line, " ")
		m[path] = std == "true"
	}
	return m
}

// readSources reads every directory and Go file of the module: the go
// command caches a test's result until a file the test read changes, and
// the graph comes from `go list`, whose reads it does not see.
func readSources(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && path != "../.." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "testdata"):
			return filepath.SkipDir
		case d.IsDir():
			_, err = os.ReadDir(path)
		case strings.HasSuffix(path, ".go") || d.Name() == "go.mod":
			_, err = os.ReadFile(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The layers hold: this package is a leaf (the standard library only); the
// libraries that only need an error kind — the SSPI login, guest
// authentication, the fault table, certificate pinning, host patterns — do
// not depend on the engine or the Param model; the engine does not link
// net/http.
func TestDependencyGraph(t *testing.T) {
	readSources(t)
	for dep, std := range deps(t, module+"/internal/errkind") {
		if !std && dep != module+"/internal/errkind" {
			t.Errorf("internal/errkind imports %s: it must import the standard library only", dep)
		}
	}
	for _, pkg := range []string{"internal/sspi", "internal/guestauth", "internal/vfault", "internal/tlspin", "internal/hostmatch"} {
		d := deps(t, module+"/"+pkg)
		for _, layer := range []string{"tasks", "params"} {
			if _, ok := d[module+"/"+layer]; ok {
				t.Errorf("%s depends on %s", pkg, layer)
			}
		}
	}
	if _, ok := deps(t, module+"/tasks")["net/http"]; ok {
		t.Error("tasks depends on net/http")
	}
}
