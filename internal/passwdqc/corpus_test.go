package passwdqc

// Deterministic corpus generator for the differential tests.

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// oraclePolicies are the option strings the corpus is run under, with the
// number of cases for each (fewer for the policies whose C check is slow:
// match=1 and match=2 compare nearly every substring). Each is given to
// pwqcheck as separate argv words and to Parse as one string.
var oraclePolicies = []struct {
	opts  string
	cases int
}{
	{ESXiDefault, 3000},
	{"similar=deny retry=3 min=disabled,disabled,disabled,disabled,15 max=64", 2400},
	{"retry=3 min=disabled,15,15,15,15 max=64 similar=deny passphrase=3", 2400},
	{"", 2400}, // passwdqc's own defaults: min=disabled,24,11,8,7 max=72
	{"min=disabled,8,8,7,6 max=8", 2400},
	{"match=0 min=disabled,12,10,8,7", 4000},
	{"passphrase=2 min=disabled,16,12,10,8 match=3 similar=permit", 2000},
	{"random=64 min=20,12,9,7,6 passphrase=4 match=6 max=40", 2400},
	{"min=0,0,0,0,0 match=1 passphrase=1", 600},
	{"min=10,10,10,10,10 match=2 max=10000 enforce=users non-unix", 800},
	{"random=47,only", 2000},
}

const (
	lowerChars = "abcdefghijklmnopqrstuvwxyz"
	upperChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digitChars = "0123456789"
	otherChars = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\t"
)

var (
	nonASCIIRunes = []rune{'é', 'ß', 'ü', 'Ω', 'ж', '€', '中', '★', 'ｱ', '😀', '𝔸', '🔑', '\u00a0'}
	controlBytes  = []byte{0x01, 0x02, 0x07, 0x08, 0x0b, 0x0c, 0x1b, 0x1f, 0x7f}
	testUsers     = []struct{ user, gecos string }{
		{"alice", "Alice Liddell"},
		{"root", "Administrator"},
		{"bob", "Bob"},
		{"veeam", "Veeam Backup Service"},
		{"svc-backup", "Backup service account,,,"},
		{"j.doe", "John Doe,Room 42,555-1234"},
		{"dcui", "DCUI User"},
		{"vpxuser", "VMware VirtualCenter administration account"},
		{"administrator", ""},
		{"zx", "Zed X"},
	}
	commonWords = []string{"password", "admin", "vmware", "welcome", "letmein", "summer", "winter", "dragon", "monkey", "master", "backup", "server", "secret", "shadow", "hello", "love"}
)

type corpusGen struct {
	r   *rand.Rand
	pol Policy
}

func (g *corpusGen) pick(s string) byte { return s[g.r.IntN(len(s))] }

func (g *corpusGen) randFrom(sets string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(g.pick(sets))
	}
	return b.String()
}

// classString builds a string of length n from the chosen classes
// (bitmask 1 lower, 2 upper, 4 digit, 8 other, 16 non-ASCII), each present
// at least once when room allows; it may put an upper first or digit last.
func (g *corpusGen) classString(mask, n int) string {
	var sets []string
	if mask&1 != 0 {
		sets = append(sets, lowerChars)
	}
	if mask&2 != 0 {
		sets = append(sets, upperChars)
	}
	if mask&4 != 0 {
		sets = append(sets, digitChars)
	}
	if mask&8 != 0 {
		sets = append(sets, otherChars)
	}
	if len(sets) == 0 && mask&16 == 0 {
		sets = append(sets, lowerChars)
	}
	var b []byte
	for len(b) < n {
		if mask&16 != 0 && (len(sets) == 0 || g.r.IntN(4) == 0) {
			b = append(b, string(nonASCIIRunes[g.r.IntN(len(nonASCIIRunes))])...)
			continue
		}
		b = append(b, g.pick(sets[len(b)%len(sets)]))
	}
	b = b[:n] // may split a UTF-8 sequence: fine, passwdqc works on bytes
	g.r.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	if n > 0 {
		switch g.r.IntN(4) {
		case 0:
			b[0] = g.pick(upperChars)
		case 1:
			b[n-1] = g.pick(digitChars)
		case 2:
			b[0] = g.pick(upperChars)
			b[n-1] = g.pick(digitChars)
		}
	}
	return string(b)
}

// distinctString returns a length-n string with (about) d distinct bytes
// from the given alphabet.
func (g *corpusGen) distinctString(alphabet string, n, d int) string {
	if d < 1 {
		d = 1
	}
	if d > len(alphabet) {
		d = len(alphabet)
	}
	perm := g.r.Perm(len(alphabet))[:d]
	b := make([]byte, n)
	for i := range b {
		if i < d {
			b[i] = alphabet[perm[i]]
		} else {
			b[i] = alphabet[perm[g.r.IntN(d)]]
		}
	}
	g.r.Shuffle(n, func(i, j int) { b[i], b[j] = b[j], b[i] })
	return string(b)
}

