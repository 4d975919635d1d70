package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The project's documentation: the README, CONTRIBUTING.md and docs/*.md,
// relative to the repository's root.
func docFiles(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"README.md", "CONTRIBUTING.md"}
	for _, d := range docs {
		files = append(files, filepath.ToSlash(strings.TrimPrefix(d, "../../")))
	}
	return files
}

var (
	fenceRE    = regexp.MustCompile("(?m)^ *```[^\n]*\n(?s:.*?)^ *```[^\n]*$")
	codeSpanRE = regexp.MustCompile("`[^`]+`")
	linkRE     = regexp.MustCompile(`\[([^\]]*)\]\(([^)\s]+)\)`)
	headingRE  = regexp.MustCompile(`(?m)^(#{1,6}) (.+)$`)
)

// prose is a Markdown file without its fenced code blocks.
func prose(md string) string {
	return fenceRE.ReplaceAllString(md, "")
}

// anchor is the id GitHub gives a heading: its rendered text in lower case,
// every character but letters, marks, digits, '_', '-' and ' ' dropped, and
// spaces turned into '-'.
func anchor(heading string) string {
	heading = linkRE.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors are the ids of a Markdown file's headings; a repeated heading gets
// GitHub's -1, -2, … suffix.
func anchors(md string) map[string]bool {
	ids := map[string]bool{}
	seen := map[string]int{}
	for _, m := range headingRE.FindAllStringSubmatch(prose(md), -1) {
		id := anchor(m[2])
		if n := seen[id]; n > 0 {
			seen[id]++
			id += "-" + strconv.Itoa(n)
		} else {
			seen[id] = 1
		}
		ids[id] = true
	}
	return ids
}

// Every relative link and #anchor in the documentation resolves: to a file or
// folder of the repository, and to a heading of the Markdown file it names.
func TestDocsLinks(t *testing.T) {
	files := docFiles(t)
	read := func(rel string) (string, bool) {
		b, err := os.ReadFile(filepath.Join("../..", filepath.FromSlash(rel)))
		return string(b), err == nil
	}
	for _, file := range files {
		md, ok := read(file)
		if !ok {
			t.Errorf("%s: missing", file)
			continue
		}
		text := codeSpanRE.ReplaceAllString(prose(md), "")
		links := linkRE.FindAllStringSubmatch(text, -1)
		if len(links) == 0 && file == "README.md" {
			t.Errorf("%s: no links found", file)
		}
		for _, m := range links {
			target := m[2]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(file), path)))
				if strings.HasPrefix(dest, "../") {
					t.Errorf("%s: link %q leaves the repository", file, target)
					continue
				}
				if _, err := os.Stat(filepath.Join("../..", filepath.FromSlash(dest))); err != nil {
					t.Errorf("%s: link %q: no file %s", file, target, dest)
					continue
				}
			}
			if frag == "" {
				continue
			}
			if !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s: link %q: an anchor into a file that is not Markdown", file, target)
				continue
			}
			destMD, _ := read(dest)
			if !anchors(destMD)[frag] {
				t.Errorf("%s: link %q: %s has no heading #%s", file, target, dest, frag)
			}
		}
	}
}

// The README stays short (at most 12 KB); the rest is in docs/.
func TestREADMESize(t *testing.T) {
	st, err := os.Stat("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 12*1024 {
		t.Errorf("README.md is %d bytes, want at most 12 KB (12,288): move the details to docs/", st.Size())
	}
}

// Each doc opens with its title, a one-line purpose and a table of contents
// that links every section (## heading) of the file; the generated CLI
// reference, docs/cli.md, too.
func TestDocsOpenWithContents(t *testing.T) {
	for _, file := range docFiles(t) {
		if file == "README.md" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("../..", filepath.FromSlash(file)))
		if err != nil {
			t.Fatal(err)
		}
		paras := strings.Split(strings.TrimSpace(string(b)), "\n\n")
		if len(paras) < 3 || !strings.HasPrefix(paras[0], "# ") || strings.Contains(paras[0], "\n") ||
			strings.Contains(paras[1], "\n") || strings.HasPrefix(paras[1], "#") || strings.HasPrefix(paras[1], "- ") {
			t.Errorf("%s: want a title, a one-line purpose and a table of contents first", file)
			continue
		}
		contents, _, _ := strings.Cut(strings.Join(paras[2:], "\n\n"), "\n## ")
		toc := map[string]bool{}
		for _, m := range linkRE.FindAllStringSubmatch(contents, -1) {
			toc[m[2]] = true
		}
		for _, m := range headingRE.FindAllStringSubmatch(prose(string(b)), -1) {
			if m[1] == "##" && !toc["#"+anchor(m[2])] {
				t.Errorf("%s: the table of contents does not link section %q (#%s)", file, m[2], anchor(m[2]))
			}
		}
	}
}

// anchor agrees with the ids GitHub gave the old README's headings, which
// its links used.
func TestAnchor(t *testing.T) {
	for _, tc := range []struct{ heading, want string }{
		{"Validation — the whole list before the first write", "validation--the-whole-list-before-the-first-write"},
		{"Looking at a host: `list`", "looking-at-a-host-list"},
		{"Fleets: one list, many hosts", "fleets-one-list-many-hosts"},
		{"Faults, retries and signals", "faults-retries-and-signals"},
		{"Through vCenter: `--vihost`", "through-vcenter---vihost"},
		{"Exit codes and the action's answers", "exit-codes-and-the-actions-answers"},
		{"DRP or the fleet CLI?", "drp-or-the-fleet-cli"},
		{"esxi_users [docs](docs/x.md)", "esxi_users-docs"},
	} {
		if got := anchor(tc.heading); got != tc.want {
			t.Errorf("anchor(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
}
