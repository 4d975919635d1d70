package params

import (
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// No fmt verb prints a Password, wherever it sits: alone, behind a
// pointer, in an exported or unexported struct field, in a slice, as a map
// value or key.
func TestPasswordNoFmtVerbPrintsIt(t *testing.T) {
	pw := NewPassword(canary)
	type inner struct {
		Exported   Password
		unexported Password
	}
	values := map[string]any{
		"value":      pw,
		"pointer":    &pw,
		"entry":      Entry{ID: "u1", Operation: OpAdd, Password: pw, Role: RoleAdmin},
		"struct":     inner{Exported: pw, unexported: pw},
		"&struct":    &inner{Exported: pw, unexported: pw},
		"slice":      []Password{pw, pw},
		"map value":  map[string]Password{"u1": pw},
		"map key":    map[Password]int{pw: 1},
		"any slice":  []any{pw, &pw},
		"nested":     struct{ L []inner }{[]inner{{pw, pw}}},
		"entry list": []Entry{{ID: "u1", Password: pw}},
	}
	forms := []string{canary, hex.EncodeToString([]byte(canary)), strings.ToUpper(hex.EncodeToString([]byte(canary)))}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%p", "% x", "%#x", "%10.3s", "%U", "%c", "%t", "%o", "%b", "%e"} {
			out := fmt.Sprintf(verb, v)
			for _, f := range forms {
				if strings.Contains(out, f) {
					t.Errorf("%s with %s prints the password: %s", name, verb, out)
				}
			}
		}
		for _, out := range []string{fmt.Sprint(v), fmt.Sprintln(v)} {
			if strings.Contains(out, canary) {
				t.Errorf("%s: Sprint prints the password: %s", name, out)
			}
		}
	}
	for verb, want := range map[string]string{"%v": Masked, "%s": Masked, "%q": `"` + Masked + `"`, "%d": Masked, "%#v": Masked} {
		if got := fmt.Sprintf(verb, pw); got != want {
			t.Errorf("%s = %q, want %q", verb, got, want)
		}
	}
	if got := fmt.Sprintf("%v|%q", NewPassword(""), Password{}); got != `|""` {
		t.Errorf("empty password prints %q", got)
	}
	if pw.Reveal() != canary || pw.Len() != len(canary) || pw.IsZero() || !(Password{}).IsZero() {
		t.Error("Reveal/Len/IsZero")
	}
}

// revealCallers are the non-test files that may call Password.Reveal, as
// Reveal's documentation lists them. A new caller must be added to both.
var revealCallers = []string{
	"internal/esx/accounts.go",
	"internal/esx/connect.go",
	"internal/esx/recover.go",
	"internal/job/job.go",
	"params/validate.go",
	"tasks/apply.go",
}

// Reveal's documentation names its callers; this keeps it true.
func TestRevealCallers(t *testing.T) {
	root := filepath.Join("..")
	var got []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || n == "vendor" || (strings.HasPrefix(n, ".") && path != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
		if err != nil {
			return err
		}
		found := false
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Reveal" {
				found = true
			}
			return !found
		})
		if found {
			rel, _ := filepath.Rel(root, path)
			got = append(got, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, revealCallers) {
		t.Errorf("files calling Reveal:\n got %v\nwant %v (update Reveal's documentation and revealCallers)", got, revealCallers)
	}
}
