package params

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// utf8BOM is the UTF-8 byte order mark. RFC 8259 §8.1 lets a parser ignore
// one at the start of a text; the YAML path accepts it too.
const utf8BOM = "\ufeff"

// maxJSONDepth bounds the nesting of arrays and objects, as encoding/json's
// scanner does (maxNestingDepth), so that a hostile Param cannot exhaust the
// stack.
const maxJSONDepth = 10000

// isJSONDocument reports whether data is read as JSON rather than YAML: after
// an optional byte order mark and JSON whitespace it opens an array whose
// first element is an object with a double-quoted key (or an empty object),
// or the array is empty. Every JSON form of esxi/manage-users does; a YAML
// flow sequence written by hand (`[{id: u1, operation: remove}]`) does not and
// is read as YAML, whose flow syntax it is. A // or /* */ comment (which JSON does not have and
// YAML does not read as one) may come before the first element, so that the
// JSON reader can say what is wrong with it.
func isJSONDocument(data []byte) bool {
	p := jsonParser{data: data}
	p.skipBOM()
	p.skipWS()
	if !p.next('[') {
		return false
	}
	p.skipWS()
	for p.skipComment() {
		p.skipWS()
	}
	if p.next(']') {
		return true
	}
	if !p.next('{') {
		return false
	}
	p.skipWS()
	return p.peek() == '"' || p.peek() == '}'
}

// decodeJSON reads an esxi/manage-users document as JSON (RFC 8259) with the
// same rules as the YAML path: one array of objects whose values are strings
// (null means absent, as in the Param's JSON Schema), known keys only, each at
// most once, at most MaxEntries entries. Strings decode exactly as
// encoding/json decodes them, except that an unpaired UTF-16 surrogate escape
// (which encoding/json turns into U+FFFD) is an error naming the entry and
// field: a password must never change on the way in. The caller has checked
// the input's size and that it is UTF-8.
//
// Syntax errors give line, column and what was expected; they never quote
// input text, so no password can leak through them.
func decodeJSON(data []byte) ([]Entry, error) {
	p := &jsonParser{data: data, line: 1}
	p.skipBOM()
	p.skipWS()
	if p.peek() != '[' {
		if p.eof() || !p.atValue() {
			return nil, p.syntaxErr(p.here(), "expected '[' to open the array of entries, found %s", p.found())
		}
		start := p.here()
		v, err := p.value(1)
		if err != nil {
			return nil, err
		}
		return nil, &DocumentError{Line: start.line, Msg: fmt.Sprintf("expected an array of entries, got %s", v.kind)}
	}
	arr := p.here()
	p.pos++
	var vals []jsonValue
	p.skipWS()
	if !p.next(']') {
		for {
			p.skipWS()
			if p.peek() == ']' && len(vals) > 0 {
				return nil, p.syntaxErr(p.here(), "expected an entry after ',', found ']' (JSON allows no trailing comma)")
			}
			if !p.atValue() {
				return nil, p.syntaxErr(p.here(), "expected an entry (an object {…}), found %s", p.found())
			}
			v, err := p.value(2)
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
			p.skipWS()
			if p.next(',') {
				continue
			}
			if p.next(']') {
				break
			}
			return nil, p.syntaxErr(p.here(), "expected ',' or ']' after an entry, found %s", p.found())
		}
	}
	p.skipWS()
	if !p.eof() {
		return nil, p.syntaxErr(p.here(), "expected the end of the input after the array, found %s (esxi/manage-users is a single array)", p.found())
	}
	if len(vals) > MaxEntries {
		return nil, &DocumentError{Line: arr.line, Msg: fmt.Sprintf("%d entries; the limit is %d", len(vals), MaxEntries)}
	}
	entries := make([]Entry, 0, len(vals))
	var errs []*EntryError
	for i, v := range vals {
		e, ee := p.entry(i, v)
		entries = append(entries, e)
		errs = append(errs, ee...)
	}
	if len(errs) > 0 {
		return entries, &ListError{Errs: errs}
	}
	return entries, nil
}

