package params

import (
	"strings"
	"testing"
)

// Numbers are never strings, in YAML as in JSON: a plain YAML scalar that
// is a number too large for yaml.v3 (which then falls back to a string,
// as for 1e400) is refused like any other number, with the same message
// the JSON reader gives (before: YAML took "1e400" as the id).
func TestOverflowingNumbersAreNotStrings(t *testing.T) {
	for _, v := range []string{"1e400", "-1e400", "+1.5E+999", ".5e400", "1_000e400", "0x1FFFFFFFFFFFFFFFFF", "0o7777777777777777777777777", "0b" + strings.Repeat("1", 70), "-0x1FFFFFFFFFFFFFFFFF"} {
		for _, field := range []string{"id", "description", "role"} {
			doc := "- id: u1\n  operation: remove\n  " + field + ": " + v + "\n"
			doc = strings.Replace(doc, "id: u1\n  operation: remove\n  id:", "operation: remove\n  id:", 1)
			_, err := Parse([]byte(doc))
			want := field + " must be a string, got a number (quote the value to make it a string)"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %s: %v, want %q", field, v, err, want)
			}
		}
	}
	// The JSON reader says the same of 1e400.
	_, err := Parse([]byte(`[{"id": 1e400, "operation": "remove"}]`))
	if err == nil || !strings.Contains(err.Error(), "id must be a string, got a number (quote the value to make it a string)") {
		t.Errorf("JSON: %v", err)
	}
	// Quoted, they are strings; so are values that only look like numbers.
	for _, v := range []string{`"1e400"`, `'0x1FFFFFFFFFFFFFFFFF'`, "1e400x", "0x1G", "1.2.3", "0b12", "e400", "1e", "-"} {
		es, err := Parse([]byte("- operation: remove\n  id: " + v + "\n"))
		if err != nil && strings.Contains(err.Error(), "got a number") {
			t.Errorf("%s: %v", v, err)
		}
		if err == nil && es[0].ID != strings.Trim(v, `"'`) {
			t.Errorf("%s: id %q", v, es[0].ID)
		}
	}
}

// NoList tells input that holds no list (Decode's empty list) from [].
func TestNoList(t *testing.T) {
	for in, want := range map[string]string{
		"": "empty", " \n\t": "empty", "\uFEFF\n": "empty", "# nothing yet\n": "empty", "---\n": "empty",
		"null": "null", "~\n": "null", "--- null\n": "null", "Null": "null",
	} {
		if got, ok := NoList([]byte(in)); !ok || got != want {
			t.Errorf("NoList(%q) = %q, %v; want %q", in, got, ok, want)
		}
		if es, err := Parse([]byte(in)); err != nil || len(es) != 0 {
			t.Errorf("Parse(%q) = %v, %v; want no entries", in, es, err)
		}
	}
	for _, in := range []string{"[]", "---\n[]\n", "[ ]", "- id: u1\n  operation: remove\n", "[{\"id\": \"u1\"}]", "nul", "{}", "[", "'null'"} {
		if got, ok := NoList([]byte(in)); ok {
			t.Errorf("NoList(%q) = %q, want a list", in, got)
		}
	}
}
