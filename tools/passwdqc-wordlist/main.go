// Command passwdqc-wordlist extracts passwdqc's built-in word set from
// Debian's libpasswdqc shared object and writes it as Go source for
// package passwdqc (internal/passwdqc/wordlist_gen.go).
//
// passwdqc 2.0.x keeps the words in _passwdqc_wordset_4k (wordset_4k.c) as
// fixed 6-byte records, NUL-padded, terminated by an all-NUL record. The
// program finds that table in the .so's bytes, checks that it holds exactly
// 6211 records running from "Adam", "Alaska", "Alice" to "whisky", "yoyo",
// "etc", and that every record is 3..6 ASCII letters, then writes the file.
//
// Usage:
//
//	go run ./tools/passwdqc-wordlist [-so /usr/lib/x86_64-linux-gnu/libpasswdqc.so.1] [-o wordlist_gen.go]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"os"
	"strings"
)

const (
	recordSize = 6
	wantCount  = 6211
)

var (
	wantFirst = []string{"Adam", "Alaska", "Alice"}
	wantLast  = []string{"whisky", "yoyo", "etc"}
)

// licence is passwdqc's notice as shipped in Debian's
// /usr/share/doc/libpasswdqc1/copyright (passwdqc 2.0.2).
const licence = `The word set below is data extracted from passwdqc 2.0.2
(https://www.openwall.com/passwdqc/), file wordset_4k.c, as compiled into
Debian's libpasswdqc1 package. Debian's copyright file for passwdqc states:

  Files: *
  Copyright: 2000-2021, Solar Designer <solar@openwall.com>
             2001, Networks Associates Technology, Inc.
  License: cut-down-BSD

  Files: concat.c wordset_4k.c wordset_4k.h pam_macros.h
  Copyright: 2009, Solar Designer <solar@openwall.com>
  License: public-domain
   No license required for any purpose; the work is not subject to
   copyright in any jurisdiction.

  License: cut-down-BSD
   Redistribution and use in source and binary forms, with or without
   modification, are permitted.
   .
   THIS SOFTWARE IS PROVIDED BY THE AUTHOR AND CONTRIBUTORS ` + "``AS IS''" + ` AND ANY
   EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED
   WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
   DISCLAIMED.  IN NO EVENT SHALL THE AUTHOR OR CONTRIBUTORS BE LIABLE FOR ANY
   DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES
   (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES;
   LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND
   ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
   (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS
   SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.`

func main() {
	so := flag.String("so", "/usr/lib/x86_64-linux-gnu/libpasswdqc.so.1", "path of libpasswdqc shared object (Debian libpasswdqc1 2.0.2)")
	out := flag.String("o", "wordlist_gen.go", "output Go file")
	pkg := flag.String("pkg", "passwdqc", "Go package name of the output file")
	flag.Parse()
	if err := run(*so, *out, *pkg); err != nil {
		fmt.Fprintln(os.Stderr, "passwdqc-wordlist:", err)
		os.Exit(1)
	}
}

func run(so, out, pkg string) error {
	data, err := os.ReadFile(so)
	if err != nil {
		return fmt.Errorf("reading shared object: %w", err)
	}
	words, err := extract(data)
	if err != nil {
		return fmt.Errorf("%s: %w", so, err)
	}
	src, err := render(pkg, words)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, src, 0o644); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	fmt.Fprintf(os.Stderr, "passwdqc-wordlist: wrote %d words to %s\n", len(words), out)
	return nil
}

// record pads w to a 6-byte record.
func record(w string) []byte {
	b := make([]byte, recordSize)
	copy(b, w)
	return b
}

// extract locates the table by its first three records and reads records
// until the all-NUL terminator.
func extract(data []byte) ([]string, error) {
	var head []byte
	for _, w := range wantFirst {
		head = append(head, record(w)...)
	}
	start := bytes.Index(data, head)
	if start < 0 {
		return nil, errors.New("word table not found (no Adam/Alaska/Alice records)")
	}
	if bytes.Contains(data[start+1:], head) {
		return nil, errors.New("word table signature found more than once")
	}
	var words []string
	for off := start; ; off += recordSize {
		if off+recordSize > len(data) {
			return nil, errors.New("word table runs past end of file")
		}
		rec := data[off : off+recordSize]
		if rec[0] == 0 {
			break
		}
		w := string(bytes.TrimRight(rec, "\x00"))
		if err := validWord(w, rec); err != nil {
			return nil, fmt.Errorf("record %d: %w", len(words), err)
		}
		words = append(words, w)
		if len(words) > wantCount {
			return nil, fmt.Errorf("more than %d records", wantCount)
		}
	}
	if len(words) != wantCount {
		return nil, fmt.Errorf("found %d words, want %d", len(words), wantCount)
	}
	for i, w := range wantLast {
		if got := words[len(words)-len(wantLast)+i]; got != w {
			return nil, fmt.Errorf("last words: got %q at position %d, want %q", got, len(words)-len(wantLast)+i, w)
		}
	}
	return words, nil
}

func validWord(w string, rec []byte) error {
	if len(w) < 3 || len(w) > recordSize {
		return fmt.Errorf("word %q has length %d, want 3..6", w, len(w))
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return fmt.Errorf("word %q has non-letter byte %#x", w, c)
		}
	}
	for _, c := range rec[len(w):] {
		if c != 0 {
			return fmt.Errorf("word %q is not NUL-padded", w)
		}
	}
	return nil
}

func render(pkg string, words []string) ([]byte, error) {
	var b strings.Builder
	b.WriteString("// Code generated by tools/passwdqc-wordlist from Debian's libpasswdqc.so.1; DO NOT EDIT.\n\n")
	for _, line := range strings.Split(licence, "\n") {
		b.WriteString(strings.TrimRight("// "+line, " "))
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "\npackage %s\n\n", pkg)
	fmt.Fprintf(&b, "// builtinWords is passwdqc 2.0.2's word set (_passwdqc_wordset_4k), %d words\n", len(words))
	b.WriteString("// of 3 to 6 letters, in passwdqc's order.\n")
	b.WriteString("var builtinWords = [...]string{\n")
	for i := 0; i < len(words); i += 10 {
		b.WriteByte('\t')
		for k := i; k < i+10 && k < len(words); k++ {
			fmt.Fprintf(&b, "%q,", words[k])
			if k+1 < i+10 && k+1 < len(words) {
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	src, err := format.Source([]byte(b.String()))
	if err != nil {
		return nil, fmt.Errorf("formatting generated source: %w", err)
	}
	return src, nil
}
