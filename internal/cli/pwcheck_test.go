package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/passwdqc"
)

// pwcheckCanary is a password that must never appear in any output or error.
const pwcheckCanary = "Canary-7f3Zq!x9"

func TestCheckPasswords(t *testing.T) {
	tests := []struct {
		name      string
		opt       pwcheckOptions
		in        string
		want      string
		wantOK    bool
		wantErr   any // nil, *policyError or *inputError
		errLineNo int
	}{
		{
			name:   "line mode ESXi default",
			opt:    pwcheckOptions{Policy: passwdqc.ESXiDefault, ESXi: true},
			in:     "xQaTEhb!\nXqat3hi\n" + pwcheckCanary + "\nshort\n",
			want:   "OK\nnot enough different characters or classes\nOK\ntoo short\n",
			wantOK: false,
		},
		{
			name:   "line mode all OK, CRLF and no final newline",
			opt:    pwcheckOptions{Policy: passwdqc.ESXiDefault, ESXi: true},
			in:     "xQaTEhb!\r\n" + pwcheckCanary,
			want:   "OK\nOK\n",
			wantOK: true,
		},
		{
			name:   "line mode empty line is an empty password",
			opt:    pwcheckOptions{Policy: passwdqc.ESXiDefault},
			in:     "\n",
			want:   "too short\n",
			wantOK: false,
		},
		{
			name:   "line mode personal info from options",
			opt:    pwcheckOptions{Policy: passwdqc.ESXiDefault, ESXi: true, User: "veeam", Gecos: "Veeam Backup Service"},
			in:     "Veeam#2024!\n" + pwcheckCanary + "\n",
			want:   "based on personal login information\nOK\n",
			wantOK: false,
		},
		{
			name:   "ESXi max 40 vs 2.0.2 max 72",
			opt:    pwcheckOptions{Policy: passwdqc.ESXiDefault, ESXi: true},
			in:     pwcheckCanary + strings.Repeat("k9!Zp", 6) + "\n",
			want:   "too long\n",
			wantOK: false,
		},
		{
			name:    "malformed options policy",
			opt:     pwcheckOptions{Policy: "retry=3 min=8,disabled,8,8,8"},
			in:      pwcheckCanary + "\n",
			want:    "",
			wantErr: &policyError{}, errLineNo: 0,
		},
		{
			name: "jsonl with per-line policy and account",
			opt:  pwcheckOptions{Policy: passwdqc.ESXiDefault, ESXi: true, JSONL: true},
			in: `{"password":"` + pwcheckCanary + `"}` + "\n" +
				"\n" +
				`{"user":"alice","password":"alice123!","description":"Alice"}` + "\n" +
				`{"password":"xQaT3#A","policy":"min=disabled,disabled,disabled,disabled,15"}` + "\n",
			want: `{"ok":true,"reason":""}` + "\n" +
				`{"ok":false,"reason":"based on personal login information"}` + "\n" +
				`{"ok":false,"reason":"too short"}` + "\n",
			wantOK: false,
		},
		{
			name: "jsonl malformed per-line policy",
			opt:  pwcheckOptions{Policy: passwdqc.ESXiDefault, JSONL: true},
			in: `{"password":"` + pwcheckCanary + `","policy":"min=1,2,3"}` + "\n" +
				`{"password":"` + pwcheckCanary + `"}` + "\n",
			want: `{"ok":false,"reason":"invalid policy: Error parsing parameter \"min=1,2,3\": Invalid parameter value"}` + "\n" +
				`{"ok":true,"reason":""}` + "\n",
			wantOK: false, wantErr: &policyError{}, errLineNo: 1,
		},
		{
			name:   "jsonl broken JSON quoting the password",
			opt:    pwcheckOptions{Policy: passwdqc.ESXiDefault, JSONL: true},
			in:     `{"password":"` + pwcheckCanary + `"` + "\n",
			want:   `{"ok":false,"reason":"invalid input: not a JSON object with string fields user, password, policy, description"}` + "\n",
			wantOK: false, wantErr: &inputError{}, errLineNo: 1,
		},
		{
			name: "jsonl unknown field and missing password",
			opt:  pwcheckOptions{Policy: passwdqc.ESXiDefault, JSONL: true},
			in:   `{"pasword":"` + pwcheckCanary + `"}` + "\n" + `{"user":"root"}` + "\n",
			want: `{"ok":false,"reason":"invalid input: not a JSON object with string fields user, password, policy, description"}` + "\n" +
				`{"ok":false,"reason":"invalid input: missing \"password\""}` + "\n",
			wantOK: false, wantErr: &inputError{}, errLineNo: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			ok, err := checkPasswords(strings.NewReader(tc.in), &out, tc.opt)
			if out.String() != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tc.want)
			}
			if ok != tc.wantOK {
				t.Errorf("allOK = %v, want %v", ok, tc.wantOK)
			}
			switch want := tc.wantErr.(type) {
			case nil:
				if err != nil {
					t.Errorf("unexpected error %v", err)
				}
			case *policyError:
				var pe *policyError
				if !errors.As(err, &pe) || pe.Line != tc.errLineNo {
					t.Errorf("error %v, want *policyError on line %d", err, tc.errLineNo)
				}
				var parseErr *passwdqc.ParseError
				if !errors.As(err, &parseErr) {
					t.Errorf("policyError does not wrap *passwdqc.ParseError: %v", err)
				}
				_ = want
			case *inputError:
				var ie *inputError
				if !errors.As(err, &ie) || ie.Line != tc.errLineNo {
					t.Errorf("error %v, want *inputError on line %d", err, tc.errLineNo)
				}
			}
			if strings.Contains(out.String(), pwcheckCanary) {
				t.Errorf("output contains the pwcheckCanary password: %q", out.String())
			}
			if err != nil && strings.Contains(err.Error(), pwcheckCanary) {
				t.Errorf("error contains the pwcheckCanary password: %v", err)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestCheckPasswordsUnreadableInput(t *testing.T) {
	_, err := checkPasswords(failingReader{}, &strings.Builder{}, pwcheckOptions{Policy: passwdqc.ESXiDefault})
	if err == nil || !strings.Contains(err.Error(), "reading input") {
		t.Fatalf("got %v", err)
	}
}
