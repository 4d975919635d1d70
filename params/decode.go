package params

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/esxi-users/esxi-users/internal/textsafe"
)

// Field names of an entry, as written in the Param.
const (
	FieldID          = "id"
	FieldOperation   = "operation"
	FieldDescription = "description"
	FieldPassword    = "password"
	FieldRole        = "role"
)

var fieldNames = []string{FieldID, FieldOperation, FieldDescription, FieldPassword, FieldRole}

// Decode reads an esxi/manage-users document: a YAML or JSON array of
// entries. Empty input and null mean an empty list.
//
// JSON (an array whose first entry starts with a double-quoted key, or [];
// see isJSONDocument) is read by a strict RFC 8259 reader: escapes decode as
// encoding/json decodes them, and an unpaired UTF-16 surrogate escape is an
// error rather than U+FFFD. Anything else, including a YAML flow sequence
// with bare keys, is read as YAML 1.2. Both forms of the seed's example give
// the same entries.
//
// It rejects, as errors wrapping errkind.ErrInvalid: input over MaxInputBytes,
// non-UTF-8 bytes, syntax errors, more than one document, anything but an
// array of mappings, more than MaxEntries entries, unknown keys (with a hint
// for near misses such as "passwrod"), duplicate keys, and values that are
// not strings (null is the same as an absent field). All entry-level
// problems are collected into one *ListError. Error messages are rebuilt from
// line numbers and field names only: they never quote a value, so a password
// cannot leak through them.
//
// Decode does not apply the rules of Validate.
func Decode(data []byte) ([]Entry, error) {
	if len(data) > MaxInputBytes {
		return nil, &DocumentError{Msg: fmt.Sprintf("input is %d bytes; the limit is %d", len(data), MaxInputBytes)}
	}
	if !utf8.Valid(data) {
		return nil, &DocumentError{Line: invalidUTF8Line(data), Msg: "input is not valid UTF-8"}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if isJSONDocument(data) {
		return decodeJSON(data)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, syntaxError(err)
		}
		return nil, &DocumentError{Line: line, Msg: "more than one YAML document; esxi/manage-users is a single array"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	root = resolveAlias(root)
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.SequenceNode {
		return nil, &DocumentError{Line: root.Line, Msg: fmt.Sprintf("expected an array of entries, got %s", kindName(root))}
	}
	if len(root.Content) > MaxEntries {
		return nil, &DocumentError{Line: root.Line, Msg: fmt.Sprintf("%d entries; the limit is %d", len(root.Content), MaxEntries)}
	}
	entries := make([]Entry, 0, len(root.Content))
	var errs []*EntryError
	for i, n := range root.Content {
		e, ee := decodeEntry(i, resolveAlias(n))
		entries = append(entries, e)
		errs = append(errs, ee...)
	}
	if len(errs) > 0 {
		return entries, &ListError{Errs: errs}
	}
	return entries, nil
}

func decodeEntry(i int, n *yaml.Node) (Entry, []*EntryError) {
	if n.Kind != yaml.MappingNode {
		return notMapping(i, n.Line, kindName(n))
	}
	members := make([]member, 0, len(n.Content)/2)
	for k := 0; k+1 < len(n.Content); k += 2 {
		key, val := n.Content[k], resolveAlias(n.Content[k+1])
		m := member{name: key.Value, keyLine: key.Line, valLine: val.Line, value: val.Value}
		if key.Kind != yaml.ScalarNode {
			m.keyErr = fmt.Sprintf("a key must be a field name, got %s", kindName(key))
		}
		switch {
		case val.Kind == yaml.ScalarNode && val.Tag == "!!null":
			m.null = true
		case !isStringScalar(val):
			m.valErr = fmt.Sprintf("must be a string, got %s%s", kindName(val), quoteHint(val))
		}
		members = append(members, m)
	}
	return entryOf(i, n.Line, members)
}

// member is one key and value of an entry as a decoder (YAML or JSON) read
// them: entryOf makes the entry with the checks and messages both share.
type member struct {
	name    string // the key's text
	keyLine int
	keyErr  string // why the key cannot be a field name ("" when it can)
	valLine int
	null    bool   // an empty value: the same as an absent one
	value   string // the value, when it is a string
	valErr  string // why the value is not a string ("must be a string, …")
}

// notMapping is entry i that is not a mapping (an object) of fields.
func notMapping(i, line int, kind string) (Entry, []*EntryError) {
	return Entry{Index: i, Line: line}, []*EntryError{{Index: i, Line: line, Msg: fmt.Sprintf("line %d: an entry must be a mapping of fields, got %s", line, kind)}}
}

// entryOf makes entry i (on line) of its members: id and operation read
// first, so that every message names the entry; then each member checked
// in order — a key that cannot be a field name, an unknown field (shown
// only when it is a near miss of a field name: anything else could be a
// misplaced secret), a field given twice, a value that is not a string —
// and its field set.
func entryOf(i, line int, members []member) (Entry, []*EntryError) {
	e := Entry{Index: i, Line: line}
	for _, m := range members {
		if m.keyErr != "" || m.null || m.valErr != "" {
			continue
		}
		switch m.name {
		case FieldID:
			e.ID = m.value
		case FieldOperation:
			e.Operation = Operation(m.value)
		}
	}
	var errs []*EntryError
	fail := func(line int, field, format string, args ...any) {
		errs = append(errs, &EntryError{Index: i, Line: line, ID: e.ID, Operation: e.Operation, Field: field,
			Msg: fmt.Sprintf("line %d: ", line) + fmt.Sprintf(format, args...)})
	}
	seen := map[string]int{}
	for _, m := range members {
		name := m.name
		switch {
		case m.keyErr != "":
			fail(m.keyLine, "", "%s", m.keyErr)
			continue
		case !isField(name):
			if h := hint(name, fieldNames); h != "" {
				fail(m.keyLine, name, "unknown field %q%s; fields are %s", textsafe.Clip(name), h, strings.Join(fieldNames, ", "))
			} else {
				fail(m.keyLine, "", "unknown field (not shown); fields are %s", strings.Join(fieldNames, ", "))
			}
			continue
		}
		if first, dup := seen[name]; dup {
			fail(m.keyLine, name, "%s is given twice (first on line %d)", name, first)
			continue
		}
		seen[name] = m.keyLine
		switch {
		case m.null:
			continue // an empty value is the same as an absent one (the Param's schema allows null)
		case m.valErr != "":
			fail(m.valLine, name, "%s %s", name, m.valErr)
			continue
		}
		switch name {
		case FieldDescription:
			e.Description = m.value
		case FieldPassword:
			e.Password = NewPassword(m.value)
		case FieldRole:
			e.Role = Role(m.value)
		}
	}
	return e, errs
}

func isField(name string) bool {
	for _, f := range fieldNames {
		if f == name {
			return true
		}
	}
	return false
}

func isStringScalar(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!str" && !overflowedNumber(n)
}

// overflowedNumber reports whether n is a plain scalar that is a YAML
// number yaml.v3 could not hold (1e400, 0x1FFFFFFFFFFFFFFFFF): it then tags
// it !!str, falling back to a string (resolve.go), where the JSON reader
// refuses the same number. Numbers are never strings in either. The
// grammar is yaml.v3's own for numbers (its yamlStyleFloat, and
// strconv.ParseInt's base prefixes), with its underscores removed.
func overflowedNumber(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode || n.Style != 0 || n.Tag != "!!str" {
		return false
	}
	v := strings.ReplaceAll(n.Value, "_", "")
	return yamlFloat.MatchString(v) || yamlPrefixedInt.MatchString(v)
}

var (
	// yamlFloat is yaml.v3's yamlStyleFloat (resolve.go): decimal integers
	// and floats.
	yamlFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
	// yamlPrefixedInt are the hexadecimal, octal and binary integers
	// yaml.v3 reads (strconv.ParseInt with base 0, and its 0b and 0o).
	yamlPrefixedInt = regexp.MustCompile(`^[-+]?0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)$`)
)

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// kindName describes a node without quoting it.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "an array"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int":
			return "a number"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		case "!!str":
			if overflowedNumber(n) {
				return "a number"
			}
			return "a string"
		case "!!binary":
			return "binary data"
		case "!!timestamp":
			return "a timestamp"
		}
		return "a value tagged " + textsafe.Clip(n.Tag)
	}
	return "an unsupported node"
}

