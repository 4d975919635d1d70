package passwdqc

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
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

// Reasons returned by Check (passwdqc_check.c REASON_*).
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
	ReasonFilter      = "appears to be in a database"
)

// isWordBased runs the last checks of passwdqc_check() (is_word_based() in
// passwdqc_check.c), in its order: built-in words (each forward, then
// reversed), sequences, years (1 <= Match <= 4), then wordlist= and
// denylist= files. unified and rev are the unified password and its
// reverse.
func (p *Policy) isWordBased(unified, rev, original []byte) string {
	if p.Match > 0 {
		var f gramFilter
		f.init(unified, p.Match)
		for _, w := range dictionary {
			if len(w.unified) < p.Match || !f.mayMatch(w.unified, p.Match) {
				continue
			}
			if p.isBased(w.unified, unified, original, modeWord, false) ||
				p.isBased(w.unified, rev, original, modeWord, true) {
				return ReasonWord
			}
		}
		for _, s := range unifiedSequences {
			if p.isBased(s, unified, original, modeSeq, false) ||
				p.isBased(s, rev, original, modeSeq, true) {
				return ReasonSeq
			}
		}
		if p.Match <= 4 {
			for _, y := range years {
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

// gramFilter is a prefilter for the built-in word search, which would
// otherwise compare every word with every substring of the password. A word
// can only be "based on" if it contains some Match-byte substring of the
// unified password or of its reverse; the filter records the first two
// bytes (one when Match is 1) of every such substring, and mayMatch
// rejects words where no Match-byte window starts with a recorded prefix.
// It never rejects a word passwdqc would match, so it changes speed only.
type gramFilter struct {
	bits [65536 / 64]uint64
}

func gramKey(s []byte, m int) uint32 {
	if m == 1 {
		return uint32(s[0])
	}
	return uint32(s[0])<<8 | uint32(s[1])
}

func (f *gramFilter) set(k uint32)      { f.bits[k>>6] |= 1 << (k & 63) }
func (f *gramFilter) has(k uint32) bool { return f.bits[k>>6]&(1<<(k&63)) != 0 }

// init records the prefixes of the Match-byte windows of unified and of its
// reverse.
func (f *gramFilter) init(unified []byte, m int) {
	n := len(unified)
	for i := 0; i+m <= n; i++ {
		f.set(gramKey(unified[i:], m))
		// window unified[i:i+m] reversed starts with unified[i+m-1], unified[i+m-2]
		if m == 1 {
			continue
		}
		f.set(uint32(unified[i+m-1])<<8 | uint32(unified[i+m-2]))
	}
}

func (f *gramFilter) mayMatch(word []byte, m int) bool {
	for k := 0; k+m <= len(word); k++ {
		if f.has(gramKey(word[k:], m)) {
			return true
		}
	}
	return false
}
