// Package sample is go test input for testreport's test: a pass, a skip
// with a reason, a skipped subtest, and a failure when SAMPLE_FAIL is set.
package sample

import (
	"os"
	"testing"
)

func TestPass(t *testing.T) { t.Log("fine") }

func TestSkip(t *testing.T) { t.Skip("pwqcheck not found on PATH (apt-get install passwdqc)") }

func TestSub(t *testing.T) {
	t.Run("runs", func(t *testing.T) {})
	t.Run("skips", func(t *testing.T) { t.Skipf("needs %s", "curl") })
}

func TestFail(t *testing.T) {
	if os.Getenv("SAMPLE_FAIL") != "" {
		t.Error("broken on purpose")
	}
}
