package params

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-playground/validator/v10"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// A password reaches the host exactly as written, or the entry is invalid:
// control characters (C0, DEL, C1), a YAML "|" block's final newline, and
// U+FFFD (what a decoder leaves for something it could not carry) are
// refused with the entry and field named, never the value.
func TestPasswordCharacters(t *testing.T) {
	const (
		block   = "a YAML `|` block keeps the final newline; use `|-` or a quoted string"
		control = "password has a control character (C0, C1 or DEL; not shown)"
		fffd    = "password has U+FFFD, the replacement character"
	)
	entry := func(pw string) string {
		return "- id: u1\n  operation: add\n  role: Admin\n  password: " + pw + "\n"
	}
	tests := []struct {
		name, doc, want string // want "" = valid
	}{
		{"yaml | block", "- id: u1\n  operation: add\n  role: Admin\n  password: |\n    " + canary + "\n", block},
		{"yaml |+ block", "- id: u1\n  operation: add\n  role: Admin\n  password: |+\n    " + canary + "\n\n", block},
		{"yaml |- block", "- id: u1\n  operation: add\n  role: Admin\n  password: |-\n    " + canary + "\n", ""},
		{"yaml > block", "- id: u1\n  operation: add\n  role: Admin\n  password: >\n    " + canary + "\n", block},
		{"escaped newline inside", entry(`"` + canary + `\nx"`), control},
		{"tab", entry(`"` + canary + `\tx"`), control},
		{"raw tab", entry(canary + "\tx"), control},
		{"NUL escape", entry(`"` + canary + `\0"`), control},
		{"JSON NUL", `[{"id": "u1", "operation": "add", "role": "Admin", "password": "` + canary + `\u0000"}]`, control},
		{"ESC", entry(`"` + canary + `\e[31m"`), control},
		{"DEL", entry(`"` + canary + `\x7f"`), control},
		{"C1 NEL escaped", entry(`"` + canary + `\N"`), control},
		{"C1 CSI", `[{"id": "u1", "operation": "add", "role": "Admin", "password": "` + canary + `\u009b"}]`, control},
		{"U+FFFD escaped", `[{"id": "u1", "operation": "add", "role": "Admin", "password": "` + canary + `\ufffd"}]`, fffd},
		{"U+FFFD raw", entry(canary + "\ufffd"), fffd},
		{"remove with a bad password", "- {id: u1, operation: remove, password: \"" + canary + `\n"}`, block},
		{"spaces and non-ASCII", entry(`"  ` + canary + ` Pässwörd€ "`), ""},
		{"plain", entry(canary), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var le *ListError
			if !errors.As(err, &le) || !errors.Is(err, errkind.ErrInvalid) {
				t.Fatalf("err = %v, want a ListError", err)
			}
			if len(le.Errs) != 1 || le.Errs[0].Field != FieldPassword || le.Errs[0].Index != 0 {
				t.Fatalf("errors = %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `entry 1 (id "u1", `) || !strings.Contains(msg, tt.want) {
				t.Errorf("err = %s\nwant %q", msg, tt.want)
			}
			if strings.Contains(msg, canary) || strings.Contains(msg, "Canary") {
				t.Errorf("password in the message: %s", msg)
			}
		})
	}
}

// U+0085 written as is would be folded into a space by the YAML decoder:
// the password would change silently, so the document is refused.
func TestRawNELRefused(t *testing.T) {
	doc := "- id: u1\n  operation: add\n  role: Admin\n  password: \"" + canary + "\u0085x\"\n"
	entries, err := Decode([]byte(doc))
	if err != nil || strings.Contains(entries[0].Password.Reveal(), "\u0085") {
		t.Fatalf("the decoder is expected to fold NEL: %v", err)
	}
	_, err = Parse([]byte(doc))
	var de *DocumentError
	if !errors.As(err, &de) || de.Line != 4 || !strings.Contains(err.Error(), "U+0085") || strings.Contains(err.Error(), canary) {
		t.Fatalf("err = %v", err)
	}
}

func TestValidatePassword(t *testing.T) {
	for _, bad := range []string{"a\x00", "a\x1b", "a\x7f", "a\u0080", "a\u009f", "a\n", "\xff", "a\ufffd"} {
		if ValidatePassword(NewPassword(bad)) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range []string{"", "S3cr3tP455!", "a b", "a\u00a0b", "a\u00a0", "日本語パスワード", "a\u2028b"} {
		if err := ValidatePassword(NewPassword(good)); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}

// The validator sees the password (its own rule checks the characters), so
// nothing it returns may show it: not its errors' text, not a FieldError
// printed with any verb, not a FieldError's Value. Every field here fails a
// rule, the password two (its characters, its length).
func TestValidatorErrorsHoldNoPassword(t *testing.T) {
	pw := canary + "\x01" + strings.Repeat("p", MaxPasswordBytes)
	e := Entry{ID: "a b", Operation: "add", Description: "a:b", Password: NewPassword(pw), Role: "Owner"}
	err := entryValidator().Struct(rules{Password: e.Password, ID: e.ID, Operation: string(e.Operation), Description: e.Description, PasswordLen: e.Password.Len(), Role: string(e.Role)})
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) || len(verrs) != 5 {
		t.Fatalf("want 5 field errors, got %v", err)
	}
	texts := []string{err.Error()}
	for _, fe := range verrs {
		texts = append(texts, fe.Error(), fmt.Sprintf("%v %+v %#v %s %q", fe.Value(), fe.Value(), fe.Value(), fe.Value(), fe.Value()), fmt.Sprintf("%+v", fe))
	}
	for _, ee := range ValidateEntry(e) {
		texts = append(texts, ee.Error())
	}
	for _, s := range texts {
		if strings.Contains(s, canary) {
			t.Fatalf("the password leaks: %s", s)
		}
	}
}
