package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
	"github.com/esxi-users/esxi-users/internal/testsupport/krbtest"
)

// Pass-through login with a real MIT KDC: the caller's Kerberos identity
// (a kinit credential cache, or a keytab) logs in with LoginBySSPI, the
// session's user name is reported, and the list is applied.
func TestPassThroughLogin(t *testing.T) {
	const spn = "host/127.0.0.1"
	realm := krbtest.NewFixture(t, spn)
	svcKeytab, ccache, aliceKeytab := realm.ServiceKeytab, realm.CCache, realm.UserKeytab

	tests := []struct {
		name string
		args []string
		env  map[string]string
		mic  bool // krbaccept.Options.MechListMIC: two LoginBySSPI calls
		code int
		want string
	}{
		{"negotiate from ccache", []string{"--passthroughauth"}, map[string]string{"KRB5CCNAME": ccache}, false, 0, `"user": "` + realm.Name + `\\alice"`},
		{"kerberos from keytab", []string{"--passthroughauth", "--passthroughauthpackage", "Kerberos", "--keytab", aliceKeytab, "--principal", "alice@" + realm.Name}, nil, false, 0, `"outcome": "created"`},
		{"negotiate, two legs", []string{"--passthroughauth"}, map[string]string{"KRB5CCNAME": ccache}, true, 0, `"outcome": "created"`},
		{"wrong SPN", []string{"--passthroughauth", "--spn", "host/elsewhere"}, map[string]string{"KRB5CCNAME": ccache}, false, 3, "SSPI pass-through"},
		{"bad package", []string{"--passthroughauth", "--passthroughauthpackage", "NTLM"}, map[string]string{"KRB5CCNAME": ccache}, false, 2, "use Negotiate or Kerberos"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc, err := krbaccept.New(krbaccept.Options{KeytabPath: svcKeytab, SPN: spn, MechListMIC: tt.mic})
			if err != nil {
				t.Fatal(err)
			}
			sim := startSim(t, esxsim.Options{Common: esxsim.Common{SSPI: acc}})
			var out, errb bytes.Buffer
			env := Env{Stdin: strings.NewReader(firstEntries(fixture(t, "seed.yaml"), 1)), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
				if k == "KRB5_CONFIG" {
					return realm.Krb5Conf()
				}
				return tt.env[k]
			}}
			args := append([]string{"apply", "--output", "json", "--server", sim.URL.Host, "--thumbprint", sim.Thumbprint}, tt.args...)
			code := Run(context.Background(), args, env)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tt.code, &out, &errb)
			}
			if !strings.Contains(out.String()+errb.String(), tt.want) {
				t.Errorf("output lacks %s:\n%s\n%s", tt.want, &out, &errb)
			}
			if code != 0 {
				if sim.Writes() != 0 {
					t.Errorf("%d writes after a failed login", sim.Writes())
				}
				return
			}
			var rep struct{ User string }
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.User != realm.Name+`\alice` {
				t.Errorf("report user = %q (%v)", rep.User, err)
			}
			if readHost(t, sim).perms["user1"] != "Admin" {
				t.Error("user1 was not created")
			}
		})
	}
}

// Pass-through to vCenter, then --vihost: no password anywhere.
func TestPassThroughViHost(t *testing.T) {
	const spn = "host/127.0.0.1"
	realm := krbtest.NewFixture(t, spn)
	svcKeytab, ccache := realm.ServiceKeytab, realm.CCache
	acc, err := krbaccept.New(krbaccept.Options{KeytabPath: svcKeytab, SPN: spn})
	if err != nil {
		t.Fatal(err)
	}
	vc, err := esxsim.StartVCenter(esxsim.VCenterOptions{Common: esxsim.Common{SSPI: acc}, Hosts: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	var out, errb bytes.Buffer
	env := Env{Stdin: strings.NewReader(firstEntries(fixture(t, "seed.yaml"), 1)), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		return map[string]string{"KRB5CCNAME": ccache, "KRB5_CONFIG": realm.Krb5Conf()}[k]
	}}
	args := []string{"apply", "--server", vc.URL.Host, "--thumbprint", vc.Thumbprint, "--passthroughauth", "--vihost", vc.Hosts[0]}
	if code := Run(context.Background(), args, env); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, &out, &errb)
	}
	if want := "ok: host " + vc.Hosts[0] + " as " + realm.Name + `\alice`; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, &out)
	}
	st := hostAccounts(t, vc)
	if !strings.Contains(st[vc.Hosts[0]], "user1 (User One) Admin") || strings.Contains(st[vc.Hosts[1]], "user1") {
		t.Errorf("hosts = %v", st)
	}
}
