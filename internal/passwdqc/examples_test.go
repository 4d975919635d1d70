package passwdqc

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

var examplePolicies = map[string]string{
	"ESXI":    ESXiDefault,
	"DEFAULT": "",
	"SCG":     "similar=deny retry=3 min=disabled,disabled,disabled,disabled,15 max=64",
	"MAX8":    "min=disabled,8,8,7,6 max=8",
}

// TestDocumentedExamples checks the examples of testdata/examples.txt
// (VMware documentation and passwdqc.md rows, each confirmed with pwqcheck).
func TestDocumentedExamples(t *testing.T) {
	f, err := os.Open("testdata/examples.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fs := strings.Split(text, " | ")
		if len(fs) != 6 {
			t.Fatalf("examples.txt:%d: want 6 fields, got %d", line, len(fs))
		}
		opts, ok := examplePolicies[fs[0]]
		if !ok {
			t.Fatalf("examples.txt:%d: unknown policy %q", line, fs[0])
		}
		p, err := Parse(opts)
		if err != nil {
			t.Fatalf("Parse(%q): %v", opts, err)
		}
		var acct *Account
		if fs[1] != "-" {
			acct = &Account{User: fs[1], Gecos: fs[2], Home: "/home/" + fs[1]}
		}
		want := fs[5]
		if want == "OK" {
			want = ""
		}
		var got string
		if fs[3] == "-" {
			got = p.Check(fs[4], acct)
		} else {
			got = p.CheckChange(fs[4], fs[3], acct)
		}
		if got != want {
			t.Errorf("examples.txt:%d: %s policy, password %q: got %q, want %q", line, fs[0], fs[4], got, want)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 25 {
		t.Fatalf("only %d examples read", n)
	}
}

// TestExpectedDifferent checks E(c,n)-1 against the table of passwdqc.md
// (values confirmed with pwqcheck).
func TestExpectedDifferent(t *testing.T) {
	ns := []int{6, 7, 8, 11, 15, 16, 24}
	table := []struct {
		charset int
		want    []int // E-1 for ns
	}{
		{95, []int{4, 5, 6, 9, 12, 13, 20}},
		{62, []int{4, 5, 6, 9, 12, 13, 19}},
		{27, []int{4, 5, 6, 8, 10, 11, 15}},
		{36, []int{4, 5, 6, 8, 11, 12, 16}},
		{10, []int{3, 4, 4, 5, 6, 7, 8}},
	}
	for _, row := range table {
		for i, n := range ns {
			if got := expectedDifferent(row.charset, n) - 1; got != row.want[i] {
				t.Errorf("E(%d,%d)-1 = %d, want %d", row.charset, n, got, row.want[i])
			}
		}
	}
	// Disabled lengths terminate quickly (y reaches 0).
	if got := expectedDifferent(95, Disabled); got != 95 {
		t.Errorf("E(95, INT_MAX) = %d, want 95", got)
	}
}

// TestCheckWithoutOldEqualsEmptyOld: for a non-empty password, Check and
// CheckChange with an empty old password agree (pwqcheck's empty line 2).
func TestCheckWithoutOldEqualsEmptyOld(t *testing.T) {
	p, _ := Parse(ESXiDefault)
	for _, pw := range documentedPasswords {
		if pw == "" {
			continue
		}
		if a, b := p.Check(pw, nil), p.CheckChange(pw, "", nil); a != b {
			t.Errorf("%q: Check %q, CheckChange with empty old %q", pw, a, b)
		}
	}
	// Empty new and empty old: "is the same" when N4 allows empty.
	p0, _ := Parse("min=0,0,0,0,0")
	if got := p0.CheckChange("", "", nil); got != ReasonSame {
		t.Errorf("empty/empty: got %q", got)
	}
	if got := p0.Check("", nil); got != ReasonSimple {
		t.Errorf("empty, no old: got %q", got)
	}
}

// TestNULTruncation: like C, a password is cut at its first NUL.
func TestNULTruncation(t *testing.T) {
	p, _ := Parse(ESXiDefault)
	if got := p.Check("xQaT3#A\x00", nil); got != "" {
		t.Errorf("got %q", got)
	}
	if got := p.Check("ab\x00xQaT3#A", nil); got != ReasonShort {
		t.Errorf("got %q", got)
	}
}