// entry turns one element of the array into an Entry, with the same checks
// and messages as decodeEntry on the YAML path.
func (p *jsonParser) entry(i int, v jsonValue) (Entry, []*EntryError) {
	if v.kind != jsonObject {
		return notMapping(i, v.pos.line, string(v.kind))
	}
	members := make([]member, 0, len(v.members))
	for _, jm := range v.members {
		key, val := jm.key, jm.val
		m := member{name: key.str, keyLine: key.pos.line, valLine: val.pos.line, value: val.str}
		if key.surrogate != nil {
			m.keyErr = fmt.Sprintf("unknown field (not shown: it has an unpaired UTF-16 surrogate escape at column %d); fields are %s",
				p.column(*key.surrogate), strings.Join(fieldNames, ", "))
		}
		switch {
		case val.kind == jsonNull:
			m.null = true
		case val.kind == jsonNumber || val.kind == jsonBool:
			m.valErr = fmt.Sprintf("must be a string, got %s (quote the value to make it a string)", val.kind)
		case val.kind != jsonString:
			m.valErr = fmt.Sprintf("must be a string, got %s", val.kind)
		case val.surrogate != nil:
			m.valErr = fmt.Sprintf("has an unpaired UTF-16 surrogate escape at column %d: a \\uD800–\\uDBFF escape must be followed by a \\uDC00–\\uDFFF escape "+
				"(refused rather than decoded as U+FFFD, which would change the value)", p.column(*val.surrogate))
		}
		members = append(members, m)
	}
	return entryOf(i, v.pos.line, members)
}

// jsonKind names a JSON value in messages, the way kindName does for YAML.
type jsonKind string

const (
	jsonString jsonKind = "a string"
	jsonNumber jsonKind = "a number"
	jsonBool   jsonKind = "a boolean"
	jsonNull   jsonKind = "null"
	jsonArray  jsonKind = "an array"
	jsonObject jsonKind = "an object"
)

// jsonPos is a place in the input: a byte offset and the line it is on.
type jsonPos struct {
	off       int
	line      int // 1-based
	lineStart int // offset of the line's first byte
}

type jsonValue struct {
	kind      jsonKind
	pos       jsonPos
	str       string       // decoded, for jsonString
	surrogate *jsonPos     // the first unpaired surrogate escape of a string, if any
	members   []jsonMember // for jsonObject, in input order (duplicates kept)
}

type jsonMember struct{ key, val jsonValue }

// jsonParser is a strict RFC 8259 reader over the whole input. Line breaks
// occur only in whitespace (a raw line break inside a string is an error), so
// skipWS alone keeps line and lineStart.
type jsonParser struct {
	data      []byte
	pos       int
	line      int
	lineStart int

	// column cache: the column of colOff, on the line starting at colLine.
	colLine, colOff, col int
}

func (p *jsonParser) eof() bool { return p.pos >= len(p.data) }

func (p *jsonParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.data[p.pos]
}

func (p *jsonParser) next(c byte) bool {
	if p.peek() == c && !p.eof() {
		p.pos++
		return true
	}
	return false
}

func (p *jsonParser) here() jsonPos { return jsonPos{off: p.pos, line: p.line, lineStart: p.lineStart} }

func (p *jsonParser) skipBOM() {
	if bytes.HasPrefix(p.data[p.pos:], []byte(utf8BOM)) {
		p.pos += len(utf8BOM)
		p.lineStart = p.pos // the mark is not a character of line 1
	}
}

// skipWS skips JSON whitespace: space, tab, line feed, carriage return. A
// line ends at LF, CRLF or a lone CR.
func (p *jsonParser) skipWS() {
	for !p.eof() {
		switch p.data[p.pos] {
		case ' ', '\t':
		case '\n':
			p.line++
			p.lineStart = p.pos + 1
		case '\r':
			if p.pos+1 >= len(p.data) || p.data[p.pos+1] != '\n' {
				p.line++
				p.lineStart = p.pos + 1
			}
		default:
			return
		}
		p.pos++
	}
}

// skipComment skips a // or /* */ comment at the current position (for
// isJSONDocument only: JSON has no comments).
func (p *jsonParser) skipComment() bool {
	rest := p.data[p.pos:]
	switch {
	case bytes.HasPrefix(rest, []byte("//")):
		if i := bytes.IndexAny(rest, "\r\n"); i >= 0 {
			p.pos += i
		} else {
			p.pos = len(p.data)
		}
		return true
	case bytes.HasPrefix(rest, []byte("/*")):
		if i := bytes.Index(rest[2:], []byte("*/")); i >= 0 {
			p.pos += i + 4
			return true
		}
	}
	return false
}

// column is the 1-based character position of pos on its line.
func (p *jsonParser) column(pos jsonPos) int {
	from, col := pos.lineStart, 1
	if p.colLine == pos.lineStart && p.colOff <= pos.off && p.col > 0 {
		from, col = p.colOff, p.col
	}
	col += utf8.RuneCount(p.data[from:pos.off])
	p.colLine, p.colOff, p.col = pos.lineStart, pos.off, col
	return col
}

