package textsafe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"user1", "user1"},
		{"", ""},
		{`DOMAIN\user`, `DOMAIN\user`},
		{"Größe ünd 日本", "Größe ünd 日本"},
		{"\x1b]0;title\x07", `\x1b]0;title\x07`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"a\x00b", `a\x00b`},
		{"line1\nline2\r\tx", `line1\nline2\r\tx`},
		{"del\x7f", `del\x7f`},
		{"csi\u009b31m nel\u0085", `csi\u009b31m nel\u0085`},
		{"abc\u202edcba", `abc\u202edcba`},
		{"\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c", `\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c`},
		{"ls\u2028ps\u2029", `ls\u2028ps\u2029`},
		{"bad\x9bbyte\xff", `bad\x9bbyte\xff`},
		{"\u00a0nbsp \u200b zwsp", "\u00a0nbsp \u200b zwsp"}, // printable or invisible, but no control
	}
	for _, tt := range tests {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if Safe(tt.in) != (tt.in == tt.want) {
			t.Errorf("Safe(%q) = %v", tt.in, Safe(tt.in))
		}
	}
}

// Nothing Escape returns can control a terminal, whatever the input.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"\x1b]0;t\x07", "a\u202eb", "\xff\x9b", "ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Escape(%q) = %q is not UTF-8", s, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || unsafeRune(r) {
				t.Fatalf("Escape(%q) = %q keeps %U", s, out, r)
			}
		}
		if Safe(s) && out != s {
			t.Fatalf("safe %q changed to %q", s, out)
		}
	})
}

func TestLines(t *testing.T) {
	in := "nothing was changed:\nentry 1 (id \"a\"): \x1b[2Jbad\u202e\nentry 2: ok"
	want := "nothing was changed:\nentry 1 (id \"a\"): \\x1b[2Jbad\\u202e\nentry 2: ok"
	if got := Lines(in); got != want {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	if got := Lines("a\rb"); got != `a\rb` {
		t.Errorf("Lines(a\\rb) = %q", got)
	}
}

// rawHandler prints records as they come, as a DRP job log line does.
type rawHandler struct {
	buf   *bytes.Buffer
	attrs []slog.Attr
}

func (h *rawHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *rawHandler) Handle(_ context.Context, r slog.Record) error {
	h.buf.WriteString(r.Message)
	add := func(a slog.Attr) bool { fmt.Fprintf(h.buf, " %s=%s", a.Key, a.Value.String()); return true }
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.buf.WriteByte('\n')
	return nil
}
func (h *rawHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &rawHandler{buf: h.buf, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}
func (h *rawHandler) WithGroup(string) slog.Handler { return h }

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(&rawHandler{buf: &buf})).With("server", "esx\u202e01")
	log.Info("connecting\x1b]0;x\x07", "error", errors.New("fault \x1b[2J"), "n", 3,
		slog.Group("g", "k", "v\x00"), "any", struct{ S string }{"\u009b"})
	want := `connecting\x1b]0;x\x07 server=esx\u202e01 error=fault \x1b[2J n=3 g=[k=v\x00] any={\u009b}` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// NewLogger escapes as NewHandler does, through the given logger's
// handler; a nil logger discards.
func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	NewLogger(slog.New(&rawHandler{buf: &buf})).Info("host\x1b[2J", "server", "esx\u202e01")
	if want := `host\x1b[2J server=esx\u202e01` + "\n"; buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
	NewLogger(nil).Info("nowhere") // must not panic
}

// JSON escapes what Escape would, and the document decodes to the same
// values.
func TestJSON(t *testing.T) {
	in := map[string]any{"id": "u\x1b]0;t\x07\u202e", "err": "a\u009b2J\x7f\u2066 b\nc", "n": 1.5, "plain": "ok"}
	js, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out := JSON(js)
	for _, l := range strings.Split(string(out), "\n") {
		if !Safe(l) {
			t.Errorf("unsafe line %q", l)
		}
	}
	var back map[string]any
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, in) {
		t.Errorf("values changed:\n got %q\nwant %q", back, in)
	}
	if plain := []byte(`{"a": "b"}`); &JSON(plain)[0] != &plain[0] {
		t.Error("safe JSON copied")
	}
}

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	fmt.Fprintf(w, "flag provided but not defined: -%s\n", "x\x1b]0;t\x07")
	fmt.Fprint(w, "  -flag\n    \tusage\n")
	if got, want := b.String(), "flag provided but not defined: -x\\x1b]0;t\\x07\n  -flag\n    \tusage\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
