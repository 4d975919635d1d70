package cli

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/tasks"
)

// A list with structural errors is still checked against the host for its
// well-formed entries, and every problem is reported in one run: exit 2,
// nothing written, for apply and plan, text and JSON.
func TestAllErrorsInOneRun(t *testing.T) {
	doc := "- id: user1\n  operation: add\n  passwrod: " + canary + "\n  role: Admin\n" + // unknown key
		"- {id: user2, operation: add, password: '" + canary + "', role: ReadOnly}\n" + // fine
		"- {id: user3, operation: add, password: 'Sh0rt!', role: Admin}\n" + // too weak for the host's policy
		"- {id: root, operation: set, password: 'Sh0rt!', role: Admin}\n" + // protected: skipped, not checked
		"- {id: user4, operation: add, password: '" + canary + "', role: admin}\n" // structural (role)
	for _, cmd := range []string{"apply", "plan"} {
		for _, output := range []string{"text", "json"} {
			t.Run(cmd+" "+output, func(t *testing.T) {
				sim := startSim(t, esxsim.Options{})
				env, out, errb := simEnv(sim, doc)
				code := Run(context.Background(), simArgs(sim, cmd, "--output", output), env)
				all := out.String() + errb.String()
				if code != 2 {
					t.Fatalf("exit %d, want 2\n%s", code, all)
				}
				if sim.Writes() != 0 {
					t.Errorf("%d writes", sim.Writes())
				}
				for _, want := range []string{
					`entry 1 (id "user1", add): line 3: unknown field "passwrod" (did you mean "password"?)`,
					`entry 3 (id "user3", add): password does not meet the host's policy`,
					`entry 5 (id "user4", add): role "admin" is not one of Admin, ReadOnly, NoAccess (did you mean "Admin"?)`,
				} {
					if !strings.Contains(errb.String(), want) {
						t.Errorf("stderr lacks %q:\n%s", want, errb)
					}
				}
				if strings.Contains(all, "entry 4") || strings.Contains(all, `entry 2 (`) {
					t.Errorf("a valid or ignored entry is reported as a problem:\n%s", all)
				}
				if strings.Contains(all, canary) {
					t.Error("canary in output")
				}
				if output == "json" {
					for i, want := range []string{"invalid", "not-run", "invalid", "not-run", "invalid"} {
						if !strings.Contains(resultOf(out.String(), i), `"outcome": "`+want+`"`) {
							t.Errorf("entry %d: want %s in %s", i, want, resultOf(out.String(), i))
						}
					}
					if !strings.Contains(out.String(), `"host": "`+sim.URL.Host+`"`) || !strings.Contains(out.String(), `"user": "root"`) {
						t.Errorf("the report does not name the host read:\n%s", out)
					}
				}
			})
		}
	}
}

// The host checks include the privileges and self-lockout: a demotion of
// the login user is reported with the structural errors.
func TestAllErrorsIncludeSelfLockout(t *testing.T) {
	sim := startSim(t, esxsim.Options{})
	doc := "- {id: u1, operation: add, password: '" + canary + "', role: Admin, passwrod: x}\n- {id: root, operation: remove}\n"
	// root is protected and ignored: use a non-root admin login.
	env, out, errb := simEnv(sim, "- {id: admin2, operation: add, password: '"+canary+"', role: Admin}\n")
	if code := Run(context.Background(), simArgs(sim, "apply"), env); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	doc = "- {id: u1, operation: add, password: '" + canary + "', role: Admin, passwrod: x}\n- {id: admin2, operation: set, password: '" + canary + "', role: ReadOnly}\n"
	writes := sim.Writes()
	out.Reset()
	errb.Reset()
	env = Env{Stdin: strings.NewReader(doc), Stdout: out, Stderr: errb, Getenv: func(k string) string {
		return map[string]string{"ESXI_PASSWORD": canary}[k]
	}}
	code := Run(context.Background(), []string{"apply", "--server", sim.URL.Host, "--thumbprint", sim.Thumbprint, "--username", "admin2"}, env)
	if code != 2 || sim.Writes() != writes {
		t.Fatalf("exit %d, %d writes\n%s\n%s", code, sim.Writes()-writes, out, errb)
	}
	for _, want := range []string{`entry 1 (id "u1", add): line 1: unknown field "passwrod"`, `entry 2 (id "admin2", set): demotes (role ReadOnly) the user this run is logged in as`} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb)
		}
	}
}

// When the host cannot be reached, the structural errors are reported with
// the connect failure, and the exit code stays 2 (the input is invalid).
func TestAllErrorsConnectFailure(t *testing.T) {
	doc := "- {id: u1, operation: add, password: '" + canary + "', role: Admin, passwrod: x}\n- {id: u2, operation: remove}\n"
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(doc), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		return map[string]string{"ESXI_PASSWORD": canary}[k]
	}}
	code := Run(context.Background(), []string{"apply", "--server", "127.0.0.1:1", "--insecure", "--timeout", "5s"}, env)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s\n%s", code, &out, &errb)
	}
	for _, want := range []string{`entry 1 (id "u1", add): line 1: unknown field "passwrod"`, "the host could not be read, so the other entries were not checked against it", "connect to 127.0.0.1:1"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, &errb)
		}
	}
}