// quoteHint suggests quoting a YAML plain scalar that resolved to a
// non-string type (yes, 1234, 2024-01-01…).
func quoteHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.Style == 0 {
		return " (quote the value to make it a string)"
	}
	return ""
}

var (
	yamlLineRe  = regexp.MustCompile(`^line (\d+): `)
	yamlQuoteRe = regexp.MustCompile("`[^`]*`|\"[^\"]*\"|'[^']*'")
)

// yamlProblem is what a yaml.v3 problem means to someone writing the Param.
type yamlProblem struct {
	// parser: a parser error, whose line yaml.v3 reports 0-based (one less
	// than the line's number) and which is the line where the enclosing
	// mapping or list starts, or — when that is line 1 — the offending
	// token's. Scanner errors are reported with the 1-based line of the
	// problem (or of the quoted string it is in).
	parser bool
	msg    string
}

// yamlProblems are yaml.v3's problem texts (constants in its scanner and
// parser: they never carry input text) and what each means here.
var yamlProblems = map[string]yamlProblem{
	// parser
	"did not find expected key":              {true, "expected a key (field: value) aligned with the other keys of the mapping that starts on or before this line: a line after it may be indented differently"},
	"did not find expected '-' indicator":    {true, "expected an entry starting with \"- \" aligned with the other entries of the list that starts on or before this line: a line after it may be indented differently"},
	"did not find expected ',' or ']'":       {true, "expected ',' or ']' in the [ … ] list that starts on or before this line (is a ']' missing, or a ',' between two entries?)"},
	"did not find expected ',' or '}'":       {true, "expected ',' or '}' in the { … } mapping that starts on or before this line (is a '}' missing, or a ',' between two fields?)"},
	"did not find expected node content":     {true, "expected a value"},
	"did not find expected <document start>": {true, "expected the start of a document"},
	// scanner
	"mapping values are not allowed in this context":               {false, "a ': ' where no key is expected: a value that contains ': ' must be quoted, and a key must be indented like the other keys of its entry"},
	"could not find expected ':'":                                  {false, "expected ':' after a key (fields are written field: value)"},
	"found character that cannot start any token":                  {false, "a character that cannot start a value (a tab used for indentation, or an unquoted @ or `): indent with spaces, and quote a value that starts with @ or `"},
	"found a tab character that violates indentation":              {false, "a tab used for indentation: YAML indents with spaces"},
	"found a tab character where an indentation space is expected": {false, "a tab used for indentation: YAML indents with spaces"},
	"found unexpected end of stream":                               {false, "a quoted string that starts on this line is not closed before the end of the input"},
	"found unexpected document indicator":                          {false, "a quoted string that starts on this line runs into a document marker (--- or ...): close the quote"},
	"found unknown escape character":                               {false, "a double-quoted string that starts on this line has an escape that YAML does not know: write a backslash as \\\\ in double quotes, or use single quotes"},
	"did not find expected hexdecimal number":                      {false, "a \\x, \\u or \\U escape in a double-quoted string that starts on this line is not followed by enough hexadecimal digits"},
	"found invalid Unicode character escape code":                  {false, "a \\u or \\U escape in a double-quoted string that starts on this line is not a valid character"},
	"did not find expected alphabetic or numeric character":        {false, "an & or * that is not followed by a name: quote a value that starts with & or *"},
	"did not find expected comment or line break":                  {false, "expected the end of the line after a block scalar indicator (| or >) or a directive"},
	"found an indentation indicator equal to 0":                    {false, "a block scalar's indentation indicator (| or > followed by a digit) is 0"},
	"control characters are not allowed":                           {false, "the input has a control character that YAML does not allow"},
}

