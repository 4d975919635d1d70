package esx

import (
	"errors"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/params"
)

func TestParseThumbprint(t *testing.T) {
	sha1Colons := "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"
	sha256Colons := strings.TrimSuffix(strings.Repeat("0A:", 32), ":")
	tests := []struct {
		in, alg, want string // want: the canonical form, or the error's fragment
	}{
		{sha1Colons, SHA1, sha1Colons},
		{strings.ToLower(sha1Colons), SHA1, sha1Colons},
		{strings.ReplaceAll(sha1Colons, ":", ""), SHA1, sha1Colons},
		{"thumbprint: " + sha1Colons, SHA1, sha1Colons},
		{"Thumbprint:" + strings.ToLower(strings.ReplaceAll(sha1Colons, ":", "")), SHA1, sha1Colons},
		{"  " + sha1Colons + "\n", SHA1, sha1Colons},
		{sha256Colons, SHA256, sha256Colons},
		{strings.Repeat("0a", 32), SHA256, sha256Colons},
		{"thumbprint: " + sha256Colons, SHA256, sha256Colons},

		{"zzz", "", "character 1 is not a hex digit or a colon"},
		{"", "", "it is empty"},
		{"thumbprint:", "", "it is empty"},
		{"AB:CD", "", "it has 4 hex digits"},
		{strings.Repeat("A", 39), "", "it has 39 hex digits"},
		{"ABC:D" + sha1Colons[5:], "", "group 1 has 3 digits"},
		{strings.ReplaceAll(sha1Colons, ":", "-"), "", "character 3 is not a hex digit or a colon"},
		{"sha1:" + sha1Colons, "", "character 1 is not a hex digit"},
		{"thumbprint: AB:CD:Z", "", "character 19 is not a hex digit or a colon"},
		{"  AB:CD:Z  ", "", "character 9 is not a hex digit or a colon"},
		{sha1Colons + ":", "", "group 21 has 0 digits"},
	}
	for _, tt := range tests {
		got, err := ParseThumbprint(tt.in)
		if tt.alg == "" {
			if err == nil {
				t.Errorf("ParseThumbprint(%q) = %v, want an error", tt.in, got)
				continue
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), ThumbprintForms) || !errors.Is(err, params.ErrInvalid) {
				t.Errorf("ParseThumbprint(%q): %v, want %q, the accepted forms and ErrInvalid", tt.in, err, tt.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseThumbprint(%q): %v", tt.in, err)
			continue
		}
		if got.Algorithm != tt.alg || got.String() != tt.want {
			t.Errorf("ParseThumbprint(%q) = %s %s, want %s %s", tt.in, got.Algorithm, got, tt.alg, tt.want)
		}
	}
}

// The error never quotes what was given (it may be a misplaced secret).
func TestParseThumbprintDoesNotEcho(t *testing.T) {
	const secret = "S3cr3tP455!"
	_, err := ParseThumbprint(secret)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("err = %v", err)
	}
}
