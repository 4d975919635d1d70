// Command testreport reads `go test -json` on standard input and prints
// what a person needs from a whole run: each package's result line (as
// go test prints it), the full output of every failed test and of every
// package that failed to build or run, and at the end every skipped test
// with its reason — a skip is never silent. It exits 1 when anything
// failed. `make test-go` pipes the whole suite through it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json), build events
// included.
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output, build-fail
}

// skip is one skipped test and why.
type skip struct{ pkg, test, reason string }

type report struct {
	out    io.Writer
	buf    map[string][]string // output so far, by package and test
	skips  []skip
	failed bool
}

func key(pkg, test string) string { return pkg + "\x00" + test }

func (r *report) add(e event) {
	k := key(e.Package, e.Test)
	switch e.Action {
	case "build-output":
		r.buf[key(e.ImportPath, "")] = append(r.buf[key(e.ImportPath, "")], e.Output)
	case "build-fail":
		r.failed = true
		fmt.Fprintf(r.out, "build failed: %s\n", e.ImportPath)
		r.flush(key(e.ImportPath, ""))
	case "output":
		r.buf[k] = append(r.buf[k], e.Output)
	case "fail":
		r.failed = true
		if e.Test != "" {
			fmt.Fprintf(r.out, "--- FAIL: %s (%s)\n", e.Test, e.Package)
		}
		r.flush(k)
	case "skip":
		if e.Test != "" {
			r.skips = append(r.skips, skip{e.Package, e.Test, reason(r.buf[k])})
		} else {
			r.result(k)
		}
		delete(r.buf, k)
	case "pass":
		if e.Test == "" {
			r.result(k)
		}
		delete(r.buf, k)
	}
}

// result prints a package's result line ("ok …", "?  …") from its output.
func (r *report) result(k string) {
	for _, l := range r.buf[k] {
		if strings.HasPrefix(l, "ok  ") || strings.HasPrefix(l, "?   ") {
			fmt.Fprint(r.out, l)
		}
	}
}

// flush prints and forgets the output kept under k.
func (r *report) flush(k string) {
	for _, l := range r.buf[k] {
		fmt.Fprint(r.out, l)
	}
	delete(r.buf, k)
}

// reason is why a test was skipped: the lines of its output that t.Skip
// wrote ("    file_test.go:12: message"), without go test's own lines.
func reason(lines []string) string {
	var msgs []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		msgs = append(msgs, t)
	}
	if len(msgs) == 0 {
		return "(no reason given)"
	}
	return strings.Join(msgs, " ")
}

func (r *report) summary() {
	sort.Slice(r.skips, func(i, j int) bool {
		if r.skips[i].pkg != r.skips[j].pkg {
			return r.skips[i].pkg < r.skips[j].pkg
		}
		return r.skips[i].test < r.skips[j].test
	})
	fmt.Fprintf(r.out, "\nskipped tests: %d\n", len(r.skips))
	for _, s := range r.skips {
		fmt.Fprintf(r.out, "  %s %s: %s\n", s.pkg, s.test, s.reason)
	}
}

// run reads the events from in and reports on out; it returns whether the
// run failed (a test, a package, a build, or input that is not
// go test -json).
func run(in io.Reader, out io.Writer) bool {
	r := &report{out: out, buf: map[string][]string{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not an event (go test's own messages before -json applies,
			// e.g. a pattern that matches nothing): shown as it is.
			fmt.Fprintln(out, sc.Text())
			r.failed = true
			continue
		}
		r.add(e)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "testreport: reading go test -json: %v\n", err)
		r.failed = true
	}
	// Output left over belongs to a package that never ended (a crash
	// before its result): show it.
	keys := make([]string, 0, len(r.buf))
	for k := range r.buf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.flush(k)
	}
	r.summary()
	return r.failed
}

func main() {
	if run(os.Stdin, os.Stdout) {
		fmt.Println("FAIL")
		os.Exit(1)
	}
}
