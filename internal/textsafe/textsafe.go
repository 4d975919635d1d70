// Package textsafe makes text from input or from a host safe to print on a
// terminal or in a job log: control characters and bidirectional-override
// characters are replaced by visible escapes, so an id, a role or a host's
// fault message cannot move the cursor, retitle the window, erase a line or
// reorder what the operator reads.
//
// What is escaped:
//   - C0 controls U+0000–U+001F (ESC, NUL, BEL, CR, LF, TAB…) and DEL U+007F,
//     as \xNN (\n, \r and \t as such);
//   - C1 controls U+0080–U+009F (CSI U+009B, OSC U+009D…), as \u00NN;
//   - the Unicode Bidi_Control characters U+061C, U+200E, U+200F,
//     U+202A–U+202E and U+2066–U+2069 (Trojan Source, CVE-2021-42574), and
//     the line and paragraph separators U+2028, U+2029, as \uNNNN;
//   - bytes that are not UTF-8, as \xNN (a lone 0x9B is CSI to a terminal
//     in 8-bit mode).
//
// A backslash is left as it is, so a name such as DOMAIN\user prints as
// written; the escapes are for the eyes, not for parsing back.
//
// JSON output keeps its values exact: JSON writes the same characters as
// \uXXXX escapes, which decode to the very same values (encoding/json
// escapes C0 controls but leaves DEL, C1 and bidi characters raw).
//
// Clip cuts a long input value before a message echoes it (MaxEcho bytes and
// the full size): every package that echoes input — the Param model, the
// certificate pins, the CLI — clips through it, so all cut alike.
package textsafe

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every character listed in the package documentation
// replaced by a visible escape. Use it for single-line values: the result
// has no line break.
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Lines escapes each line of a message this program composed of several
// lines (a list of invalid entries, say) and keeps the line breaks between
// them. Every other character is escaped as by Escape, so a line taken from
// a host can start no more than a plain new line.
func Lines(s string) string {
	if !needsEscape(s) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Escape(l)
	}
	return strings.Join(lines, "\n")
}

// JSON returns the JSON text js (as encoding/json writes it: valid UTF-8)
// with every character Escape would escape written as a \uXXXX escape. The
// characters can only occur inside strings (JSON's own syntax is ASCII
// without controls), where the escape means the same character: the
// document decodes to exactly the same values, and prints safely.
func JSON(js []byte) []byte {
	if Safe(string(js)) {
		return js
	}
	var b bytes.Buffer
	b.Grow(len(js) + 16)
	for i := 0; i < len(js); {
		r, size := utf8.DecodeRune(js[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteString(`\ufffd`) // not produced by encoding/json; never raw
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteRune(r) // whitespace between tokens (inside strings JSON has them escaped)
		case r < 0x20 || r == 0x7f || unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.Write(js[i : i+size])
		}
		i += size
	}
	return b.Bytes()
}

// Safe reports whether s prints as it is (Escape(s) == s).
func Safe(s string) bool { return !needsEscape(s) }

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || unsafeRune(r) {
			return true
		}
		i += size
	}
	return false
}

// unsafeRune reports the non-ASCII characters to escape: C1 controls, bidi
// controls and the Unicode line and paragraph separators.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// NewWriter returns a writer that escapes the text of each Write as Lines
// does, except tabs, and passes it on to w. It suits writers that receive
// one whole message per Write, such as a flag.FlagSet's output, which
// echoes an unknown flag's name as given and lays its usage out with tabs
// (a tab moves the cursor to the next tab stop, nothing more); a character
// split across two Writes is escaped as bytes.
func NewWriter(w io.Writer) io.Writer { return writer{w} }

type writer struct{ w io.Writer }

func (w writer) Write(p []byte) (int, error) {
	s := string(p)
	if Safe(strings.ReplaceAll(s, "\t", "")) {
		return w.w.Write(p)
	}
	parts := strings.Split(s, "\t")
	for i, part := range parts {
		parts[i] = Lines(part)
	}
	if _, err := io.WriteString(w.w, strings.Join(parts, "\t")); err != nil {
		return 0, err
	}
	return len(p), nil
}
