package textsafe

import (
	"fmt"
	"unicode/utf8"
)

// MaxEcho is how many bytes of an input value a message shows: a longer
// value is cut (at a character boundary) and its size given, so that a
// 100 KB id does not fill a log.
const MaxEcho = 64

// Clip is s as messages echo it: at most MaxEcho bytes, then "…(N bytes)"
// with the full size when it was cut. It is the one clip of the project:
// the Param model's messages (params) and the certificate pins' (tlspin)
// echo input through it. Clip does not escape; quote the result (%q) or
// pass it through Escape before printing.
func Clip(s string) string {
	if len(s) <= MaxEcho {
		return s
	}
	cut := MaxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}