// A document that cannot be parsed has no entries to check: unlike a list
// with invalid entries, whose host is still read, nothing is contacted.
func TestSyntaxErrorContactsNothing(t *testing.T) {
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader("- id: u1\n  operation: [add\n"), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		return map[string]string{"ESXI_PASSWORD": canary}[k]
	}}
	code := Run(context.Background(), []string{"apply", "--server", "127.0.0.1:1", "--insecure", "--timeout", "5s"}, env)
	if code != 2 || strings.Contains(errb.String(), "connect") {
		t.Fatalf("exit %d\n%s\n%s", code, &out, &errb)
	}
}

// A fleet reports every problem in one run too: the list's structural
// problems once, and what each host's own checks found for the other
// entries (here a password too short for one host's policy), naming the
// host; exit 2 and not one write on any host, for apply and plan, text and
// JSON.
func TestAllErrorsInOneRunFleet(t *testing.T) {
	const strict = "retry=3 min=disabled,disabled,disabled,disabled,20"
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 3, HostPasswordPolicies: map[string]string{"DC0_H1": strict}})
	doc := "- id: user1\n  operation: add\n  passwrod: " + canary + "\n  role: Admin\n" + // structural
		"- {id: user2, operation: remove}\n" + // fine
		"- {id: user3, operation: add, password: 'Xy7#Short-pw', role: Admin}\n" // too short for DC0_H1 only
	structural := `entry 1 (id "user1", add): line 3: unknown field "passwrod"`
	weak := `host DC0_H1: entry 3 (id "user3", add): password does not meet the host's policy: too short`
	for _, cmd := range []string{"apply", "plan"} {
		for _, output := range []string{"text", "json"} {
			code, out, errb := fleetRun(context.Background(), doc, vcVars(vc), vcArgs(vc, cmd, "--output", output, "--vihost", "DC0_*")...)
			if code != 2 {
				t.Fatalf("%s %s: exit %d, want 2\n%s\n%s", cmd, output, code, out, errb)
			}
			if strings.Count(errb, structural) != 1 || !strings.Contains(errb, "the other entries are invalid for 1 of 3 hosts:\n"+weak) {
				t.Errorf("%s %s: stderr wants %q once and %q:\n%s", cmd, output, structural, weak, errb)
			}
			if strings.Contains(errb, "host DC0_H0: entry") || strings.Contains(errb, "host DC0_H1: entry 1") || strings.Contains(out+errb, canary) {
				t.Errorf("%s %s: a problem reported for the wrong host, or the canary:\n%s", cmd, output, errb)
			}
			if output == "text" {
				if !strings.Contains(out, "DC0_H1           3    user3") || !strings.Contains(out, "FAILED: 3 hosts: 3 invalid") {
					t.Errorf("%s text:\n%s", cmd, out)
				}
				continue
			}
			r := decodeFleet(t, out)
			if r.OK || len(r.Hosts) != 3 || !strings.Contains(r.Error, weak) {
				t.Fatalf("%s: report %+v", cmd, r)
			}
			for _, h := range r.Hosts {
				want := []tasks.Outcome{tasks.Invalid, tasks.NotRun, tasks.NotRun}
				if h.Host == "DC0_H1" {
					want[2] = tasks.Invalid
				}
				var got []tasks.Outcome
				for _, res := range h.Results {
					got = append(got, res.Outcome)
				}
				if h.OK || !reflect.DeepEqual(got, want) || !strings.Contains(h.Results[0].Error, `unknown field "passwrod"`) {
					t.Errorf("%s %s: %v, want %v; %+v", cmd, h.Host, got, want, h)
				}
			}
		}
	}
	if vc.Writes() != 0 {
		t.Errorf("%d writes", vc.Writes())
	}

	// No host reachable: still exit 2 (the list is invalid), each host
	// saying why it was not checked.
	down := closedPort(t)
	code, out, errb := fleetRun(context.Background(), doc, vcVars(vc), "plan", "--insecure", "--timeout", "5s", "--server", down, "--server", closedPort(t))
	if code != 2 || strings.Count(errb, structural) != 1 || !strings.Contains(errb, "2 of 2 hosts could not be read, so the other entries were not checked against them:\nhost "+down+": ") ||
		!strings.Contains(out, "UNREACHABLE: could not connect to, log in to or read the host: connect to "+down) {
		t.Errorf("unreachable: exit %d\n%s\n%s", code, out, errb)
	}
}
