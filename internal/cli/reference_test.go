//go:build !nosim

// The reference documents the default build: with -tags nosim simulate has
// no help to print (Reference fails), so these tests are not built there.

package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// docs/cli.md is what the generator writes now: a flag, a command's help or
// an exit code changed without regenerating it fails here.
func TestReferenceIsGenerated(t *testing.T) {
	want, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatalf("%v: generate it with `%s` (from the repository's root)", err, referenceGenerator)
	}
	if bytes.Equal(have, want) {
		return
	}
	haveLines, wantLines := strings.Split(string(have), "\n"), strings.Split(string(want), "\n")
	i := 0
	for i < len(haveLines) && i < len(wantLines) && haveLines[i] == wantLines[i] {
		i++
	}
	line := func(lines []string) string {
		if i < len(lines) {
			return strconv.Quote(lines[i])
		}
		return "the end of the file"
	}
	t.Errorf("docs/cli.md is not what the commands' help generates: line %d is %s, the help has %s; regenerate it with `%s` (from the repository's root) and commit it",
		i+1, line(haveLines), line(wantLines), referenceGenerator)
}

// The exit-code tables written by hand in README.md and docs/cli-guide.md
// say what errkind.Exits says (Markdown's backticks aside), code by code.
func TestExitCodeTablesAgree(t *testing.T) {
	row := regexp.MustCompile(`(?m)^\| (\d+) \| (.*) \|$`)
	for _, file := range []string{"README.md", "docs/cli-guide.md"} {
		b, err := os.ReadFile(filepath.Join("../..", filepath.FromSlash(file)))
		if err != nil {
			t.Fatal(err)
		}
		_, table, ok := strings.Cut(string(b), "| code | meaning |\n| --- | --- |\n")
		if !ok {
			t.Errorf("%s: no exit-code table (| code | meaning |)", file)
			continue
		}
		table, _, _ = strings.Cut(table, "\n\n")
		rows := row.FindAllStringSubmatch(table, -1)
		if len(rows) != len(errkind.Exits) {
			t.Errorf("%s: the exit-code table has %d rows, errkind.Exits %d", file, len(rows), len(errkind.Exits))
		}
		for i, r := range rows {
			if i >= len(errkind.Exits) {
				break
			}
			e := errkind.Exits[i]
			if text := strings.ReplaceAll(r[2], "`", ""); r[1] != strconv.Itoa(e.Code) || text != e.Meaning {
				t.Errorf("%s: exit code row %d reads %s: %q; errkind.Exits says %d: %q — make them agree", file, i+1, r[1], text, e.Code, e.Meaning)
			}
		}
	}
}

// The synopsis blocks written in README.md and docs/cli-guide.md hold only
// lines the usage prints (each command's synopsis), and name every command.
func TestSynopsisBlocksAgree(t *testing.T) {
	synopses := map[string]bool{}
	for _, c := range commands {
		for _, s := range c.synopsis {
			synopses["esxi-manage-users "+s] = true
		}
	}
	for _, doc := range []struct{ file, heading string }{{"README.md", "## The CLI\n"}, {"docs/cli-guide.md", "## Synopsis\n"}} {
		b, err := os.ReadFile(filepath.Join("../..", filepath.FromSlash(doc.file)))
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(string(b), doc.heading)
		_, rest, ok2 := strings.Cut(rest, "```\n")
		block, _, ok3 := strings.Cut(rest, "```\n")
		if !ok || !ok2 || !ok3 {
			t.Errorf("%s: no synopsis block after %q", doc.file, strings.TrimSpace(doc.heading))
			continue
		}
		named := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSuffix(block, "\n"), "\n") {
			if !synopses[line] {
				t.Errorf("%s: the synopsis line %q is not one the usage prints (esxi-manage-users help): copy it from there", doc.file, line)
			}
			if f := strings.Fields(line); len(f) > 1 {
				named[f[1]] = true
			}
		}
		for _, c := range commands {
			if !named[c.name] {
				t.Errorf("%s: the synopsis block does not name %s", doc.file, c.name)
			}
		}
	}
}

// help prints the usage, a command's help, or its own; it ran itself
// forever before ("help help", "help --help": a stack overflow).
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"help"}, 0, "Exit codes:\n  0  every entry done"},
		{[]string{"--help"}, 0, "  esxi-manage-users guest-auth --vm NAME"},
		{[]string{"help", "help"}, 0, "Usage: esxi-manage-users help [COMMAND]"},
		{[]string{"help", "--help"}, 0, "Usage: esxi-manage-users help [COMMAND]"},
		{[]string{"-h", "-h"}, 0, "Usage: esxi-manage-users help [COMMAND]"},
		{[]string{"help", "list"}, 0, "Usage: esxi-manage-users list"},
		{[]string{"help", "check-password"}, 0, "  1  some do not\n"},
		{[]string{"plan", "--help"}, 0, "Usage: esxi-manage-users plan [--file PATH|-]"},
		{[]string{"help", "lsit"}, 2, `esxi-manage-users: unknown command "lsit"`},
	} {
		code, out, errb := runCLI(context.Background(), "", nil, tc.args...)
		if code != tc.code || !strings.Contains(out+errb, tc.want) {
			t.Errorf("%q: exit %d, want %d and %q in:\n%s%s", tc.args, code, tc.code, tc.want, out, errb)
		}
	}
}

// wrap fills to the width in characters, not bytes, and keeps paragraphs.
func TestWrap(t *testing.T) {
	for _, tc := range []struct{ text, indent, want string }{
		{"aaa bbb ccc", "", "aaa bbb\nccc"},
		{"a — b — c", "", "a — b —\nc"},
		{"aaa\n\nbbb  ccc", "  ", "  aaa\n\n  bbb\n  ccc"},
		{"aaaaaaaaaaa b", "", "aaaaaaaaaaa\nb"},
	} {
		if got := wrap(tc.text, tc.indent, 8); got != tc.want {
			t.Errorf("wrap(%q, %q, 8) = %q, want %q", tc.text, tc.indent, got, tc.want)
		}
	}
}
