package textsafe

import (
	"strings"
	"testing"
)

func TestClip(t *testing.T) {
	a64 := strings.Repeat("a", MaxEcho)
	tests := []struct{ in, want string }{
		{"", ""},
		{"user1", "user1"},
		{a64, a64},
		{a64 + "b", a64 + "…(65 bytes)"},
		// A cut never splits a character: "é" is 2 bytes, so byte 64 is the
		// middle of the 32nd one and the cut backs off to 63 bytes.
		{"a" + strings.Repeat("é", 40), "a" + strings.Repeat("é", 31) + "…(81 bytes)"},
	}
	for _, tt := range tests {
		if got := Clip(tt.in); got != tt.want {
			t.Errorf("Clip(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
