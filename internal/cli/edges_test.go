package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Tests of the edges issue 17 (item 3) lists: each failed before its fix.

// run runs the CLI with env vars (nil: none) and stdin, and returns the exit
// code, stdout and stderr.
func runCLI(ctx context.Context, stdin string, vars map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }}
	code := Run(ctx, args, env)
	return code, out.String(), errb.String()
}

// --help and every flag error print the usage, whose defaults come from
// each flag's String method: the repeatable --server and --vihost must
// print theirs (flag.PrintDefaults calls String on a zero value of the
// flag's type, which panicked: "panic calling String method on zero
// cli.collect for flag server").
func TestUsageHasNoPanic(t *testing.T) {
	for _, cmd := range []string{"apply", "plan", "list", "check-password", "guest-auth", "simulate"} {
		for _, arg := range []string{"--help", "--bogus"} {
			code, out, errb := runCLI(context.Background(), "", nil, cmd, arg)
			want := map[string]int{"--help": 0, "--bogus": 2}[arg]
			if code != want {
				t.Errorf("%s %s: exit %d, want %d", cmd, arg, code, want)
			}
			if strings.Contains(out+errb, "panic") {
				t.Errorf("%s %s: the usage has a panic:\n%s", cmd, arg, errb)
			}
			if !strings.Contains(errb, "Usage") || !strings.Contains(errb, "-timeout") && cmd != "simulate" {
				t.Errorf("%s %s: no usage:\n%s", cmd, arg, errb)
			}
		}
	}
}
