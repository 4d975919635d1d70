package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Mistakes of usage exit 2, name the flag (or variable), and contact
// nothing: every address here is unreachable (127.0.0.1:1), so a command
// that tried to connect would exit 3.
func TestUsageErrorsExit2(t *testing.T) {
	sha1 := "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(canary), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := []string{"--server", "127.0.0.1:1", "--thumbprint", sha1}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"apply", "--bogus"}, nil, "flag provided but not defined: -bogus"},
		{"plan unknown flag", []string{"plan", "--dry-run"}, nil, "flag provided but not defined: -dry-run"},
		{"argument", []string{"apply", "users.yaml"}, nil, `unexpected argument "users.yaml" (give the document with --file)`},
		{"timeout 0", append([]string{"apply", "--timeout", "0"}, srv...), nil, "--timeout 0s: give a positive duration"},
		{"timeout negative", append([]string{"plan", "--timeout", "-5s"}, srv...), nil, "--timeout -5s: give a positive duration"},
		{"timeout malformed", []string{"apply", "--timeout", "5"}, nil, `invalid value "5" for flag -timeout`},
		{"thumbprint", []string{"apply", "--server", "127.0.0.1:1", "--thumbprint", "zzz"}, nil, "--thumbprint: not a certificate thumbprint (character 1 is not a hex digit or a colon); accepted: a SHA-1 (40 hex digits) or SHA-256 (64 hex digits)"},
		{"GOVC_THUMBPRINT", []string{"apply", "--server", "127.0.0.1:1"}, map[string]string{"GOVC_THUMBPRINT": "AB:CD"}, "GOVC_THUMBPRINT: not a certificate thumbprint (it has 4 hex digits)"},
		{"output", append([]string{"apply", "--output", "xml"}, srv...), nil, `--output "xml": use text or json`},
		{"http server", []string{"apply", "--server", "http://127.0.0.1:1"}, nil, "--server: server \"http://127.0.0.1:1\": plain http:// is refused"},
		{"http GOVC_URL", []string{"apply"}, map[string]string{"GOVC_URL": "http://127.0.0.1:1"}, "GOVC_URL: server \"http://127.0.0.1:1\": plain http:// is refused"},
		{"policy with skip", append([]string{"apply", "--password-policy", "min=8,8,8,8,8", "--skip-password-check"}, srv...), nil, "--password-policy and --skip-password-check conflict"},
		{"policy malformed", append([]string{"plan", "--password-policy", "min=bogus"}, srv...), nil, "--password-policy: "},
		{"policy empty", append([]string{"plan", "--password-policy", ""}, srv...), nil, "--password-policy is empty"},
		{"insecure with thumbprint", append([]string{"apply", "--insecure"}, srv...), nil, "--insecure and --thumbprint conflict"},
		{"simulate with server", []string{"apply", "--simulate", "--server", "127.0.0.1:1", "--password-file", pwFile}, nil, "--simulate starts its own simulator and logs in to it: --server, --password-file cannot be used with it"},
		{"empty vihost", append([]string{"apply", "--vihost", " ", "--username", "u"}, srv...), nil, "--vihost is empty"},
		{"from-drp with others", []string{"apply", "--from-drp", "--file", "x.yaml"}, nil, "--from-drp takes every setting from the machine's Params: --file cannot be used with it"},
		{"password file", []string{"apply", "--server", "127.0.0.1:1", "--password-file", "/nonexistent/pw"}, nil, "read --password-file"},
		{"keytab without passthroughauth", append([]string{"apply", "--keytab", "k"}, srv...), nil, "--keytab, --principal and --spn go with --passthroughauth"},
		{"list unknown flag", []string{"list", "--file", "x"}, nil, "flag provided but not defined: -file"},
		{"list output", append([]string{"list", "--output", "yaml"}, srv...), nil, `--output "yaml": use text or json`},
		{"check-password argument", []string{"check-password", "pw"}, nil, `unexpected argument "pw"`},
		{"check-password timeout", []string{"check-password", "--timeout", "0s"}, nil, "--timeout 0s"},
		{"check-password policy and server", append([]string{"check-password", "--policy", "min=8,8,8,8,8"}, srv...), nil, "--policy and --server conflict"},
		{"check-password thumbprint", []string{"check-password", "--server", "127.0.0.1:1", "--thumbprint", "thumbprint: 12"}, nil, "--thumbprint: not a certificate thumbprint"},
		{"simulate listen", []string{"simulate", "--listen", "8989"}, nil, `--listen "8989": give host:port`},
		{"simulate fail-write", []string{"simulate", "--fail-write", "-1"}, nil, "--fail-write -1"},
		{"simulate hosts", []string{"simulate", "--vcenter", "--hosts", "0"}, nil, "--hosts 0: a vCenter manages at least 1 host"},
		{"simulate hosts without vcenter", []string{"simulate", "--hosts", "3"}, nil, "--hosts goes with --vcenter"},
		{"simulate policy", []string{"simulate", "--password-policy", "min=bogus"}, nil, "--password-policy: "},
		{"simulate argument", []string{"simulate", "now"}, nil, `unexpected argument "now"`},
		{"guest-auth thumbprint", []string{"guest-auth", "--vm", "vm1", "--server", "127.0.0.1:1", "--thumbprint", "xyz"}, nil, "--thumbprint: not a certificate thumbprint"},
		{"guest-auth timeout", []string{"guest-auth", "--vm", "vm1", "--server", "127.0.0.1:1", "--timeout", "-1s"}, nil, "--timeout -1s"},
		{"unknown command", []string{"lsit"}, nil, `unknown command "lsit"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			env := Env{Stdin: strings.NewReader("[]"), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
				if v, ok := tt.env[k]; ok {
					return v
				}
				return map[string]string{"ESXI_PASSWORD": canary}[k]
			}}
			if code := Run(context.Background(), tt.args, env); code != 2 {
				t.Fatalf("exit %d, want 2\n%s\n%s", code, &out, &errb)
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, &errb)
			}
			if strings.Contains(out.String()+errb.String(), canary) {
				t.Error("canary in output")
			}
		})
	}
}

// apply and plan without --file, with a terminal on standard input, print
// their usage and exit 2 instead of waiting for a document to be typed;
// with --file - or a pipe they read standard input.
func TestNoFileOnATerminal(t *testing.T) {
	for _, cmd := range []string{"apply", "plan"} {
		var out, errb bytes.Buffer
		env := Env{Stdin: strings.NewReader("[]"), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
			StdinIsTerminal: func() bool { return true }}
		if code := Run(context.Background(), []string{cmd, "--simulate"}, env); code != 2 {
			t.Fatalf("%s: exit %d\n%s\n%s", cmd, code, &out, &errb)
		}
		for _, want := range []string{"no --file given and standard input is a terminal", "Usage: esxi-manage-users " + cmd, "-file"} {
			if !strings.Contains(errb.String(), want) {
				t.Errorf("%s: stderr lacks %q:\n%s", cmd, want, &errb)
			}
		}
		out.Reset()
		errb.Reset()
		if code := Run(context.Background(), []string{cmd, "--simulate", "--file", "-"}, env); code != 0 {
			t.Errorf("%s --file -: exit %d\n%s\n%s", cmd, code, &out, &errb)
		}
		env.StdinIsTerminal = func() bool { return false }
		env.Stdin = strings.NewReader("[]") // the run above read it
		if code := Run(context.Background(), []string{cmd, "--simulate"}, env); code != 0 {
			t.Errorf("%s from a pipe: exit %d\n%s\n%s", cmd, code, &out, &errb)
		}
	}
}
