package params

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/runenames"

	"github.com/esxi-users/esxi-users/internal/textsafe"
)

// RuneName names a character for a message: `a tab`, `a space`,
// `U+0391 GREEK CAPITAL LETTER ALPHA`, `U+0007 (a control character)`.
// Names come from the Unicode Character Database (golang.org/x/text
// runenames).
func RuneName(r rune) string {
	switch r {
	case '\t':
		return "a tab"
	case ' ':
		return "a space"
	case '\n':
		return "a line break"
	case '\r':
		return "a carriage return"
	}
	name := runenames.Name(r)
	if name == "" || strings.HasPrefix(name, "<") {
		// <control>, <private-use>, unassigned…
		kind := "an unnamed character"
		switch {
		case unicode.IsControl(r):
			kind = "a control character"
		case unicode.Is(unicode.Co, r):
			kind = "a private-use character"
		}
		return fmt.Sprintf("U+%04X (%s)", r, kind)
	}
	return fmt.Sprintf("U+%04X %s", r, name)
}

// confusables maps characters that look like (or are invisible next to) an
// ASCII letter, digit or nothing to what they look like: the Greek and
// Cyrillic capitals and small letters drawn as Latin ones, fullwidth forms,
// and invisible format characters. It is the skeleton nearest uses, so that
// "Αdmin" (Greek Alpha) is a near miss of "Admin" however many letters are
// swapped. Sources: Unicode TR 39 confusables.txt (a subset).
var confusables = map[rune]string{
	// Greek capitals
	'Α': "A", 'Β': "B", 'Ε': "E", 'Ζ': "Z", 'Η': "H", 'Ι': "I", 'Κ': "K", 'Μ': "M", 'Ν': "N", 'Ο': "O",
	'Ρ': "P", 'Τ': "T", 'Υ': "Y", 'Χ': "X",
	// Greek small
	'ο': "o", 'ν': "v", 'ι': "i", 'κ': "k", 'α': "a", 'ρ': "p", 'υ': "u",
	// Cyrillic capitals
	'А': "A", 'В': "B", 'Е': "E", 'К': "K", 'М': "M", 'Н': "H", 'О': "O", 'Р': "P", 'С': "C", 'Т': "T",
	'Х': "X", 'Ѕ': "S", 'І': "I", 'Ј': "J",
	// Cyrillic small
	'а': "a", 'е': "e", 'о': "o", 'р': "p", 'с': "c", 'у': "y", 'х': "x", 'ѕ': "s", 'і': "i", 'ј': "j",
	'һ': "h", 'ԁ': "d", 'ԛ': "q", 'ԝ': "w",
	// Latin look-alikes
	'ı': "i", 'ℓ': "l", 'Ɩ': "l",
	// invisible or blank
	'\u00a0': " ", '\u00ad': "", '\u200b': "", '\u200c': "", '\u200d': "", '\u2060': "", '\ufeff': "",
}

// skeleton is s with every confusable replaced by what it looks like, and
// fullwidth ASCII forms (U+FF01–U+FF5E) by their ASCII letters.
func skeleton(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			b.WriteRune(r - 0xFF01 + '!')
		default:
			if c, ok := confusables[r]; ok {
				b.WriteString(c)
			} else {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// lookAlike says what makes s differ from c when it looks like c: the
// characters of s that are not ASCII, or invisible, where c has another
// character or none, as `"Αdmin" contains U+0391 GREEK CAPITAL LETTER
// ALPHA, not "A"`. "" when the difference is plain ASCII (a typo, another
// case), which the "did you mean" hint already shows.
func lookAlike(s, c string) string {
	a, b := []rune(s), []rune(c)
	var parts []string
	for _, d := range runeDiff(a, b) {
		if d.got < 0 {
			continue // a character missing from s: the suggestion shows it
		}
		r := a[d.got]
		if r < utf8.RuneSelf && unicode.IsPrint(r) && r != ' ' {
			continue
		}
		part := RuneName(r)
		if d.want >= 0 {
			part += fmt.Sprintf(", not %q", string(b[d.want]))
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return ""
	}
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("and %d more", len(parts)-3))
	}
	return fmt.Sprintf("%q contains %s", textsafe.Clip(s), strings.Join(parts, "; "))
}

// diffOp is one difference between two rune slices: got is the index in
// the first (-1: a rune of the second is missing), want in the second (-1:
// an extra rune of the first).
type diffOp struct{ got, want int }

// runeDiff aligns a with b (Levenshtein, case-insensitive matches count
// as equal) and returns the substitutions, insertions and deletions in order.
func runeDiff(a, b []rune) []diffOp {
	n, m := len(a), len(b)
	d := make([][]int, n+1)
	for i := range d {
		d[i] = make([]int, m+1)
		d[i][0] = i
	}
	for j := 0; j <= m; j++ {
		d[0][j] = j
	}
	same := func(x, y rune) bool {
		return unicode.SimpleFold(x) == y || x == y || unicode.ToLower(x) == unicode.ToLower(y)
	}
	for i := 1; i <= n; i++ {
		for j := 1; j <= m; j++ {
			cost := 1
			if same(a[i-1], b[j-1]) {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
		}
	}
	var ops []diffOp
	for i, j := n, m; i > 0 || j > 0; {
		switch {
		case i > 0 && j > 0 && same(a[i-1], b[j-1]) && d[i][j] == d[i-1][j-1]:
			i, j = i-1, j-1
		case i > 0 && j > 0 && d[i][j] == d[i-1][j-1]+1:
			ops = append(ops, diffOp{i - 1, j - 1})
			i, j = i-1, j-1
		case i > 0 && d[i][j] == d[i-1][j]+1:
			ops = append(ops, diffOp{i - 1, -1})
			i--
		default:
			ops = append(ops, diffOp{-1, j - 1})
			j--
		}
	}
	for l, r := 0, len(ops)-1; l < r; l, r = l+1, r-1 {
		ops[l], ops[r] = ops[r], ops[l]
	}
	return ops
}
