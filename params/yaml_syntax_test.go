package params

import (
	"errors"
	"strings"
	"testing"
)

// YAML syntax errors name the line where the problem (or the mapping or
// list it is in) is, say what was expected, and never quote the input: the
// canary password is part of every document.
func TestYAMLSyntaxErrors(t *testing.T) {
	const pw = "Canary#Pw-7719-zz"
	tests := []struct {
		doc, want string
	}{
		{"- id: u1\n  password: " + pw + "\n  operation: [add\n",
			`line 3: YAML syntax error: expected ',' or ']' in the [ … ] list that starts on or before this line`},
		{"- id: u1\n  operation: add\n   password: " + pw + "\n",
			`line 3: YAML syntax error: a ': ' where no key is expected`},
		{"- id: u1\n  operation: add\n password: " + pw + "\n",
			`line 3: YAML syntax error: expected an entry starting with "- " aligned with the other entries`},
		{"- id: u1\n  password: a: " + pw + "\n",
			`line 2: YAML syntax error: a ': ' where no key is expected: a value that contains ': ' must be quoted`},
		{"- id: u1\n\tpassword: " + pw + "\n",
			`line 2: YAML syntax error: a tab used for indentation: YAML indents with spaces`},
		{"- id: u1\n  password: \"" + pw + "\n",
			`line 2: YAML syntax error: a quoted string that starts on this line is not closed before the end of the input`},
		{"- id: u1\n  password: \"a\\q" + pw + "\"\n",
			`line 2: YAML syntax error: a double-quoted string that starts on this line has an escape that YAML does not know`},
		{"- id: u1\n  password: @" + pw + "\n",
			`line 2: YAML syntax error: a character that cannot start a value (a tab used for indentation, or an unquoted @ or ` + "`" + `)`},
		{"- id: u1\n  password: *Canary7719\n",
			`YAML syntax error: an alias (*name) refers to an anchor (&name) that is not defined; quote a value that starts with *`},
		{"- id: u1\n  password\n  role: " + pw + "\n",
			`line 2: YAML syntax error: expected ':' after a key`},
		{"id: u1\n- " + pw + "\n",
			`line 2: YAML syntax error: expected a key (field: value) aligned with the other keys of the mapping that starts on or before this line`},
		{"- id: u1\n  operation: add\n- role: x\n  : " + pw + "\n",
			`line 3: YAML syntax error: expected a key (field: value)`},
		{"[\n  {id: u1,\n   password: " + pw + "}\n  {id: u2}\n]\n",
			`line 4: YAML syntax error: expected ',' or ']'`},
		{"- id: u1\n  d: \"\\x4z" + pw + "\"\n",
			`line 2: YAML syntax error: a \x, \u or \U escape in a double-quoted string that starts on this line is not followed by enough hexadecimal digits`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc))
		var de *DocumentError
		if !errors.As(err, &de) {
			t.Errorf("%q: %v is not a *DocumentError", tt.doc, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q:\n got %s\nwant %s", tt.doc, err, tt.want)
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "Canary") || strings.Contains(err.Error(), "(…)") {
			t.Errorf("%q: the error quotes the input: %s", tt.doc, err)
		}
	}
}
