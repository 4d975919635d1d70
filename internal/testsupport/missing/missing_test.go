package missing

import (
	"testing"
)

// recorder is a testing.TB that records whether the test was skipped or
// failed, without stopping the caller.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Skip(args ...any)               { r.skipped = true; r.msg = args[0].(string) }
func (r *recorder) Fatalf(format string, a ...any) { r.failed = true; r.msg = format }

func TestToolSkipsOrFailsUnderCI(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		LookPath(r, "no-such-command-esxi-users", "apt-get install nothing")
		if r.skipped == (ci != "") || r.failed != (ci != "") {
			t.Errorf("CI=%q: skipped %v failed %v", ci, r.skipped, r.failed)
		}
		r = &recorder{TB: t}
		if p := LookPath(r, "sh", ""); p == "" || r.skipped || r.failed {
			t.Errorf("CI=%q: sh: %q %v %v", ci, p, r.skipped, r.failed)
		}
	}
}
