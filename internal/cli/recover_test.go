package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/sim/krbaccept"
	"github.com/esxi-users/esxi-users/internal/testsupport/krbtest"
)

// The host ends the session in the middle of the run: apply logs in again
// with the same credential source — a password, a Kerberos credential
// cache, a keytab — and finishes; one log line says so.
func TestLogInAgainWithSameCredentials(t *testing.T) {
	const spn = "host/127.0.0.1"
	realm := krbtest.NewFixture(t, spn)
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"password", nil, nil},
		{"kerberos cache", []string{"--passthroughauth"}, map[string]string{"KRB5CCNAME": realm.CCache}},
		{"keytab", []string{"--passthroughauth", "--passthroughauthpackage", "Kerberos", "--keytab", realm.UserKeytab, "--principal", "alice@" + realm.Name}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc, err := krbaccept.New(krbaccept.Options{KeytabPath: realm.ServiceKeytab, SPN: spn})
			if err != nil {
				t.Fatal(err)
			}
			sim := startSim(t, esxsim.Options{Common: esxsim.Common{SSPI: acc}})
			// Request 10 is the first write (after connecting, logging in
			// and reading the host).
			sim.ExpireSessionAt(10)
			pw, _ := sim.URL.User.Password()
			var out, errb bytes.Buffer
			env := Env{Stdin: strings.NewReader(firstEntries(fixture(t, "seed.yaml"), 3)), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
				switch k {
				case "KRB5_CONFIG":
					return realm.Krb5Conf()
				case "ESXI_PASSWORD":
					if tt.args == nil {
						return pw
					}
				}
				return tt.env[k]
			}}
			args := append([]string{"apply", "--verbose", "--server", sim.URL.Host, "--thumbprint", sim.Thumbprint}, tt.args...)
			if code := Run(context.Background(), args, env); code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, &out, &errb)
			}
			// (LoginBySSPI is answered by simsspi before the simulator's
			// request counters see it: count the log's login lines.)
			logins := sim.LoginRequests()
			if tt.args != nil {
				logins = strings.Count(errb.String(), "logged in with SSPI pass-through")
			}
			if sim.ExpiredSessions() != 1 || logins != 2 || strings.Count(errb.String(), "msg=retrying") != 1 || !strings.Contains(errb.String(), "logged in again") {
				t.Errorf("%d sessions ended, %d logins; log:\n%s", sim.ExpiredSessions(), logins, &errb)
			}
			st := readHost(t, sim)
			if st.perms["user1"] != "NoAccess" || st.perms["user2"] != "ReadOnly" {
				t.Errorf("host = %s", st)
			}
		})
	}
}