var leetMap = map[byte][]byte{'a': {'4', '@'}, 'e': {'3'}, 'i': {'!', '|', '1'}, 'l': {'1'}, 'o': {'0'}, 's': {'5', '$'}, 't': {'7', '+'}}

func (g *corpusGen) leet(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if subs, ok := leetMap[c]; ok && g.r.IntN(2) == 0 {
			b[i] = subs[g.r.IntN(len(subs))]
		}
	}
	return string(b)
}

func reverseString(s string) string { return string(reversed([]byte(s))) }

func (g *corpusGen) mangle(s string) string {
	if s == "" {
		return s
	}
	switch g.r.IntN(6) {
	case 0:
		return s
	case 1:
		return strings.ToUpper(s[:1]) + s[1:]
	case 2:
		return g.leet(s)
	case 3:
		return reverseString(s)
	case 4:
		return strings.ToUpper(s)
	default:
		return reverseString(g.leet(s))
	}
}

func (g *corpusGen) filler(n int) string {
	return g.randFrom(lowerChars+upperChars+digitChars+"!#%&*-_=+?", n)
}

// around puts s between random fillers.
func (g *corpusGen) around(s string) string {
	return g.filler(g.r.IntN(5)) + s + g.filler(g.r.IntN(5))
}

func (g *corpusGen) word() string {
	if g.r.IntN(3) == 0 {
		return commonWords[g.r.IntN(len(commonWords))]
	}
	return builtinWords[g.r.IntN(len(builtinWords))]
}

// substrOf returns a substring of s of length n (or all of s).
func (g *corpusGen) substrOf(s string, n int) string {
	if n >= len(s) {
		return s
	}
	i := g.r.IntN(len(s) - n + 1)
	return s[i : i+n]
}

// interesting lengths for this policy: every finite N and max, +-2.
func (g *corpusGen) lengths() []int {
	var ls []int
	add := func(n int) {
		for d := -2; d <= 2; d++ {
			if l := n + d; l >= 0 && l <= 300 {
				ls = append(ls, l)
			}
		}
	}
	for _, n := range g.pol.Min {
		if n < 300 {
			add(n)
		}
	}
	if g.pol.Max < 300 {
		add(g.pol.Max)
	}
	return ls
}

// documented examples (passwdqc.md, VMware docs).
var documentedPasswords = []string{
	"xQaTEhb!", "xQaT3#A", "Xqat3hi", "xQaTEh2", "P@ssw0rd!", "Password1!", "VMware1!",
	"Secret#42", "terces#9Q", "Kx9!jklm", "alice123!", "Xk8#aliceTr2%v", "alic!Zq83",
	"41!c3#Qk8z", "bob123!", "Veeam#2024!", "buffer!Qz", "Riding#54", "BCDfgh8",
	"Zyx€rv9", "pässwörd#", "ab1cd1efg", "P@ssw0rd", "correct-horse-battery",
	"c0rrect h0rse", "the cat sat on the mat", "abcd efgh ijkl mnop", "A1",
	"aaaaaaaaxQaT3#A", "xQaT3#Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	"correct horse battery staple", "", "1", "Tr0ub4dor&3",
}