// syntaxErr is a JSON syntax error at pos. format and args must never carry
// input text.
func (p *jsonParser) syntaxErr(pos jsonPos, format string, args ...any) error {
	return &DocumentError{Line: pos.line, Column: p.column(pos), Msg: "JSON syntax error: " + fmt.Sprintf(format, args...)}
}

// atValue reports whether a JSON value can start at the current position.
func (p *jsonParser) atValue() bool {
	if p.eof() {
		return false
	}
	switch c := p.data[p.pos]; {
	case c == '{' || c == '[' || c == '"' || c == '-' || isDigit(c):
		return true
	}
	return p.literal() != ""
}

func (p *jsonParser) literal() string {
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(p.data[p.pos:], []byte(lit)) {
			return lit
		}
	}
	return ""
}

// found describes what is at the current position without quoting input
// text: JSON punctuation is named, anything else only by its class.
func (p *jsonParser) found() string {
	if p.eof() {
		return "the end of the input"
	}
	c := p.data[p.pos]
	var next byte
	if p.pos+1 < len(p.data) {
		next = p.data[p.pos+1]
	}
	switch {
	case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		return "whitespace"
	case c == '"':
		return "a string"
	case strings.IndexByte("{}[],:", c) >= 0:
		return "'" + string(c) + "'"
	case c == '-' || isDigit(c):
		return "a number"
	case c == '#' || c == '/' && (next == '/' || next == '*'):
		return "a comment (JSON has no comments)"
	case c == '\'':
		return "a single quote (JSON strings use double quotes)"
	case p.literal() != "":
		return p.literal()
	}
	r, _ := utf8.DecodeRune(p.data[p.pos:])
	switch {
	case r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
		return "an unquoted word (JSON strings use double quotes)"
	case r == 0xfeff:
		return "a byte order mark (allowed only at the start of the input)"
	case unicode.IsSpace(r) || unicode.Is(unicode.Zs, r):
		return fmt.Sprintf("the space character %U, which is not JSON whitespace (space, tab, CR, LF)", r)
	}
	return "a character that is not JSON syntax"
}

// value reads one JSON value at depth (1 for the document).
func (p *jsonParser) value(depth int) (jsonValue, error) {
	v := jsonValue{pos: p.here()}
	if depth > maxJSONDepth {
		return v, p.syntaxErr(v.pos, "arrays and objects nested deeper than %d levels", maxJSONDepth)
	}
	switch c := p.peek(); {
	case c == '"':
		s, sur, err := p.str()
		v.kind, v.str, v.surrogate = jsonString, s, sur
		return v, err
	case c == '-' || isDigit(c):
		v.kind = jsonNumber
		return v, p.number()
	case c == '{':
		v.kind = jsonObject
		return v, p.object(&v, depth)
	case c == '[':
		v.kind = jsonArray
		return v, p.array(depth)
	}
	switch lit := p.literal(); lit {
	case "true", "false":
		v.kind = jsonBool
		p.pos += len(lit)
		return v, nil
	case "null":
		v.kind = jsonNull
		p.pos += len(lit)
		return v, nil
	}
	return v, p.syntaxErr(v.pos, "expected a value, found %s", p.found())
}

func (p *jsonParser) object(v *jsonValue, depth int) error {
	p.pos++ // {
	p.skipWS()
	if p.next('}') {
		return nil
	}
	for {
		p.skipWS()
		if p.peek() != '"' {
			if p.peek() == '}' && len(v.members) > 0 {
				return p.syntaxErr(p.here(), "expected a field name after ',', found '}' (JSON allows no trailing comma)")
			}
			return p.syntaxErr(p.here(), "expected a field name (a string in double quotes), found %s", p.found())
		}
		key, err := p.value(depth + 1)
		if err != nil {
			return err
		}
		p.skipWS()
		if !p.next(':') {
			return p.syntaxErr(p.here(), "expected ':' after a field name, found %s", p.found())
		}
		p.skipWS()
		val, err := p.value(depth + 1)
		if err != nil {
			return err
		}
		v.members = append(v.members, jsonMember{key: key, val: val})
		p.skipWS()
		if p.next(',') {
			continue
		}
		if p.next('}') {
			return nil
		}
		return p.syntaxErr(p.here(), "expected ',' or '}' after a field's value, found %s", p.found())
	}
}

