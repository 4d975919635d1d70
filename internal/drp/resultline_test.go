package drp

import (
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/textsafe"
	"github.com/esxi-users/esxi-users/tasks"
)

// A job-log line carries no control or bidi character from input or host:
// ids, operations, roles and host fault messages are escaped.
func TestResultLineEscapes(t *testing.T) {
	const osc = "\x1b]0;title\x07"
	r := tasks.Result{Index: 2, ID: "u" + osc + "\u202e", Operation: "add" + osc, Role: "Admin\x00\u202e", Outcome: tasks.Failed,
		Error: "create user: the host reported a system error: " + osc + "\u009b2J\u202eevil\nnext line (SystemError)"}
	line := ResultLine(r)
	if !textsafe.Safe(line) {
		t.Fatalf("unsafe line: %q", line)
	}
	for _, want := range []string{`entry 3 (id "u\x1b]0;title\a\u202e", add\x1b]0;title\x07): failed`, `role=Admin\x00\u202e`, `\x1b]0;title\x07\u009b2J\u202eevil\nnext line`} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
}
