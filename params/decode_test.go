package params

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/textsafe"
)

// canary is a password that must never appear in any error text.
const canary = "Canary#Pw-7719-zz"

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The seed's YAML and JSON examples describe the same list.
func TestSeedExamplesDecodeAlike(t *testing.T) {
	y, err := Parse(readFixture(t, "seed.yaml"))
	if err != nil {
		t.Fatalf("yaml: %v", err)
	}
	j, err := Parse(readFixture(t, "seed.json"))
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	strip := func(es []Entry) []Entry {
		out := make([]Entry, len(es))
		for i, e := range es {
			e.Line = 0
			out[i] = e
		}
		return out
	}
	if !reflect.DeepEqual(strip(y), strip(j)) {
		t.Fatalf("yaml and json differ:\n%+v\n%+v", y, j)
	}
	want := []struct {
		id, desc string
		op       Operation
		role     Role
		pw       bool
	}{
		{"user1", "User One", OpAdd, RoleAdmin, true},
		{"user2", "", OpSet, RoleReadOnly, true},
		{"user1", "", OpSet, RoleNoAccess, true},
		{"user1", "", OpRemove, "", false},
		{"user2", "", OpRemove, "", false},
	}
	if len(y) != len(want) {
		t.Fatalf("got %d entries, want %d", len(y), len(want))
	}
	for i, w := range want {
		e := y[i]
		if e.Index != i || e.ID != w.id || e.Operation != w.op || e.Role != w.role || e.Description != w.desc || e.Password.IsZero() == w.pw {
			t.Errorf("entry %d = %+v, want %+v", i, e, w)
		}
		if w.pw && e.Password.Reveal() != "S3cr3tP455!" {
			t.Errorf("entry %d: password not decoded", i)
		}
	}
	if got := y[1].EffectiveDescription(); got != DefaultDescription {
		t.Errorf("empty description = %q, want %q", got, DefaultDescription)
	}
}

