package params

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// jsonEntry wraps fields (written as JSON members) into a one-entry list.
func jsonEntry(members string) string { return `[{` + members + `}]` }

// Strings decode exactly as encoding/json decodes them, in every field.
func TestJSONStringsDecodeAsEncodingJSON(t *testing.T) {
	tests := []struct {
		lit  string // a JSON string literal
		want string
	}{
		{`"a\/b"`, "a/b"},
		{`"\ud83d\ude00"`, "😀"},
		{`"\uD83D\uDE00"`, "😀"},
		{`"\u00e9"`, "é"},
		{`"\u00E9"`, "é"},
		{`"é😀"`, "é😀"},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{`"\u0000"`, "\x00"},
		{`"\u001f\u007f"`, "\x1f\x7f"},
		{`"\ufffd"`, "\ufffd"}, // written as U+FFFD: not a substitution
		{`"` + "\ufffd" + `"`, "\ufffd"},
		{`"\u2028\u2029"`, "\u2028\u2029"},
		{`"\ud800\udc00"`, "\U00010000"},
		{`"\udbff\udfff"`, "\U0010FFFF"},
		{`"a\u0062c"`, "abc"},
		{`""`, ""},
		{`"S3cr3t\\P455!\/x"`, `S3cr3t\P455!/x`},
		{`"\ud83d\ude00\ud83d\ude00"`, "😀😀"},
	}
	for _, tt := range tests {
		t.Run(tt.lit, func(t *testing.T) {
			var std string
			if err := json.Unmarshal([]byte(tt.lit), &std); err != nil || std != tt.want {
				t.Fatalf("encoding/json: %q, %v; the table says %q", std, err, tt.want)
			}
			in := jsonEntry(`"id": ` + tt.lit + `, "operation": ` + tt.lit + `, "description": ` + tt.lit + `, "password": ` + tt.lit + `, "role": ` + tt.lit)
			es, err := Decode([]byte(in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			e := es[0]
			got := []string{e.ID, string(e.Operation), e.Description, e.Password.Reveal(), string(e.Role)}
			for i, g := range got {
				if g != tt.want {
					t.Errorf("%s = %q, want %q", fieldNames[i], g, tt.want)
				}
			}
		})
	}
}

// The escapes that the YAML path refused, end to end through Parse.
func TestJSONEscapesAcceptedByParse(t *testing.T) {
	in := `[{"id": "u1", "operation": "add", "description": "Caf\u00e9 a\/b", "password": "S3cr3t!\ud83d\ude00", "role": "Admin"}]`
	es, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if es[0].Description != "Café a/b" || es[0].Password.Reveal() != "S3cr3t!😀" {
		t.Errorf("entry = %q, %q", es[0].Description, es[0].Password.Reveal())
	}
}

// `\u0000` decodes (as encoding/json does); validation then refuses it in a
// description as a control character, naming the entry.
func TestJSONNULIsAValidationError(t *testing.T) {
	in := jsonEntry(`"id": "u1", "operation": "add", "description": "a\u0000b", "password": "S3cr3tP455!", "role": "Admin"`)
	es, err := Decode([]byte(in))
	if err != nil || es[0].Description != "a\x00b" {
		t.Fatalf("Decode = %q, %v", es[0].Description, err)
	}
	_, err = Parse([]byte(in))
	if err == nil || err.Error() != `entry 1 (id "u1", add): description has a control character` {
		t.Fatalf("Parse error = %v", err)
	}
}

func TestJSONAccepted(t *testing.T) {
	u1 := `{"id":"u1","operation":"remove"}`
	tests := []struct {
		name  string
		in    string
		lines []int // Entry.Line of each entry
	}{
		{"no whitespace", `[` + u1 + `,` + u1 + `]`, []int{1, 1}},
		{"spaces and tabs", " \t[ \t" + u1 + " \t, \t" + u1 + " \t] \t", []int{1, 1}},
		{"LF", "[\n" + u1 + ",\n\n" + u1 + "\n]\n", []int{2, 4}},
		{"CRLF", "[\r\n" + u1 + ",\r\n\r\n" + u1 + "\r\n]\r\n", []int{2, 4}},
		{"lone CR", "[\r" + u1 + ",\r\r" + u1 + "\r]\r", []int{2, 4}},
		{"leading blank lines", "\n\n  [" + u1 + "]", []int{3}},
		{"BOM", utf8BOM + "[" + u1 + "]", []int{1}},
		{"BOM and whitespace", utf8BOM + "\r\n [\n" + u1 + "]", []int{3}},
		{"whitespace inside an entry", "[{\n\t\"id\"\t:\r\n \"u1\" ,\n \"operation\" : \"remove\"\n}]", []int{1}},
		{"null fields", jsonEntry(`"id": "u1", "operation": "remove", "password": null, "role": null, "description": null`), []int{1}},
		{"empty", `[]`, nil},
		{"empty with whitespace", " [ \n ] \n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !isJSONDocument([]byte(tt.in)) {
				t.Fatal("not read as JSON")
			}
			es, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != len(tt.lines) {
				t.Fatalf("%d entries, want %d", len(es), len(tt.lines))
			}
			for i, e := range es {
				if e.Index != i || e.ID != "u1" || e.Operation != OpRemove || e.Line != tt.lines[i] {
					t.Errorf("entry %d = %+v, want id u1, remove, line %d", i, e, tt.lines[i])
				}
			}
		})
	}
}

