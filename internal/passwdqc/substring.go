package passwdqc

// unifyTable maps each byte as unify() in passwdqc_check.c does: ASCII
// upper case to lower case, then the "leetspeak" folds a,@->4 e->3 i,|->!
// l->1 o->0 s,$->5 t,+->7. Every other byte is unchanged.
var unifyTable = func() (t [256]byte) {
	for i := range t {
		c := byte(i)
		if isUpper(c) {
			c += 'a' - 'A'
		}
		switch c {
		case 'a', '@':
			c = '4'
		case 'e':
			c = '3'
		case 'i', '|':
			c = '!'
		case 'l':
			c = '1'
		case 'o':
			c = '0'
		case 's', '$':
			c = '5'
		case 't', '+':
			c = '7'
		}
		t[i] = c
	}
	return t
}()

// unify returns the unified form of s (a new slice).
func unify(s []byte) []byte {
	u := make([]byte, len(s))
	for i, c := range s {
		u[i] = unifyTable[c]
	}
	return u
}

// reversed returns s reversed (a new slice).
func reversed(s []byte) []byte {
	r := make([]byte, len(s))
	for i, c := range s {
		r[len(s)-1-i] = c
	}
	return r
}

// matchMode selects what is_based() does with a common substring.
type matchMode int

const (
	// modeRemove: remove the matched bytes from the password and credit
	// Match-1 bytes of length (old password, personal information).
	modeRemove matchMode = iota
	// modeWord: discount the match from the length, requiring one more
	// byte when the match contains a non-letter (built-in words, wordlist).
	modeWord
	// modeSeq: discount the match from the length (sequences, years).
	modeSeq
)

// contains reports whether sub occurs in hay.
func contains(hay, sub []byte) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	for p := 0; p+n <= len(hay); p++ {
		if hay[p] == sub[0] && string(hay[p:p+n]) == string(sub) {
			return true
		}
	}
	return false
}

// isBased reports whether the password is "based on" hay (is_based() in
// passwdqc_check.c). needle is the unified password, or the unified password
// reversed when rev is set; original is the password as entered (never
// reversed). For every start i and length j >= Match of a substring of
// needle found in hay (lengths grow until no occurrence), the password is
// re-checked with is_simple:
//
//   - modeRemove: the matched bytes are removed from original and Match-1
//     bytes of length are credited;
//   - modeWord/modeSeq: original is checked whole with a length discount
//     of j-Match+1 bytes (bias Match-j-1); for words, a match containing a
//     non-letter needs one byte more (a match of exactly Match is skipped,
//     longer ones get bias Match-j) and the passphrase length is not
//     discounted. Only a discount worse than every earlier one is tried.
func (p *Policy) isBased(hay, needle, original []byte, mode matchMode, rev bool) bool {
	m := p.Match
	if m == 0 {
		return false
	}
	length := len(needle)
	worst := 0
	var scratch []byte
	for i := 0; i <= length-m; i++ {
	lengths:
		for j := m; i+j <= length; j++ {
			// Every occurrence of needle[i:i+j] in hay leads to the same
			// test, so looking for one occurrence is enough.
			if !contains(hay, needle[i:i+j]) {
				break // no match of this length: none longer either
			}
			switch mode {
			case modeRemove:
				pos := i
				if rev {
					pos = length - (i + j)
				}
				scratch = append(append(scratch[:0], original[:pos]...), original[pos+j:]...)
				bias := m - 1
				if p.isSimple(scratch, bias, bias) {
					return true
				}
				if bias == 0 {
					break lengths // passwdqc stops on a zero bias
				}
			default:
				bias := -1
				if mode == modeWord {
					pos, end := i, i+j
					if rev {
						pos, end = length-end, length-i
					}
					for _, c := range original[pos:end] {
						if !isAlpha(c) {
							if j == m {
								continue lengths
							}
							bias = 0
							break
						}
					}
				}
				bias += m - j
				if bias < worst {
					pbias := bias
					if mode == modeWord {
						pbias = 0
					}
					if p.isSimple(original, bias, pbias) {
						return true
					}
					worst = bias
				}
			}
		}
	}
	return false
}
