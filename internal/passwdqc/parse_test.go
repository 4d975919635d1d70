package passwdqc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseTable lists option strings with whether passwdqc 2.0.2 accepts them
// (checked against pwqcheck by TestParseAgainstPwqcheck).
var parseTable = []struct {
	opts string
	ok   bool
}{
	{"", true},
	{ESXiDefault, true},
	{"similar=deny retry=3 min=disabled,disabled,disabled,disabled,15 max=64", true},
	{"retry=3 min=disabled,15,15,15,15 max=64 similar=deny passphrase=3", true},
	{"min=,,,,", true},
	{"min=+8,+8,8,8,8", true},
	{"min=disabled,disabled,disabled,disabled,disabled", true},
	{"min=8,8,8,8", false},
	{"min=8,8,8,8,8,8", false},
	{"min=8,disabled,8,8,8", false},
	{"min=8,8,8,7,8", false},
	{"min=disabledX,8,8,8,8", false},
	{"min=disabled,8,8,8,disabledX", false},
	{"min=-1,-1,-1,-1,-1", false},
	{"min=-0,0,0,0,0", true},
	{"min=2147483647,8,8,8,8", true},
	{"min=2147483648,8,8,8,8", false},
	{"min=99999999999999999999999,8,8,8,8", false},
	{"min=Disabled,8,8,8,8", false},
	{"min=8x,8,8,8,8", false},
	{"max=8", true},
	{"max=7", false},
	{"max=0", false},
	{"max=", false},
	{"max=+40", true},
	{"max=-40", false},
	{"max=20000", true},
	{"max=40x", false},
	{"max=64 max=40", true},
	{"passphrase=", true},
	{"passphrase=0", true},
	{"passphrase=-1", false},
	{"passphrase=x", false},
	{"match=", true},
	{"match=0", true},
	{"match=-1", false},
	{"match=2147483647", true},
	{"match=2147483648", false},
	{"similar=permit", true},
	{"similar=deny", true},
	{"similar=Deny", false},
	{"similar", false},
	{"random=0", true},
	{"random=24", true},
	{"random=23", false},
	{"random=136", true},
	{"random=137", false},
	{"random=47,only", true},
	{"random=,only", true},
	{"random=47,Only", false},
	{"random=", true},
	{"retry=", true},
	{"retry=3", true},
	{"retry=abc", false},
	{"RETRY=3", false},
	{"enforce=none", true},
	{"enforce=users", true},
	{"enforce=everyone", true},
	{"enforce=root", false},
	{"non-unix", true},
	{"non-unix check_oldauthtok", false},
	{"check_oldauthtok non-unix", false},
	{"ask_oldauthtok", true},
	{"ask_oldauthtok=update", true},
	{"ask_oldauthtok=x", false},
	{"use_first_pass ask_oldauthtok", false},
	{"ask_oldauthtok use_first_pass", false},
	{"use_first_pass", true},
	{"use_authtok", true},
	{"noaudit", true},
	{"debug", false},
	{"foo=bar", false},
	{"wordlist=", true},
	{"denylist=", true},
	{"filter=", true},
	{"config=/nonexistent/passwdqc.conf", false},
	{"max=64 debug max=40", false},
}

// TestParseTable checks the table without pwqcheck.
func TestParseTable(t *testing.T) {
	for _, tc := range parseTable {
		_, err := Parse(tc.opts)
		if (err == nil) != tc.ok {
			t.Errorf("Parse(%q): err = %v, want ok=%v", tc.opts, err, tc.ok)
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("Parse(%q): error %T is not a *ParseError", tc.opts, err)
			}
		}
	}
}

