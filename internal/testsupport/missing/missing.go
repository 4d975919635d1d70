// Package missing decides what a test does when something it needs is not
// on the machine (a tool, a library, an interpreter): it skips, saying what
// to install; and under CI (the environment variable CI set, as .ci/run
// sets it) it fails instead, because CI installs everything the tests need
// (tools/install-test-deps.sh) and a test skipped there would hide a
// missing install step. Only tests import it.
package missing

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI.
func InCI() bool { return os.Getenv("CI") != "" }

// Tool skips the test (fails it under CI) with the message: what is
// missing and how to install it.
func Tool(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		tb.Fatalf("%s (CI is set: everything the tests need must be installed)", msg)
		return
	}
	tb.Skip(msg)
}

// LookPath returns the path of the command name, or skips (fails under CI)
// naming hint, how to install it.
func LookPath(tb testing.TB, name, hint string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Tool(tb, "%s not found on PATH (%s)", name, hint)
	}
	return p
}

// File returns path if it exists, or skips (fails under CI) naming hint.
func File(tb testing.TB, path, hint string) string {
	tb.Helper()
	if _, err := os.Stat(path); err != nil {
		Tool(tb, "%s: %v (%s)", path, err, hint)
	}
	return path
}