// array reads a nested array (the document's own array is read by
// decodeJSON, which keeps its elements).
func (p *jsonParser) array(depth int) error {
	p.pos++ // [
	p.skipWS()
	if p.next(']') {
		return nil
	}
	for n := 0; ; n++ {
		p.skipWS()
		if p.peek() == ']' && n > 0 {
			return p.syntaxErr(p.here(), "expected a value after ',', found ']' (JSON allows no trailing comma)")
		}
		if _, err := p.value(depth + 1); err != nil {
			return err
		}
		p.skipWS()
		if p.next(',') {
			continue
		}
		if p.next(']') {
			return nil
		}
		return p.syntaxErr(p.here(), "expected ',' or ']' after an array element, found %s", p.found())
	}
}

// number checks the RFC 8259 number grammar:
// -? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?
// Its value is never needed: a number is never a string.
func (p *jsonParser) number() error {
	start := p.here()
	p.next('-')
	switch {
	case p.next('0'):
		if isDigit(p.peek()) {
			return p.syntaxErr(start, "a number cannot have a leading zero")
		}
	case isDigit(p.peek()):
		p.digits()
	default:
		return p.syntaxErr(p.here(), "expected a digit after '-', found %s", p.found())
	}
	if p.next('.') {
		if !isDigit(p.peek()) {
			return p.syntaxErr(p.here(), "expected a digit after the decimal point, found %s", p.found())
		}
		p.digits()
	}
	if p.next('e') || p.next('E') {
		if !p.next('+') {
			p.next('-')
		}
		if !isDigit(p.peek()) {
			return p.syntaxErr(p.here(), "expected a digit in the exponent, found %s", p.found())
		}
		p.digits()
	}
	return nil
}

func (p *jsonParser) digits() {
	for isDigit(p.peek()) && !p.eof() {
		p.pos++
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// str reads a string and decodes its escapes as encoding/json does
// (RFC 8259 §7), returning the position of the first unpaired surrogate
// escape instead of substituting U+FFFD for it.
func (p *jsonParser) str() (string, *jsonPos, error) {
	start := p.here()
	p.pos++ // "
	var (
		b         strings.Builder
		surrogate *jsonPos
		plain     = p.pos // start of the run of bytes copied as they are
	)
	for {
		if p.eof() {
			return "", nil, p.syntaxErr(start, "the string that starts here is not closed before the end of the input")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			b.Write(p.data[plain:p.pos])
			p.pos++
			return b.String(), surrogate, nil
		case c == '\n' || c == '\r':
			return "", nil, p.syntaxErr(start, "the string that starts here is not closed on its line (a line break inside a string is written \\n)")
		case c < 0x20:
			return "", nil, p.syntaxErr(p.here(), "a control character (U+0000–U+001F) inside a string must be written as an escape such as \\t or \\u0000")
		case c == '\\':
			// an escape, below
		case c < utf8.RuneSelf:
			p.pos++
			continue
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", nil, &DocumentError{Line: p.line, Column: p.column(p.here()), Msg: "input is not valid UTF-8"}
			}
			p.pos += size
			continue
		}
		b.Write(p.data[plain:p.pos])
		esc := p.here()
		p.pos++
		switch e := p.peek(); e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := p.hex4(p.pos + 1)
			if !ok {
				return "", nil, p.syntaxErr(esc, "\\u in a string must be followed by 4 hexadecimal digits")
			}
			p.pos += 4
			if utf16.IsSurrogate(r) {
				// A high surrogate followed by a low one is one character;
				// anything else is refused (encoding/json would write U+FFFD).
				r2, ok := rune(0), false
				if r < 0xdc00 && p.pos+2 < len(p.data) && p.data[p.pos+1] == '\\' && p.data[p.pos+2] == 'u' {
					r2, ok = p.hex4(p.pos + 3)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					p.pos += 6
				} else if surrogate == nil {
					surrogate = &esc
				}
			}
			b.WriteRune(r)
		default:
			if p.eof() {
				return "", nil, p.syntaxErr(start, "the string that starts here is not closed before the end of the input")
			}
			return "", nil, p.syntaxErr(esc, "invalid escape in a string; JSON's escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX")
		}
		p.pos++
		plain = p.pos
	}
}

// hex4 decodes the 4 hexadecimal digits at off.
func (p *jsonParser) hex4(off int) (rune, bool) {
	if off+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[off : off+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