// generate returns n cases for policy p, deterministically from seed.
func generateCorpus(p Policy, seed uint64, n int) []oracleCase {
	g := &corpusGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), pol: p}
	var out []oracleCase
	add := func(tag, pw, old string) {
		u := testUsers[g.r.IntN(len(testUsers))]
		out = append(out, oracleCase{New: pw, Old: old, User: u.user, Gecos: u.gecos, Tag: tag})
	}
	addUser := func(tag, pw, old string, ui int) {
		u := testUsers[ui]
		out = append(out, oracleCase{New: pw, Old: old, User: u.user, Gecos: u.gecos, Tag: tag})
	}
	for _, pw := range documentedPasswords {
		add("doc", pw, "")
		addUser("doc-alice", pw, "", 0)
		addUser("doc-veeam", pw, "", 3)
	}
	// Empty old and new: pwqcheck's empty second line is an old password.
	add("empty-both", "", "")

	gens := []func(){
		func() { // lengths around N0..N4 and max, with class combinations
			ls := g.lengths()
			l := ls[g.r.IntN(len(ls))]
			add("len-class", g.classString(g.r.IntN(32), l), "")
		},
		func() { // distinct counts around E-1 for each tier
			tiers := []struct {
				n, charset int
				alphabet   string
			}{
				{g.pol.Min[0], 10, digitChars},
				{g.pol.Min[1], 36, lowerChars + digitChars + "ABCDEFG"},
				{g.pol.Min[2], 27, lowerChars + " "},
				{g.pol.Min[3], 62, lowerChars + upperChars + digitChars},
				{g.pol.Min[4], 95, lowerChars + upperChars + digitChars + otherChars[:20]},
			}
			t := tiers[g.r.IntN(len(tiers))]
			n := t.n
			if n >= Disabled || n > 200 {
				n = 8 + g.r.IntN(20)
			}
			need := expectedDifferent(t.charset, n) - 1
			l := n + g.r.IntN(3) - 1
			if l < 0 {
				l = 0
			}
			add("distinct", g.distinctString(t.alphabet, l, need+g.r.IntN(3)-1), "")
		},
		func() { // passphrases of 2..5 words
			k := 2 + g.r.IntN(4)
			seps := []string{" ", "-", ".", "_", "1", " ", "+", "&"}
			sep := seps[g.r.IntN(len(seps))]
			ws := make([]string, k)
			for i := range ws {
				ws[i] = g.word()
				if g.r.IntN(4) == 0 {
					ws[i] = strings.ToUpper(ws[i][:1]) + ws[i][1:]
				}
			}
			add("passphrase", strings.Join(ws, sep), "")
		},
		func() { // personal: user name, GECOS, home, mangled
			ui := g.r.IntN(len(testUsers))
			u := testUsers[ui]
			src := u.user
			switch g.r.IntN(3) {
			case 1:
				if u.gecos != "" {
					src = g.substrOf(u.gecos, 3+g.r.IntN(10))
				}
			case 2:
				src = "home" + u.user
			}
			m := g.pol.Match
			if m < 1 {
				m = 4
			}
			if g.r.IntN(2) == 0 {
				src = g.substrOf(src, m-1+g.r.IntN(3))
			}
			addUser("personal", g.around(g.mangle(src)), "", ui)
		},
		func() { // dictionary words: plain, leet, reversed, length M and M+1
			w := g.word()
			if g.r.IntN(2) == 0 && g.pol.Match > 0 {
				w = g.substrOf(w, g.pol.Match+g.r.IntN(2))
			}
			add("word", g.around(g.mangle(w)), "")
		},
		func() { // sequences
			s := sequences[g.r.IntN(len(sequences))]
			add("seq", g.around(g.mangle(g.substrOf(s, 3+g.r.IntN(6)))), "")
		},
		func() { // years
			y := strconv.Itoa(1895 + g.r.IntN(150))
			pw := g.around(y)
			if g.r.IntN(3) == 0 {
				pw = reverseString(pw)
			}
			add("year", pw, "")
		},
		func() { // old passwords
			old := g.filler(6 + g.r.IntN(14))
			var pw string
			switch g.r.IntN(7) {
			case 0:
				pw = old
			case 1:
				pw = old + g.filler(1+g.r.IntN(4))
			case 2:
				pw = reverseString(old)
			case 3:
				pw = g.leet(old) + "!"
			case 4:
				pw = g.filler(3) + g.substrOf(old, 3+g.r.IntN(6)) + g.filler(4)
			case 5:
				pw = old[:len(old)/2] + g.filler(8)
			default:
				pw = g.filler(8 + g.r.IntN(10))
			}
			add("old", pw, old)
		},
		func() { // UTF-8 and raw high bytes
			var b []byte
			for l := 3 + g.r.IntN(14); len(b) < l; {
				switch g.r.IntN(4) {
				case 0:
					b = append(b, string(nonASCIIRunes[g.r.IntN(len(nonASCIIRunes))])...)
				case 1:
					b = append(b, byte(0x80+g.r.IntN(128)))
				case 2:
					b = append(b, ' ')
				default:
					b = append(b, g.pick(lowerChars+digitChars+upperChars+"#!"))
				}
			}
			add("utf8", string(b), "")
		},
		func() { // control bytes
			b := []byte(g.filler(4 + g.r.IntN(12)))
			for k := 1 + g.r.IntN(3); k > 0; k-- {
				b[g.r.IntN(len(b))] = controlBytes[g.r.IntN(len(controlBytes))]
			}
			add("control", string(b), "")
		},
		func() { // random printable strings
			add("random", g.randFrom(lowerChars+upperChars+digitChars+otherChars, g.r.IntN(40)), "")
		},
		func() { // long strings around and beyond max (kept rare: slow in C)
			if g.r.IntN(3) != 0 {
				add("random", g.randFrom(lowerChars+upperChars+digitChars+otherChars, g.r.IntN(24)), "")
				return
			}
			l := g.pol.Max + g.r.IntN(5) - 2
			if l > 8000 {
				l = 60 + g.r.IntN(100)
			}
			old := ""
			if g.r.IntN(3) == 0 {
				old = g.filler(8 + g.r.IntN(4))
			}
			pw := g.filler(l)
			if old != "" && g.r.IntN(2) == 0 && len(pw) >= 8 {
				pw = old[:8] + pw[8:]
			}
			add("long", pw, old)
		},
	}
	for len(out) < n {
		gens[g.r.IntN(len(gens))]()
	}
	return out
}