func TestDecodeInvalidFixtures(t *testing.T) {
	tests := []struct {
		file string
		want string // substring of the error
	}{
		{"unknown-key.yaml", `entry 1 (id "u1", add): line 3: unknown field "passwrod" (did you mean "password"?)`},
		{"duplicate-key.yaml", `entry 1 (id "u1", add): line 4: password is given twice (first on line 3)`},
		{"duplicate-key.json", `entry 1 (id "u1", add): line 1: role is given twice (first on line 1)`},
		{"password-number.yaml", `entry 1 (id "u1", add): line 3: password must be a string, got a number (quote the value to make it a string)`},
		{"password-bool.json", `entry 1 (id "u1", add): line 1: password must be a string, got a boolean`},
		{"password-sequence.yaml", `entry 1 (id "u1", add): line 3: password must be a string, got an array`},
		{"two-documents.yaml", `line 5: more than one YAML document`},
		{"not-utf8.yaml", `line 3: input is not valid UTF-8`},
		{"not-an-array.yaml", `expected an array of entries, got a mapping`},
		{"entry-not-mapping.yaml", `entry 1: line 1: an entry must be a mapping of fields, got an array`},
		{"syntax-error.yaml", `line 3: YAML syntax error: a quoted string that starts on this line is not closed before the end of the input`},
		{"syntax-error.json", `line 2, column 1: JSON syntax error: expected ',' or ']' after an entry, found the end of the input`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Parse(readFixture(t, filepath.Join("invalid", tt.file)))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, errkind.ErrInvalid) {
				t.Errorf("error does not wrap errkind.ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "Canary") {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}
}

func TestDecodeEmpty(t *testing.T) {
	for _, in := range []string{"", "  \n", "null", "[]", "---\n[]\n"} {
		es, err := Parse([]byte(in))
		if err != nil || len(es) != 0 {
			t.Errorf("Parse(%q) = %v, %v; want no entries", in, es, err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // one substring per expected error, in order; empty = valid
	}{
		{"add ok", `[{id: u1, operation: add, password: x, role: Admin}]`, nil},
		{"set ok", `[{id: u1, operation: set, password: x, role: ReadOnly}]`, nil},
		{"remove ok", `[{id: u1, operation: remove}]`, nil},
		{"remove ignores password and role", `[{id: u1, operation: remove, password: x, role: Admin}]`, nil},
		{"remove with a bad role", `[{id: u1, operation: remove, role: Owner}]`, []string{`entry 1 (id "u1", remove): role "Owner" is not one of`}},
		{"null description", `[{id: u1, operation: add, password: x, role: NoAccess, description: null}]`, nil},
		{"role owner", `[{id: u0, operation: add, password: x, role: Admin}, {id: u, operation: remove}, {id: user1, operation: set, password: x, role: Owner}]`,
			[]string{`entry 3 (id "user1", set): role "Owner" is not one of Admin, ReadOnly, NoAccess`}},
		{"role near miss", `[{id: u1, operation: add, password: x, role: admin}]`,
			[]string{`entry 1 (id "u1", add): role "admin" is not one of Admin, ReadOnly, NoAccess (did you mean "Admin"?)`}},
		{"role typo", `[{id: u1, operation: add, password: x, role: ReadOnyl}]`, []string{`(did you mean "ReadOnly"?)`}},
		{"operation missing", `[{id: u1, password: x, role: Admin}]`, []string{`entry 1 (id "u1"): operation is required`}},
		{"operation unknown", `[{id: u1, operation: delete, password: x, role: Admin}]`, []string{`operation "delete" is not one of add, set, remove`}},
		{"operation case", `[{id: u1, operation: Add, password: x, role: Admin}]`, []string{`(did you mean "add"?)`}},
		{"add needs password", `[{id: u1, operation: add, role: Admin}]`, []string{`entry 1 (id "u1", add): password is required for add`}},
		{"set needs role", `[{id: u1, operation: set, password: x}]`, []string{`entry 1 (id "u1", set): role is required for set`}},
		{"id missing", `[{operation: remove}]`, []string{`entry 1 (remove): id is required`}},
		{"id with space", `[{id: "u 1", operation: remove}]`, []string{`id has a space`}},
		{"id non-ascii", `[{id: "üser", operation: remove}]`, []string{`id has U+00FC LATIN SMALL LETTER U WITH DIAERESIS (character 1): ESXi user names are ASCII`}},
		{"id with a tab", `[{id: "u\t1", operation: remove}]`, []string{`id has a tab (character 2): ESXi user names have no blanks`}},
		{"id with a no-break space", `[{id: "u\u00a01", operation: remove}]`, []string{`id has U+00A0 NO-BREAK SPACE (character 2)`}},
		{"id with a bell", `[{id: "u\a", operation: remove}]`, []string{`id has a control character, U+0007 (character 2)`}},
		{"role look-alike", `[{id: u1, operation: add, password: x, role: "\u0391dmin"}]`,
			[]string{`role "Αdmin" is not one of Admin, ReadOnly, NoAccess (did you mean "Admin"? "Αdmin" contains U+0391 GREEK CAPITAL LETTER ALPHA, not "A")`}},
		{"role of three look-alikes", `[{id: u1, operation: add, password: x, role: "R\u0435\u0430dOnl\u0443"}]`,
			[]string{`(did you mean "ReadOnly"? "RеаdOnlу" contains U+0435 CYRILLIC SMALL LETTER IE, not "e"; U+0430 CYRILLIC SMALL LETTER A, not "a"; U+0443 CYRILLIC SMALL LETTER U, not "y")`}},
		{"role with a zero-width space", `[{id: u1, operation: add, password: x, role: "Admin\u200b"}]`,
			[]string{`(did you mean "Admin"? "Admin\u200b" contains U+200B ZERO WIDTH SPACE)`}},
		{"operation look-alike", `[{id: u1, operation: "\u0430dd", password: x, role: Admin}]`,
			[]string{`operation "аdd" is not one of add, set, remove (did you mean "add"? "аdd" contains U+0430 CYRILLIC SMALL LETTER A, not "a")`}},
		{"field look-alike", `[{id: u1, operation: add, "p\u0430ssword": x, role: Admin}]`,
			[]string{`unknown field "pаssword" (did you mean "password"? "pаssword" contains U+0430 CYRILLIC SMALL LETTER A, not "a")`, `password is required`}},
		{"id ALL", `[{id: ALL, operation: remove}]`, []string{`"ALL" is reserved by ESXi`}},
		{"id colon", `[{id: "a:b", operation: remove}]`, []string{`id has ':'`}},
		{"id semicolon", `[{id: "a;b", operation: remove}]`, []string{`id has ';'`}},
		{"id too long", `[{id: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, operation: remove}]`, []string{`id is 33 bytes; the limit is 32`}},
		{"id of 100 KB is echoed clipped", `[{id: ` + strings.Repeat("a", 100<<10) + `, operation: remove}]`,
			[]string{`entry 1 (id "` + strings.Repeat("a", textsafe.MaxEcho) + `…(102400 bytes)", remove): id is 102400 bytes; the limit is 32`}},
		{"description colon", `[{id: u1, operation: add, password: x, role: Admin, description: "a:b"}]`, []string{`description has ":"`}},
		{"description control", `[{id: u1, operation: add, password: x, role: Admin, description: "a\tb"}]`, []string{`description has a control character`}},
		{"several entries and fields", `[{id: u1, operation: add}, {id: "", operation: frob}]`, []string{
			`entry 1 (id "u1", add): password is required`, `entry 1 (id "u1", add): role is required`,
			`entry 2 (frob): id is required`, `entry 2 (frob): operation "frob" is not one of`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var le *ListError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *ListError", err)
			}
			if len(le.Errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(le.Errs), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(le.Errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, le.Errs[i], w)
				}
			}
		})
	}
}

func TestLimits(t *testing.T) {
	big := strings.Repeat(" ", MaxInputBytes+1)
	if _, err := Parse([]byte(big)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized input: %v", err)
	}
	var sb strings.Builder
	sb.WriteString("[")
	for i := 0; i <= MaxEntries; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"id":"u","operation":"remove"}`)
	}
	sb.WriteString("]")
	if _, err := Parse([]byte(sb.String())); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("the limit is %d", MaxEntries)) {
		t.Errorf("too many entries: %v", err)
	}
	long := strings.Repeat("aB3#", MaxPasswordBytes/4+1)
	_, err := Parse([]byte(`[{id: u1, operation: add, role: Admin, password: "` + long + `"}]`))
	if err == nil || !strings.Contains(err.Error(), "password is 10004 bytes; the limit is 10000") || strings.Contains(err.Error(), long) {
		t.Errorf("long password: %v", err)
	}
}

// Every printing path of a Password masks it.
func TestPasswordNeverPrints(t *testing.T) {
	e := Entry{ID: "u1", Operation: OpAdd, Password: NewPassword(canary), Role: RoleAdmin}
	js, _ := json.Marshal(e)
	outs := []string{
		fmt.Sprint(e.Password), fmt.Sprintf("%v %+v %#v %s %q %x", e, e, e, e.Password, e.Password, e.Password),
		string(js),
	}
	for _, o := range outs {
		if strings.Contains(o, canary) {
			t.Errorf("password printed: %s", o)
		}
	}
	if !strings.Contains(string(js), Masked) {
		t.Errorf("json = %s, want the mask", js)
	}
}

func TestIgnoreList(t *testing.T) {
	l, err := NewIgnoreList([]string{"svc", " ", "svc", "backup "})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"root": true, "dcui": true, "svc": true, "backup": true, "Root": false, "user1": false} {
		if got := l.Contains(id); got != want {
			t.Errorf("Contains(%q) = %v, want %v", id, got, want)
		}
	}
	if got := l.ids; !reflect.DeepEqual(got, []string{"root", "dcui", "svc", "backup"}) {
		t.Errorf("ids = %v", got)
	}
	var zero IgnoreList
	if !zero.Contains("root") || !zero.Contains("dcui") {
		t.Error("the zero IgnoreList must still protect root and dcui")
	}
}

const messageAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ,;:()\"?!.-"

// checkRefusal checks the error of a refused input: it wraps errkind.ErrInvalid,
// and no password that was decoded from data appears in it. Checked for
// passwords that could not come from anywhere else: at least 8 bytes,
// occurring once in the input, and not made only of the letters, spaces and
// punctuation of the fixed messages.
func checkRefusal(t *testing.T, data []byte, decoded []Entry, err error) {
	t.Helper()
	if !errors.Is(err, errkind.ErrInvalid) {
		t.Fatalf("error does not wrap errkind.ErrInvalid: %v", err)
	}
	for _, e := range decoded {
		p := e.Password.Reveal()
		if len(p) >= 8 && strings.Count(string(data), p) == 1 && strings.Trim(p, messageAlphabet) != "" && strings.Contains(err.Error(), p) {
			t.Fatalf("error leaks a password: %v", err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"seed.yaml", "seed.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	entries, _ := os.ReadDir(filepath.Join("testdata", "invalid"))
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join("testdata", "invalid", e.Name()))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		es, err := Parse(data)
		if err != nil {
			checkRefusal(t, data, es, err)
			return
		}
		for i, e := range es {
			if e.Index != i || ValidateEntry(e) != nil {
				t.Fatalf("entry %d accepted but invalid: %+v", i, e)
			}
		}
	})
}

// A key that is not a near miss of a field name may be a misplaced secret:
// it is never shown.
func TestUnknownKeyNotShown(t *testing.T) {
	_, err := Parse([]byte("- id: u1\n  operation: remove\n  " + canary + ": x\n"))
	if err == nil || strings.Contains(err.Error(), "Canary") || !strings.Contains(err.Error(), "line 3: unknown field (not shown)") {
		t.Fatalf("error = %v", err)
	}
}
