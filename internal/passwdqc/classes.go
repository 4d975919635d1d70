package passwdqc

// fixedBits is the fixed-point precision of expected_different().
const fixedBits = 15

// expectedDifferent returns the expected number of different symbols in a
// random string of length n over a charset of size c, rounded down, computed
// in 15-bit fixed point exactly like expected_different() in
// passwdqc_check.c: x = (c-1)<<15 / c; y = x, then n-1 times y = y*x>>15;
// result c*(2^15-y) >> 15. Integer math only: floating point can be off by
// one.
func expectedDifferent(c, n int) int {
	x := (uint64(c-1) << fixedBits) / uint64(c)
	y := x
	for n--; n > 0 && y != 0; n-- { // once 0, y stays 0
		y = (y * x) >> fixedBits
	}
	z := uint64(c) * ((1 << fixedBits) - y)
	return int(z >> fixedBits)
}

// C-locale (ASCII) character tests, as passwdqc uses isascii() && is*().
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isAlpha(c byte) bool { return isLower(c) || isUpper(c) }
func isASCII(c byte) bool { return c < 0x80 }

// isSimple reports whether pw is too simple for p (is_simple() in
// passwdqc_check.c, passwdqc.conf(5) "min="):
//
//   - bytes are counted in classes digit, lower, upper, other (any other
//     ASCII byte) and unknown (bytes >= 0x80);
//   - an upper-case first byte and a digit last byte do not count for their
//     class ("used in common ways");
//   - non-ASCII bytes only add a class when there is no other class, or
//     only digits, or at least two words;
//   - then, from the number of classes down to 1, the password passes if it
//     is long enough for that kind (N4 four classes, N3 three, N1 two,
//     N2 passphrase of at least Passphrase words, N0 one) and has at least
//     E(charset, N)-1 different bytes.
//
// bias is added to the length (substring checks credit or discount it);
// pbias replaces it for the passphrase length. Neither changes the number
// of different bytes, classes or words.
func (p *Policy) isSimple(pw []byte, bias, pbias int) bool {
	length := len(pw)
	if length == 0 {
		return true
	}
	var digits, lowers, uppers, others, unknowns, words int
	var seen [256]bool
	chars := 0
	prev := byte(' ')
	for _, c := range pw {
		switch {
		case !isASCII(c):
			unknowns++
		case isDigit(c):
			digits++
		case isLower(c):
			lowers++
		case isUpper(c):
			uppers++
		default:
			others++
		}
		// A word starts when a letter follows a non-letter, or when a
		// non-ASCII byte follows an ASCII space; nothing starts a word
		// right after a non-ASCII byte.
		if isASCII(prev) {
			if isASCII(c) {
				if isAlpha(c) && !isAlpha(prev) {
					words++
				}
			} else if isCSpace(prev) {
				words++
			}
		}
		prev = c
		if !seen[c] {
			seen[c] = true
			chars++
		}
	}

	if uppers > 0 && isUpper(pw[0]) {
		uppers--
	}
	if digits > 0 && isDigit(pw[length-1]) {
		digits--
	}

	classes := 0
	for _, n := range [...]int{digits, lowers, uppers, others} {
		if n > 0 {
			classes++
		}
	}
	if unknowns > 0 && classes <= 1 && (classes == 0 || digits > 0 || words >= 2) {
		classes++
	}

	// pass reports length+b >= n && chars >= E(charset, n)-1; the length
	// test comes first so E is never computed for Disabled.
	pass := func(b, n, charset int) bool {
		return length+b >= n && chars >= expectedDifferent(charset, n)-1
	}
	for ; classes > 0; classes-- {
		switch classes {
		case 1:
			return !pass(bias, p.Min[0], 10)
		case 2:
			if pass(bias, p.Min[1], 36) {
				return false
			}
			if p.Passphrase == 0 || words < p.Passphrase {
				continue
			}
			if pass(pbias, p.Min[2], 27) {
				return false
			}
		case 3:
			if pass(bias, p.Min[3], 62) {
				return false
			}
		default: // 4
			if pass(bias, p.Min[4], 95) {
				return false
			}
		}
	}
	return true
}
