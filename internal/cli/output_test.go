package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/tasks"
)

func results(outcomes ...tasks.Outcome) []tasks.Result {
	rs := make([]tasks.Result, len(outcomes))
	for i, o := range outcomes {
		rs[i] = tasks.Result{Index: i, ID: "u", Operation: "remove", Outcome: o}
	}
	return rs
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name string
		rep  tasks.Report
		want string
	}{
		{"one entry", tasks.Report{OK: true, Host: "esx01", User: "root", Results: results(tasks.Created)},
			"ok: host esx01 as root: 1 entry: 1 created"},
		{"several", tasks.Report{OK: true, Host: "esx01:443", User: "root", Results: results(tasks.Created, tasks.Removed, tasks.Created)},
			"ok: host esx01:443 as root: 3 entries: 2 created, 1 removed"},
		{"empty list", tasks.Report{OK: true, Host: "esx01", User: "root", Results: results()},
			"ok: host esx01 as root: no entries: the list is empty"},
		{"syntax error", tasks.Report{Results: results()},
			"FAILED: nothing was contacted"},
		{"invalid before connecting", tasks.Report{Results: results(tasks.Invalid, tasks.NotRun)},
			"FAILED: nothing was contacted: 2 entries: 1 invalid, 1 not-run"},
		{"connect failure", tasks.Report{Host: "esx01", Results: results(tasks.NotRun, tasks.NotRun, tasks.NotRun)},
			"FAILED: host esx01: 3 entries, none run"},
		{"connect failure, one entry", tasks.Report{Host: "esx01", Results: results(tasks.NotRun)},
			"FAILED: host esx01: 1 entry, not run"},
		{"failed entry", tasks.Report{Host: "esx01", User: "root", Results: results(tasks.Created, tasks.Failed, tasks.NotRun)},
			"FAILED: host esx01 as root: 3 entries: 1 created, 1 failed, 1 not-run"},
		{"host text escaped", tasks.Report{OK: true, Host: "esx\x1b[2J01", Results: results()},
			`ok: host esx\x1b[2J01: no entries: the list is empty`},
	}
	for _, tt := range tests {
		if got := summary(&tt.rep); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// A connect failure prints one summary line, not one not-run row per entry;
// the JSON report keeps every entry.
func TestConnectFailureOneLine(t *testing.T) {
	doc := "- {id: u1, operation: remove}\n- {id: u2, operation: remove}\n- {id: u3, operation: remove}\n"
	for _, output := range []string{"text", "json"} {
		var out, errb bytes.Buffer
		env := Env{Stdin: strings.NewReader(doc), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			return map[string]string{"ESXI_PASSWORD": canary}[k]
		}}
		code := Run(context.Background(), []string{"apply", "--output", output, "--server", "https://127.0.0.1:1/sdk", "--insecure", "--timeout", "5s"}, env)
		if code != 3 {
			t.Fatalf("exit %d\n%s\n%s", code, &out, &errb)
		}
		if output == "text" {
			if got := out.String(); got != "FAILED: host 127.0.0.1:1: 3 entries, none run\n" {
				t.Errorf("stdout = %q", got)
			}
			if n := strings.Count(errb.String(), "\n"); n != 1 {
				t.Errorf("stderr has %d lines:\n%s", n, &errb)
			}
			continue
		}
		if strings.Count(out.String(), `"outcome": "not-run"`) != 3 || !strings.Contains(out.String(), `"host": "127.0.0.1:1"`) {
			t.Errorf("report:\n%s", &out)
		}
	}
}

// The report names the host the same way whether the run read it or not:
// host[:port] as given, without scheme or path.
func TestReportHostFormat(t *testing.T) {
	sim := startSim(t, esxsim.Options{})
	env, out, errb := simEnv(sim, "[]")
	if code := Run(context.Background(), []string{"apply", "--output", "json", "--server", "https://" + sim.URL.Host + "/sdk", "--thumbprint", sim.Thumbprint}, env); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(out.String(), `"host": "`+sim.URL.Host+`"`) {
		t.Errorf("success report:\n%s", out)
	}
	env, out, errb = simEnv(sim, "[]")
	env.Getenv = func(k string) string { return map[string]string{"ESXI_PASSWORD": canary}[k] } // the login is refused
	if code := Run(context.Background(), []string{"apply", "--output", "json", "--server", "https://" + sim.URL.Host + "/sdk", "--thumbprint", sim.Thumbprint}, env); code != 3 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	if !strings.Contains(out.String(), `"host": "`+sim.URL.Host+`"`) {
		t.Errorf("failure report:\n%s", out)
	}
}
