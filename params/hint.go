package params

import (
	"strings"
	"unicode/utf8"

	"github.com/esxi-users/esxi-users/internal/textsafe"
)

// nearest returns the candidate closest to s when it is a plausible typo
// or look-alike (the same letters in another case, the same letters drawn
// with look-alike characters such as a Greek Alpha for "A", or at most two
// characters away), else "".
func nearest(s string, candidates []string) string {
	if utf8.RuneCountInString(s) > textsafe.MaxEcho {
		return "" // no candidate is that long: not a typo
	}
	sk := skeleton(s)
	for _, c := range candidates {
		if strings.EqualFold(s, c) || strings.EqualFold(sk, c) {
			return c
		}
	}
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := len(runeDiff([]rune(sk), []rune(c))); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// hint is the near-miss suggestion for s among candidates, saying what
// differs when s looks like the candidate: ` (did you mean "Admin"?
// "Αdmin" contains U+0391 GREEK CAPITAL LETTER ALPHA, not "A")`.
func hint(s string, candidates []string) string {
	n := nearest(s, candidates)
	if n == "" {
		return ""
	}
	if why := lookAlike(s, n); why != "" {
		return " (did you mean " + quote(n) + "? " + why + ")"
	}
	return " (did you mean " + quote(n) + "?)"
}

func quote(s string) string { return `"` + s + `"` }