// syntaxError rebuilds a yaml.v3 error: the line it names (corrected to
// 1-based for parser errors) and what was expected, in words. yaml.v3 gives
// no column. Its problem texts are constants, but other errors may quote
// input (an unknown anchor's name, which may be part of a password): those
// are reported with every quoted fragment removed.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &line)
		msg = msg[len(m[0]):]
	}
	if p, ok := yamlProblems[msg]; ok {
		if p.parser || line == 0 {
			line++ // 0-based (parser) or on the first line (no line given)
		}
		return &DocumentError{Line: line, Msg: "YAML syntax error: " + p.msg}
	}
	if strings.HasPrefix(msg, "unknown anchor ") {
		return &DocumentError{Line: line, Msg: "YAML syntax error: an alias (*name) refers to an anchor (&name) that is not defined; quote a value that starts with *"}
	}
	msg = strings.TrimSpace(yamlQuoteRe.ReplaceAllString(msg, "(…)"))
	if msg == "" {
		msg = "syntax error"
	}
	return &DocumentError{Line: line, Msg: "YAML syntax error: " + msg}
}

func invalidUTF8Line(data []byte) int {
	line := 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line
		}
		if r == '\n' {
			line++
		}
		data = data[size:]
	}
	return line
}

// NoList reports whether data holds no list at all — nothing but white
// space, a byte order mark or YAML comments, or a null document (null, ~)
// — and says which ("empty", "null"). Decode reads such input as an empty
// list, as DRP gives an unset Param; the CLI refuses it from --file or
// standard input, where it is more likely a mistake (a truncated file, a
// command before the pipe that failed) than a list: a list with no entries
// is written [].
func NoList(data []byte) (what string, ok bool) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if len(bytes.TrimSpace(data)) == 0 {
		return "empty", true
	}
	if len(data) > MaxInputBytes || !utf8.Valid(data) || isJSONDocument(data) {
		return "", false
	}
	var doc yaml.Node
	err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc)
	switch {
	case errors.Is(err, io.EOF):
		return "empty", true // comments only
	case err != nil:
		return "", false
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root = resolveAlias(root); root.Kind == yaml.ScalarNode && root.Tag == "!!null" && len(bytes.TrimSpace(data)) > 0 {
		if root.Value == "" {
			return "empty", true // "---" alone
		}
		return "null", true
	}
	return "", false
}