// Every rule of the YAML path holds for JSON, with the same message shapes;
// syntax errors give line and column and never quote a string.
func TestJSONRejected(t *testing.T) {
	pw := `"password": "` + canary + `"`
	add := `"id": "u1", "operation": "add", ` + pw + `, "role": "Admin"`
	tests := []struct {
		name string
		in   string
		want []string // the whole error text, one element per error
	}{
		// Values that are not strings.
		{"number 1e400", jsonEntry(add + `, "description": 1e400`),
			[]string{`entry 1 (id "u1", add): line 1: description must be a string, got a number (quote the value to make it a string)`}},
		{"number -0", jsonEntry(`"id": "u1", "operation": "add", "password": -0, "role": "Admin"`),
			[]string{`entry 1 (id "u1", add): line 1: password must be a string, got a number (quote the value to make it a string)`}},
		{"number 12345678", jsonEntry(`"id": 12345678, "operation": "remove"`),
			[]string{`entry 1 (remove): line 1: id must be a string, got a number (quote the value to make it a string)`}},
		{"number -1.5E+3", jsonEntry(`"id": "u1", "operation": "remove", "role": -1.5E+3`),
			[]string{`entry 1 (id "u1", remove): line 1: role must be a string, got a number (quote the value to make it a string)`}},
		{"true", jsonEntry(`"id": "u1", "operation": "add", "password": true, "role": "Admin"`),
			[]string{`entry 1 (id "u1", add): line 1: password must be a string, got a boolean (quote the value to make it a string)`}},
		{"false", jsonEntry(`"id": "u1", "operation": false`),
			[]string{`entry 1 (id "u1"): line 1: operation must be a string, got a boolean (quote the value to make it a string)`}},
		{"object", jsonEntry(`"id": "u1", "operation": "add", "password": {"value": "` + canary + `"}, "role": "Admin"`),
			[]string{`entry 1 (id "u1", add): line 1: password must be a string, got an object`}},
		{"array", jsonEntry(`"id": "u1", "operation": "add", "password": ["` + canary + `"], "role": "Admin"`),
			[]string{`entry 1 (id "u1", add): line 1: password must be a string, got an array`}},
		{"nested arrays", jsonEntry(`"id": "u1", "operation": "remove", "role": [[[{"a": [1, true, null]}]], []]`),
			[]string{`entry 1 (id "u1", remove): line 1: role must be a string, got an array`}},
		{"value on its own line", "[{\"id\": \"u1\",\n \"operation\": \"remove\",\n \"description\":\n 1e400}]",
			[]string{`entry 1 (id "u1", remove): line 4: description must be a string, got a number (quote the value to make it a string)`}},

		// Entries that are not objects.
		{"entry string", `[{"id": "u1", "operation": "remove"}, "` + canary + `"]`, []string{`entry 2: line 1: an entry must be a mapping of fields, got a string`}},
		{"entry null", "[{\"id\": \"u1\", \"operation\": \"remove\"},\n null]", []string{`entry 2: line 2: an entry must be a mapping of fields, got null`}},
		{"entry number", `[{"id": "u1", "operation": "remove"}, 1e400]`, []string{`entry 2: line 1: an entry must be a mapping of fields, got a number`}},
		{"entry array", `[{"id": "u1", "operation": "remove"}, [{"id": "u2"}]]`, []string{`entry 2: line 1: an entry must be a mapping of fields, got an array`}},

		// Unknown and duplicate keys, compared after decoding escapes.
		{"unknown near miss", jsonEntry(`"id": "u1", "operation": "add", "passwrod": "` + canary + `", "role": "Admin"`),
			[]string{`entry 1 (id "u1", add): line 1: unknown field "passwrod" (did you mean "password"?); fields are id, operation, description, password, role`}},
		{"unknown near miss escaped", jsonEntry(`"id": "u1", "operation": "add", "passwr\u006fd": "` + canary + `", "role": "Admin"`),
			[]string{`entry 1 (id "u1", add): line 1: unknown field "passwrod" (did you mean "password"?); fields are id, operation, description, password, role`}},
		{"unknown not shown", jsonEntry(`"id": "u1", "operation": "remove", "` + canary + `": "x"`),
			[]string{`entry 1 (id "u1", remove): line 1: unknown field (not shown); fields are id, operation, description, password, role`}},
		{"case matters", jsonEntry(`"ID": "u1", "operation": "remove"`),
			[]string{`entry 1 (remove): line 1: unknown field "ID" (did you mean "id"?); fields are id, operation, description, password, role`}},
		{"duplicate id by escape", "[{\"id\": \"u1\",\n \"\\u0069d\": \"u2\", \"operation\": \"remove\"}]",
			[]string{`entry 1 (id "u2", remove): line 2: id is given twice (first on line 1)`}},
		{"duplicate operation by escape", jsonEntry(`"id": "u1", "operation": "remove", "operatio\u006E": "remove"`),
			[]string{`entry 1 (id "u1", remove): line 1: operation is given twice (first on line 1)`}},
		{"duplicate password", jsonEntry(add + `, ` + pw),
			[]string{`entry 1 (id "u1", add): line 1: password is given twice (first on line 1)`}},
		{"duplicate null", jsonEntry(`"id": "u1", "operation": "remove", "role": null, "role": null`),
			[]string{`entry 1 (id "u1", remove): line 1: role is given twice (first on line 1)`}},

		// Unpaired surrogates: refused, where encoding/json writes U+FFFD.
		{"lone high surrogate", jsonEntry(`"id": "u1", "operation": "add", "password": "\ud83d", "role": "Admin"`),
			[]string{`entry 1 (id "u1", add): line 1: password has an unpaired UTF-16 surrogate escape at column 48: a \uD800–\uDBFF escape must be followed by a \uDC00–\uDFFF escape (refused rather than decoded as U+FFFD, which would change the value)`}},
		{"lone low surrogate", jsonEntry(`"id": "u1", "operation": "remove", "description": "\ude00x"`),
			[]string{`entry 1 (id "u1", remove): line 1: description has an unpaired UTF-16 surrogate escape at column 54: a \uD800–\uDBFF escape must be followed by a \uDC00–\uDFFF escape (refused rather than decoded as U+FFFD, which would change the value)`}},
		{"high then text then low", jsonEntry(`"id": "u1", "operation": "add", "password": "ab\ud83dx\ude00", "role": "Admin"`),
			[]string{`entry 1 (id "u1", add): line 1: password has an unpaired UTF-16 surrogate escape at column 50: a \uD800–\uDBFF escape must be followed by a \uDC00–\uDFFF escape (refused rather than decoded as U+FFFD, which would change the value)`}},
		{"high then another escape", jsonEntry(`"id": "u1", "operation": "add", "password": "\ud83d\u0041", "role": "Admin"`),
			[]string{`entry 1 (id "u1", add): line 1: password has an unpaired UTF-16 surrogate escape at column 48: a \uD800–\uDBFF escape must be followed by a \uDC00–\uDFFF escape (refused rather than decoded as U+FFFD, which would change the value)`}},
		{"two highs then a low", jsonEntry(`"id": "u1", "operation": "add", "password": "é\ud83d\ud83d\ude00", "role": "Admin"`),
			[]string{`entry 1 (id "u1", add): line 1: password has an unpaired UTF-16 surrogate escape at column 49: a \uD800–\uDBFF escape must be followed by a \uDC00–\uDFFF escape (refused rather than decoded as U+FFFD, which would change the value)`}},
		{"lone surrogate in id", jsonEntry(`"id": "u\udc00", "operation": "remove"`),
			[]string{`entry 1 (remove): line 1: id has an unpaired UTF-16 surrogate escape at column 11: a \uD800–\uDBFF escape must be followed by a \uDC00–\uDFFF escape (refused rather than decoded as U+FFFD, which would change the value)`}},
		{"lone surrogate in a key", jsonEntry(`"id": "u1", "operation": "remove", "\ud800": "x"`),
			[]string{`entry 1 (id "u1", remove): line 1: unknown field (not shown: it has an unpaired UTF-16 surrogate escape at column 39); fields are id, operation, description, password, role`}},

		// Several errors in several entries, in list order.
		{"several", "[{\"id\": \"u1\", \"operation\": \"remove\", \"role\": 1},\n{\"id\": \"u2\", \"id\": \"u3\", \"operation\": \"remove\", \"xyz123\": \"y\"}]", []string{
			`entry 1 (id "u1", remove): line 1: role must be a string, got a number (quote the value to make it a string)`,
			`entry 2 (id "u3", remove): line 2: id is given twice (first on line 2)`,
			`entry 2 (id "u3", remove): line 2: unknown field (not shown); fields are id, operation, description, password, role`}},

		// Syntax: trailing commas, comments, trailing data.
		{"trailing comma in the array", "[{\"id\": \"u1\", \"operation\": \"remove\"},\n]",
			[]string{`esxi/manage-users: line 2, column 1: JSON syntax error: expected an entry after ',', found ']' (JSON allows no trailing comma)`}},
		{"trailing comma in an entry", jsonEntry(add + `,`),
			[]string{`esxi/manage-users: line 1, column 84: JSON syntax error: expected a field name after ',', found '}' (JSON allows no trailing comma)`}},
		{"trailing comma in a value", jsonEntry(`"id": "u1", "operation": "remove", "role": [1,]`),
			[]string{`esxi/manage-users: line 1, column 49: JSON syntax error: expected a value after ',', found ']' (JSON allows no trailing comma)`}},
		{"line comment", "[\n  // users\n  {\"id\": \"u1\", \"operation\": \"remove\"}\n]",
			[]string{`esxi/manage-users: line 2, column 3: JSON syntax error: expected an entry (an object {…}), found a comment (JSON has no comments)`}},
		{"block comment", "[{\"id\": \"u1\", /* me */ \"operation\": \"remove\"}]",
			[]string{`esxi/manage-users: line 1, column 15: JSON syntax error: expected a field name (a string in double quotes), found a comment (JSON has no comments)`}},
		{"hash comment after the array", "[{\"id\": \"u1\", \"operation\": \"remove\"}] # users",
			[]string{`esxi/manage-users: line 1, column 39: JSON syntax error: expected the end of the input after the array, found a comment (JSON has no comments) (esxi/manage-users is a single array)`}},
		{"second array", "[]\n[]",
			[]string{`esxi/manage-users: line 2, column 1: JSON syntax error: expected the end of the input after the array, found '[' (esxi/manage-users is a single array)`}},
		{"YAML document after", "[{\"id\": \"u1\", \"operation\": \"remove\"}]\n---\n- id: u2\n",
			[]string{`esxi/manage-users: line 2, column 1: JSON syntax error: expected the end of the input after the array, found a number (esxi/manage-users is a single array)`}},
		{"unclosed array", "[{\"id\": \"u1\", \"operation\": \"remove\"}\n",
			[]string{`esxi/manage-users: line 2, column 1: JSON syntax error: expected ',' or ']' after an entry, found the end of the input`}},
		{"unclosed entry", `[{"id": "u1"`,
			[]string{`esxi/manage-users: line 1, column 13: JSON syntax error: expected ',' or '}' after a field's value, found the end of the input`}},

		// Syntax errors never quote a string, nor a bare word where a password would be.
		{"unquoted password", jsonEntry(`"id": "u1", "operation": "add", "password": ` + canary + `, "role": "Admin"`),
			[]string{`esxi/manage-users: line 1, column 47: JSON syntax error: expected a value, found an unquoted word (JSON strings use double quotes)`}},
		{"single-quoted password", jsonEntry(`"id": "u1", "operation": "add", "password": '` + canary + `', "role": "Admin"`),
			[]string{`esxi/manage-users: line 1, column 47: JSON syntax error: expected a value, found a single quote (JSON strings use double quotes)`}},
		{"unterminated password", `[{"id": "u1", "operation": "add", "password": "` + canary,
			[]string{`esxi/manage-users: line 1, column 47: JSON syntax error: the string that starts here is not closed before the end of the input`}},
		{"password cut by a line break", "[{\"id\": \"u1\", \"operation\": \"add\", \"password\": \"" + canary + "\n\", \"role\": \"Admin\"}]",
			[]string{`esxi/manage-users: line 1, column 47: JSON syntax error: the string that starts here is not closed on its line (a line break inside a string is written \n)`}},
		{"unknown escape in a password", jsonEntry(`"id": "u1", "operation": "add", "password": "Canary\q` + canary + `", "role": "Admin"`),
			[]string{`esxi/manage-users: line 1, column 54: JSON syntax error: invalid escape in a string; JSON's escapes are \" \\ \/ \b \f \n \r \t and \uXXXX`}},
		{"YAML escape in a password", jsonEntry(`"id": "u1", "operation": "add", "password": "Canary\x41` + canary + `", "role": "Admin"`),
			[]string{`esxi/manage-users: line 1, column 54: JSON syntax error: invalid escape in a string; JSON's escapes are \" \\ \/ \b \f \n \r \t and \uXXXX`}},
		{"short \\u", jsonEntry(`"id": "u1", "operation": "add", "password": "Canary\u12zz` + canary + `", "role": "Admin"`),
			[]string{`esxi/manage-users: line 1, column 54: JSON syntax error: \u in a string must be followed by 4 hexadecimal digits`}},
		{"raw tab in a password", jsonEntry(`"id": "u1", "operation": "add", "password": "Canary` + "\t" + canary + `", "role": "Admin"`),
			[]string{`esxi/manage-users: line 1, column 54: JSON syntax error: a control character (U+0000–U+001F) inside a string must be written as an escape such as \t or \u0000`}},
		{"missing colon", jsonEntry(`"id": "u1", "operation" "remove"`),
			[]string{`esxi/manage-users: line 1, column 27: JSON syntax error: expected ':' after a field name, found a string`}},
		{"missing comma", jsonEntry(`"id": "u1" "operation": "remove"`),
			[]string{`esxi/manage-users: line 1, column 14: JSON syntax error: expected ',' or '}' after a field's value, found a string`}},
		{"unquoted key after a quoted one", jsonEntry(`"id": "u1", operation: "remove"`),
			[]string{`esxi/manage-users: line 1, column 15: JSON syntax error: expected a field name (a string in double quotes), found an unquoted word (JSON strings use double quotes)`}},
		{"Python literal", jsonEntry(`"id": "u1", "operation": "remove", "role": None`),
			[]string{`esxi/manage-users: line 1, column 46: JSON syntax error: expected a value, found an unquoted word (JSON strings use double quotes)`}},
		{"True", jsonEntry(`"id": "u1", "operation": "remove", "role": True`),
			[]string{`esxi/manage-users: line 1, column 46: JSON syntax error: expected a value, found an unquoted word (JSON strings use double quotes)`}},
		{"literal run on", jsonEntry(`"id": "u1", "operation": "remove", "role": nullx`),
			[]string{`esxi/manage-users: line 1, column 50: JSON syntax error: expected ',' or '}' after a field's value, found an unquoted word (JSON strings use double quotes)`}},

		// Numbers follow RFC 8259's grammar, and are never strings.
		{"leading zero", jsonEntry(`"id": "u1", "operation": "remove", "role": 01`),
			[]string{`esxi/manage-users: line 1, column 46: JSON syntax error: a number cannot have a leading zero`}},
		{"lone minus", jsonEntry(`"id": "u1", "operation": "remove", "role": -`),
			[]string{`esxi/manage-users: line 1, column 47: JSON syntax error: expected a digit after '-', found '}'`}},
		{"no fraction digits", jsonEntry(`"id": "u1", "operation": "remove", "role": 1.`),
			[]string{`esxi/manage-users: line 1, column 48: JSON syntax error: expected a digit after the decimal point, found '}'`}},
		{"no exponent digits", jsonEntry(`"id": "u1", "operation": "remove", "role": 1e+`),
			[]string{`esxi/manage-users: line 1, column 49: JSON syntax error: expected a digit in the exponent, found '}'`}},
		{"leading point", jsonEntry(`"id": "u1", "operation": "remove", "role": .5`),
			[]string{`esxi/manage-users: line 1, column 46: JSON syntax error: expected a value, found a character that is not JSON syntax`}},
		{"leading plus", jsonEntry(`"id": "u1", "operation": "remove", "role": +1`),
			[]string{`esxi/manage-users: line 1, column 46: JSON syntax error: expected a value, found a character that is not JSON syntax`}},
		{"Infinity", jsonEntry(`"id": "u1", "operation": "remove", "role": Infinity`),
			[]string{`esxi/manage-users: line 1, column 46: JSON syntax error: expected a value, found an unquoted word (JSON strings use double quotes)`}},

		// Whitespace is space, tab, CR and LF only; a BOM only at the start.
		{"no-break space", "[{\"id\": \"u1\",\u00a0\"operation\": \"remove\"}]",
			[]string{`esxi/manage-users: line 1, column 14: JSON syntax error: expected a field name (a string in double quotes), found the space character U+00A0, which is not JSON whitespace (space, tab, CR, LF)`}},
		{"form feed", "[{\"id\": \"u1\",\f\"operation\": \"remove\"}]",
			[]string{`esxi/manage-users: line 1, column 14: JSON syntax error: expected a field name (a string in double quotes), found the space character U+000C, which is not JSON whitespace (space, tab, CR, LF)`}},
		{"BOM inside", "[{\"id\": \"u1\"," + utf8BOM + "\"operation\": \"remove\"}]",
			[]string{`esxi/manage-users: line 1, column 14: JSON syntax error: expected a field name (a string in double quotes), found a byte order mark (allowed only at the start of the input)`}},
		{"column counts characters", "[{\"id\": \"üé😀\", \"operation\": \"remove\", \"role\": x}]",
			[]string{`esxi/manage-users: line 1, column 47: JSON syntax error: expected a value, found an unquoted word (JSON strings use double quotes)`}},
		{"column after CRLF", "[\r\n{\"id\": \"u1\",\r\n  \"operation\": remove}]",
			[]string{`esxi/manage-users: line 3, column 16: JSON syntax error: expected a value, found an unquoted word (JSON strings use double quotes)`}},

		// Limits and encoding.
		{"nesting too deep", jsonEntry(`"id": "u1", "operation": "remove", "role": ` + strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth)),
			[]string{`esxi/manage-users: line 1, column 10044: JSON syntax error: arrays and objects nested deeper than 10000 levels`}},
		{"not UTF-8 in a password", "[{\"id\": \"u1\", \"operation\": \"add\",\n \"password\": \"Canary\xff" + canary + "\", \"role\": \"Admin\"}]",
			[]string{`esxi/manage-users: line 2: input is not valid UTF-8`}},
		{"UTF-8-encoded surrogate", "[{\"id\": \"u1\", \"operation\": \"add\", \"password\": \"\xed\xa0\xbd\", \"role\": \"Admin\"}]",
			[]string{`esxi/manage-users: line 1: input is not valid UTF-8`}},
		{"too large", "[" + strings.Repeat(" ", MaxInputBytes) + "]",
			[]string{`esxi/manage-users: input is 1048578 bytes; the limit is 1048576`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !isJSONDocument([]byte(tt.in)) && !strings.Contains(tt.want[0], "UTF-8") && !strings.Contains(tt.want[0], "limit") {
				t.Fatal("not read as JSON")
			}
			_, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, errkind.ErrInvalid) {
				t.Errorf("error does not wrap errkind.ErrInvalid: %v", err)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "Canary") {
				t.Errorf("error leaks the password: %q", err)
			}
			var got []string
			var le *ListError
			if errors.As(err, &le) {
				for _, e := range le.Errs {
					got = append(got, e.Error())
				}
			} else {
				got = []string{err.Error()}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q\n%s", got, tt.want, textAt(tt.in, got))
			}
		})
	}
}

