package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/testsupport/missing"
)

func table(words ...string) []byte {
	var b []byte
	for _, w := range words {
		b = append(b, record(w)...)
	}
	return append(b, make([]byte, recordSize)...)
}

func TestExtractRejects(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"no table", []byte("nothing here"), "not found"},
		{"too few", append([]byte("xx"), table("Adam", "Alaska", "Alice", "whisky", "yoyo", "etc")...), "found 6 words"},
		{"bad byte", append([]byte("xx"), table("Adam", "Alaska", "Alice", "wh1sky")...), "non-letter"},
	}
	for _, tc := range tests {
		_, err := extract(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestGeneratedFileUpToDate regenerates the word list from Debian's
// libpasswdqc (when installed) and compares it with the committed file.
func TestGeneratedFileUpToDate(t *testing.T) {
	// Debian's multiarch directory: /usr/lib/<triplet>/ (x86_64-linux-gnu,
	// aarch64-linux-gnu, …).
	sos, _ := filepath.Glob("/usr/lib/*-linux-gnu*/libpasswdqc.so.1")
	if len(sos) == 0 {
		missing.Tool(t, "no /usr/lib/<multiarch>/libpasswdqc.so.1 (apt-get install libpasswdqc1, which passwdqc depends on)")
		return
	}
	so := sos[0]
	data, err := os.ReadFile(so)
	if err != nil {
		t.Fatal(err)
	}
	words, err := extract(data)
	if err != nil {
		t.Fatal(err)
	}
	src, err := render("passwdqc", words)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("../../internal/passwdqc/wordlist_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, committed) {
		t.Error("internal/passwdqc/wordlist_gen.go is stale: run go generate ./internal/passwdqc")
	}
}
