package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestReport runs go test -json on testdata/sample and reads it: every
// skip listed with its reason, a failure shown in full and reported.
func TestReport(t *testing.T) {
	for _, fail := range []bool{false, true} {
		cmd := exec.Command("go", "test", "-count=1", "-json", "./testdata/sample")
		cmd.Env = os.Environ()
		if fail {
			cmd.Env = append(cmd.Env, "SAMPLE_FAIL=1")
		}
		js, _ := cmd.Output() // exits 1 when a test fails
		var out bytes.Buffer
		failed := run(bytes.NewReader(js), &out)
		got := out.String()
		if failed != fail {
			t.Errorf("fail=%v: reported failed=%v\n%s", fail, failed, got)
		}
		for _, want := range []string{
			"skipped tests: 2",
			"testdata/sample TestSkip: sample_test.go:12: pwqcheck not found on PATH (apt-get install passwdqc)",
			"testdata/sample TestSub/skips: sample_test.go:16: needs curl",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("fail=%v: report lacks %q:\n%s", fail, want, got)
			}
		}
		if strings.Contains(got, "broken on purpose") != fail || strings.Contains(got, "--- FAIL: TestFail") != fail {
			t.Errorf("fail=%v: the failure's output:\n%s", fail, got)
		}
		if strings.Contains(got, "fine") {
			t.Errorf("a passing test's output is shown:\n%s", got)
		}
		if !fail && !strings.Contains(got, "ok  \tgithub.com/esxi-users/esxi-users/tools/testreport/testdata/sample") {
			t.Errorf("no result line:\n%s", got)
		}
	}
	var out bytes.Buffer
	if !run(strings.NewReader("go: no packages\n"), &out) {
		t.Error("input that is not go test -json passed")
	}
}