// TestParseAgainstPwqcheck requires the same acceptance, and for refused
// strings the same message, as pwqcheck.
func TestParseAgainstPwqcheck(t *testing.T) {
	pwqcheckPath(t)
	for _, tc := range parseTable {
		want := pwqcheckParse(t, strings.Fields(tc.opts))
		_, err := Parse(tc.opts)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if (want == "") != tc.ok {
			t.Errorf("table entry %q says ok=%v but pwqcheck says %q", tc.opts, tc.ok, want)
		}
		if strings.HasPrefix(tc.opts, "config=") {
			// The file error text is strerror()'s in C and Go's in Go;
			// only the prefix is compared.
			want, got = want[:strings.Index(want, ": ")], got[:strings.Index(got, ": ")]
		}
		if got != want {
			t.Errorf("Parse(%q): got error %q, pwqcheck says %q", tc.opts, got, want)
		}
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		opts string
		want Policy
	}{
		{"", Policy{Min: [5]int{Disabled, 24, 11, 8, 7}, Max: 72, Passphrase: 3, Match: 4, Similar: true, Random: 47, Retry: 3, Enforce: EnforceEveryone}},
		{ESXiDefault, Policy{Min: [5]int{Disabled, Disabled, Disabled, 7, 7}, Max: 72, Passphrase: 3, Match: 4, Similar: true, Random: 47, Retry: 3, Enforce: EnforceEveryone}},
		{"max=20000 match= passphrase= similar=permit retry=", Policy{Min: [5]int{Disabled, 24, 11, 8, 7}, Max: 10000, Random: 47, Enforce: EnforceEveryone}},
		{"random=50,only", Policy{Min: [5]int{Disabled, 24, 11, 8, Disabled}, Max: 72, Passphrase: 3, Match: 4, Similar: true, Random: 50, Retry: 3, Enforce: EnforceEveryone}},
		{"max=64 max=40", Policy{Min: [5]int{Disabled, 24, 11, 8, 7}, Max: 40, Passphrase: 3, Match: 4, Similar: true, Random: 47, Retry: 3, Enforce: EnforceEveryone}},
	}
	for _, tc := range tests {
		got, err := Parse(tc.opts)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.opts, err)
		}
		if got != tc.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.opts, got, tc.want)
		}
		// String round-trips.
		again, err := Parse(got.String())
		if err != nil || again != got {
			t.Errorf("Parse(String()) for %q: %+v, %v; String=%q", tc.opts, again, err, got.String())
		}
	}
}

func TestParseESXi(t *testing.T) {
	tests := []struct {
		opts    string
		wantMax int
	}{
		{ESXiDefault, 40},
		{"", 40},
		{"similar=deny retry=3 min=disabled,disabled,disabled,disabled,15 max=64", 64},
		{"max=72", 72},
		{"max=8 retry=3", 8},
	}
	for _, tc := range tests {
		p, err := ParseESXi(tc.opts)
		if err != nil {
			t.Fatalf("ParseESXi(%q): %v", tc.opts, err)
		}
		if p.Max != tc.wantMax {
			t.Errorf("ParseESXi(%q).Max = %d, want %d", tc.opts, p.Max, tc.wantMax)
		}
		plain, _ := Parse(tc.opts)
		plain.Max = p.Max
		if plain != p {
			t.Errorf("ParseESXi(%q) differs from Parse beyond Max: %+v vs %+v", tc.opts, p, plain)
		}
	}
	if _, err := ParseESXi("retry=3 bogus"); err == nil {
		t.Error("ParseESXi accepted a bad token")
	}
	// A 41-byte password is too long for ESXi's max 40 but fine for 72.
	pw := "xQaT3#Ab" + strings.Repeat("k9!Zp", 6) + "abc"
	e, _ := ParseESXi(ESXiDefault)
	d, _ := Parse(ESXiDefault)
	if got := e.Check(pw, nil); got != ReasonLong {
		t.Errorf("ESXi: %q", got)
	}
	if got := d.Check(pw, nil); got != "" {
		t.Errorf("2.0.2: %q", got)
	}
}

func TestParseConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "passwdqc.conf")
	if err := os.WriteFile(conf, []byte("# comment\n\n  min=disabled,disabled,disabled,9,9\t\nmax=50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Parse("max=64 config=" + conf)
	if err != nil {
		t.Fatal(err)
	}
	if p.Max != 50 || p.Min[4] != 9 {
		t.Errorf("config not applied: %+v", p)
	}
	loop := filepath.Join(dir, "loop.conf")
	if err := os.WriteFile(loop, []byte("config="+loop+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("config=" + loop); err == nil {
		t.Error("config loop accepted")
	}
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("max=64 min=1,1,1,1,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("config=" + bad); err == nil {
		t.Error("two tokens on one config line accepted")
	}
}

// TestParseErrorNeverHoldsPassword: errors come from option strings only.
func TestParseErrorText(t *testing.T) {
	_, err := Parse("retry=3 min=8,disabled,8,8,8")
	if err == nil || err.Error() != `Error parsing parameter "min=8,disabled,8,8,8": Invalid parameter value` {
		t.Errorf("got %v", err)
	}
	_, err = Parse("debug")
	if err == nil || err.Error() != `Error parsing parameter "debug": Invalid parameter` {
		t.Errorf("got %v", err)
	}
}