// A lone surrogate is named by entry and field by Parse as well, and the
// field is left empty rather than holding a changed value.
func TestJSONLoneSurrogateNamedByParse(t *testing.T) {
	in := "[{\"id\": \"u0\", \"operation\": \"remove\"},\n {\"id\": \"u1\", \"operation\": \"set\", \"password\": \"Pw\\ud83d-" + canary + "\", \"role\": \"Admin\"}]"
	es, err := Parse([]byte(in))
	var le *ListError
	if !errors.As(err, &le) || len(le.ByIndex(1)) == 0 {
		t.Fatalf("Parse error = %v", err)
	}
	first := le.ByIndex(1)[0]
	if first.Index != 1 || first.ID != "u1" || first.Field != FieldPassword || first.Line != 2 ||
		!strings.HasPrefix(first.Error(), `entry 2 (id "u1", set): line 2: password has an unpaired UTF-16 surrogate escape at column 50`) {
		t.Errorf("error = %+v: %v", first, first)
	}
	if !es[1].Password.IsZero() {
		t.Error("the password was decoded despite the unpaired surrogate")
	}
	if strings.Contains(err.Error(), canary) {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestIsJSONDocument(t *testing.T) {
	tests := []struct {
		in   string
		json bool
	}{
		{`[]`, true},
		{" \r\n\t[ \n ]", true},
		{`[{"id": "u1"}]`, true},
		{"[\n  {\n    \"id\": \"u1\"}]", true},
		{`[{}]`, true},
		{utf8BOM + `[{"id": "u1"}]`, true},
		{`[{"id": u1}]`, true}, // looks like JSON: read as JSON, and refused
		{`[{id: u1, operation: remove}]`, false},
		{`[ {'id': u1} ]`, false},
		{`[u1]`, false},
		{`["u1"]`, false},
		{"[ # YAML comment\n {id: u1}]", false},
		{"- id: u1\n", false},
		{"{\"id\": \"u1\"}", false},
		{"null", false},
		{"", false},
		{"\u00a0[]", false},
		{utf8BOM + utf8BOM + "[]", false},
	}
	for _, tt := range tests {
		if got := isJSONDocument([]byte(tt.in)); got != tt.json {
			t.Errorf("isJSONDocument(%q) = %v, want %v", tt.in, got, tt.json)
		}
	}
}

// YAML flow sequences with bare keys are still YAML, with YAML's rules.
func TestYAMLFlowStaysYAML(t *testing.T) {
	es, err := Parse([]byte(`[{id: u1, operation: add, password: S3cr3t\/x, role: Admin}, {id: u2, operation: remove},]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].Password.Reveal() != `S3cr3t\/x` {
		t.Errorf("entries = %+v", es)
	}
}

// The seed's JSON example goes through the JSON reader and gives the same
// entries as its YAML example, each on its own line.
func TestSeedJSONThroughJSONReader(t *testing.T) {
	j, y := readFixture(t, "seed.json"), readFixture(t, "seed.yaml")
	if !isJSONDocument(j) || isJSONDocument(y) {
		t.Fatal("seed.json must be read as JSON and seed.yaml as YAML")
	}
	je, err := decodeJSON(j)
	if err != nil {
		t.Fatal(err)
	}
	ye, err := Decode(y)
	if err != nil {
		t.Fatal(err)
	}
	if len(je) != len(ye) || len(je) != 5 {
		t.Fatalf("%d and %d entries", len(je), len(ye))
	}
	for i := range je {
		if je[i].Line != i+2 {
			t.Errorf("entry %d on line %d, want %d", i, je[i].Line, i+2)
		}
		a, b := je[i], ye[i]
		a.Line, b.Line = 0, 0
		if !reflect.DeepEqual(a, b) || a.Password.Reveal() != b.Password.Reveal() {
			t.Errorf("entry %d: JSON %+v, YAML %+v", i, a, b)
		}
	}
}

// decodeJSONInput is Decode with the JSON reader forced, after the checks
// Decode makes on every input.
func decodeJSONInput(data []byte) ([]Entry, error) {
	if len(data) > MaxInputBytes || !utf8.Valid(data) {
		return Decode(data) // refused before either reader runs
	}
	return decodeJSON(data)
}

// errorsAllowedWhenEncodingJSONAccepts are the project's strictness rules
// beyond what encoding/json checks when it decodes into []map[string]string.
var errorsAllowedWhenEncodingJSONAccepts = []string{
	"unknown field",  // any key decodes into a map
	"is given twice", // encoding/json keeps the last
	"an entry must be a mapping of fields, got null", // null decodes to a nil map
	"unpaired UTF-16 surrogate escape",               // encoding/json writes U+FFFD
}

// FuzzJSONAgainstEncodingJSON compares the JSON reader with encoding/json:
// what the project accepts, encoding/json accepts into the same entries; what
// encoding/json accepts, the project accepts too, or refuses for one of its
// own strictness rules (never as a syntax error); entries without errors
// equal encoding/json's. And Decode routes JSON-looking input to the reader.
func FuzzJSONAgainstEncodingJSON(f *testing.F) {
	for _, name := range []string{"seed.json", filepath.Join("invalid", "duplicate-key.json"),
		filepath.Join("invalid", "password-bool.json"), filepath.Join("invalid", "syntax-error.json")} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeJSONInput(data)
		if isJSONDocument(data) {
			es, derr := Decode(data)
			if !reflect.DeepEqual(es, got) || (derr == nil) != (err == nil) || (err != nil && derr.Error() != err.Error()) {
				t.Fatalf("Decode differs from the JSON reader: %v / %v", derr, err)
			}
		}
		var want []map[string]string
		jerr := json.Unmarshal(bytes.TrimPrefix(data, []byte(utf8BOM)), &want)
		if err == nil {
			if jerr != nil {
				t.Fatalf("accepted, but encoding/json says: %v", jerr)
			}
			if len(got) != len(want) {
				t.Fatalf("%d entries, encoding/json has %d", len(got), len(want))
			}
			for i, e := range got {
				if e.Index != i || e.Line < 1 {
					t.Fatalf("entry %d: index %d, line %d", i, e.Index, e.Line)
				}
				sameAsEncodingJSON(t, e, want[i])
			}
			// Every U+FFFD accepted was written in the input, raw or
			// escaped: none is a substitution.
			if n, max := replacementChars(got), writtenReplacementChars(data); n > max {
				t.Fatalf("accepted %d U+FFFD, but the input writes only %d", n, max)
			}
			return
		}
		checkRefusal(t, data, got, err)
		if jerr != nil {
			return // both refuse
		}
		var de *DocumentError
		if errors.As(err, &de) {
			if strings.Contains(de.Msg, "syntax error") {
				t.Fatalf("encoding/json accepts, but: %v", err)
			}
			return // a limit, non-UTF-8 (encoding/json writes U+FFFD), a top-level null
		}
		var le *ListError
		if !errors.As(err, &le) {
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
		for _, ee := range le.Errs {
			allowed := false
			for _, a := range errorsAllowedWhenEncodingJSONAccepts {
				allowed = allowed || strings.Contains(ee.Msg, a)
			}
			if !allowed {
				t.Fatalf("encoding/json accepts, but: %v", ee)
			}
			if strings.Contains(ee.Msg, "surrogate") && !hasReplacementChar(want[ee.Index]) {
				t.Fatalf("unpaired surrogate reported, but encoding/json made no substitution: %v", ee)
			}
		}
		for i, e := range got {
			if len(le.ByIndex(i)) == 0 {
				sameAsEncodingJSON(t, e, want[i])
			}
		}
	})
}

func sameAsEncodingJSON(t *testing.T, e Entry, m map[string]string) {
	t.Helper()
	for k := range m {
		if !isField(k) {
			t.Fatalf("entry %d accepted with key %q that encoding/json decoded", e.Index, k)
		}
	}
	got := map[string]string{FieldID: e.ID, FieldOperation: string(e.Operation), FieldDescription: e.Description,
		FieldPassword: e.Password.Reveal(), FieldRole: string(e.Role)}
	for _, f := range fieldNames {
		if got[f] != m[f] {
			t.Fatalf("entry %d: %s = %q, encoding/json has %q", e.Index, f, got[f], m[f])
		}
	}
}

func replacementChars(es []Entry) int {
	n := 0
	for _, e := range es {
		for _, v := range []string{e.ID, string(e.Operation), e.Description, e.Password.Reveal(), string(e.Role)} {
			n += strings.Count(v, "\ufffd")
		}
	}
	return n
}

// writtenReplacementChars counts U+FFFD written in data as a character or as
// a \ufffd escape (an over-count is harmless: it only bounds).
func writtenReplacementChars(data []byte) int {
	s := string(data)
	return strings.Count(s, "\ufffd") + strings.Count(strings.ToLower(s), `\ufffd`)
}

func hasReplacementChar(m map[string]string) bool {
	for k, v := range m {
		if strings.ContainsRune(k, utf8.RuneError) || strings.ContainsRune(v, utf8.RuneError) {
			return true
		}
	}
	return false
}

var lineColumnRe = regexp.MustCompile(`line (\d+), column (\d+)|line (\d+): .*column (\d+)`)

// textAt shows, for a failing test, the input text at the line and column
// each message names.
func textAt(in string, msgs []string) string {
	lines := strings.Split(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(strings.TrimPrefix(in, utf8BOM)), "\n")
	var out []string
	for _, msg := range msgs {
		m := lineColumnRe.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		if m[1] == "" {
			m[1], m[2] = m[3], m[4]
		}
		l, _ := strconv.Atoi(m[1])
		c, _ := strconv.Atoi(m[2])
		at := "(beyond the input)"
		if l >= 1 && l <= len(lines) {
			if r := []rune(lines[l-1]); c >= 1 && c-1 <= len(r) {
				at = fmt.Sprintf("%q", string(r[c-1:min(len(r), c+11)]))
			}
		}
		out = append(out, fmt.Sprintf("line %d, column %d is at %s", l, c, at))
	}
	return strings.Join(out, "; ")
}
