package passwdqc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"sync"
)

// dictWord is a built-in word, unified, kept only when passwdqc would test
// it: passwdqc skips a word when the next word of its list starts with it
// (the longer word covers it).
type dictWord struct {
	unified []byte
}

var dictionary = func() []dictWord {
	d := make([]dictWord, 0, len(builtinWords))
	for i, w := range builtinWords {
		if i+1 < len(builtinWords) && len(builtinWords[i+1]) >= len(w) && builtinWords[i+1][:len(w)] == w {
			continue
		}
		d = append(d, dictWord{unified: unify([]byte(w))})
	}
	return d
}()

// Reasons returned by Check (passwdqc_check.c REASON_*). passwdqc's
// REASON_FILTER has no counterpart: filter= files are not read, and a policy
// with one makes Check answer ReasonError, as passwdqc does when it cannot
// use the filter.
const (
	ReasonError       = "check failed"
	ReasonSame        = "is the same as the old one"
	ReasonSimilar     = "is based on the old one"
	ReasonShort       = "too short"
	ReasonLong        = "too long"
	ReasonSimpleShort = "not enough different characters or classes for this length"
	ReasonSimple      = "not enough different characters or classes"
	ReasonPersonal    = "based on personal login information"
	ReasonWord        = "based on a dictionary word and not a passphrase"
	ReasonSeq         = "based on a common sequence of characters and not a passphrase"
	ReasonWordlist    = "based on a word list entry"
	ReasonDenylist    = "is in deny list"
)

// isWordBased runs the last checks of passwdqc_check() (is_word_based() in
// passwdqc_check.c), in its order: built-in words (each forward, then
// reversed), sequences, years (1 <= Match <= 4), then wordlist= and
// denylist= files. unified and rev are the unified password and its
// reverse.
func (p *Policy) isWordBased(unified, rev, original []byte) string {
	if p.Match > 0 {
		for _, wi := range candidates(&wordIndexes, dictionaryHaystacks, unified, rev, p.Match) {
			w := dictionary[wi]
			if p.isBased(w.unified, unified, original, modeWord, false) ||
				p.isBased(w.unified, rev, original, modeWord, true) {
				return ReasonWord
			}
		}
		for _, si := range candidates(&sequenceIndexes, unifiedSequences, unified, rev, p.Match) {
			s := unifiedSequences[si]
			if p.isBased(s, unified, original, modeSeq, false) ||
				p.isBased(s, rev, original, modeSeq, true) {
				return ReasonSeq
			}
		}
		if p.Match <= 4 {
			for _, yi := range candidates(&yearIndexes, years, unified, rev, p.Match) {
				y := years[yi]
				if p.isBased(y, unified, original, modeSeq, false) ||
					p.isBased(y, rev, original, modeSeq, true) {
					return ReasonSeq
				}
			}
		}
	}
	if p.Wordlist != "" {
		r, err := p.checkWordlist(unified, rev, original)
		if err != nil {
			return ReasonError
		}
		if r != "" {
			return r
		}
	}
	if p.Denylist != "" {
		found, err := scanLines(p.Denylist, func(line []byte) bool {
			return bytes.Equal(line, original)
		})
		if err != nil {
			return ReasonError
		}
		if found {
			return ReasonDenylist
		}
	}
	return ""
}

// checkWordlist implements wordlist=: an entry equal to the unified
// password (or its reverse) matches, and entries of at least Match bytes
// are searched like built-in words.
func (p *Policy) checkWordlist(unified, rev, original []byte) (string, error) {
	found, err := scanLines(p.Wordlist, func(line []byte) bool {
		u := unify(line)
		if bytes.Equal(u, unified) || bytes.Equal(u, rev) {
			return true
		}
		if p.Match == 0 || len(u) < p.Match {
			return false
		}
		return p.isBased(u, unified, original, modeWord, false) ||
			p.isBased(u, rev, original, modeWord, true)
	})
	if found {
		return ReasonWordlist, nil
	}
	return "", err
}

// readLineMax is passwdqc's read_line() limit: longer lines are cut.
const readLineMax = 8192

// scanLines calls match for every line of the file (cut at the first CR,
// LF or NUL, at most readLineMax bytes, as read_line() in passwdqc_check.c)
// until it returns true.
func scanLines(path string, match func([]byte) bool) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64*1024)
	for {
		line, err := r.ReadSlice('\n')
		full := line
		for err == bufio.ErrBufferFull {
			var more []byte
			more, err = r.ReadSlice('\n')
			if len(full) < readLineMax {
				full = append(append([]byte(nil), full...), more...)
			}
		}
		if len(full) > 0 {
			if len(full) > readLineMax {
				full = full[:readLineMax]
			}
			if k := bytes.IndexAny(full, "\r\n\x00"); k >= 0 {
				full = full[:k]
			}
			if match(full) {
				return true, nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, err
		}
	}
}

// The built-in searches (words, sequences, years) would otherwise compare
// every haystack with every substring of the password. A haystack can only
// be "based on" if it contains some Match-byte window of the unified
// password or of its reverse (isBased starts at length Match and stops at
// the first length with no occurrence), so an index from Match-byte windows
// to the haystacks containing them yields exactly the haystacks passwdqc
// could match. Candidates are tried in list order, as passwdqc does; the
// index changes speed only.
var wordIndexes, sequenceIndexes, yearIndexes sync.Map // Match -> map[string][]int32

var dictionaryHaystacks = func() [][]byte {
	h := make([][]byte, len(dictionary))
	for i, w := range dictionary {
		h[i] = w.unified
	}
	return h
}()

func gramIndex(cache *sync.Map, hays [][]byte, m int) map[string][]int32 {
	if v, ok := cache.Load(m); ok {
		return v.(map[string][]int32)
	}
	idx := map[string][]int32{}
	for hi, h := range hays {
		for k := 0; k+m <= len(h); k++ {
			g := string(h[k : k+m])
			if l := idx[g]; len(l) == 0 || l[len(l)-1] != int32(hi) {
				idx[g] = append(l, int32(hi))
			}
		}
	}
	v, _ := cache.LoadOrStore(m, idx)
	return v.(map[string][]int32)
}

// candidates returns, in list order, the indexes of the haystacks that
// contain a Match-byte window of unified or of rev.
func candidates(cache *sync.Map, hays [][]byte, unified, rev []byte, m int) []int32 {
	idx := gramIndex(cache, hays, m)
	var out []int32
	for _, s := range [][]byte{unified, rev} {
		for i := 0; i+m <= len(s); i++ {
			out = append(out, idx[string(s[i:i+m])]...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
