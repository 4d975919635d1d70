// Package krbtest starts a throwaway MIT Kerberos KDC for tests.
//
// Start writes krb5.conf and kdc.conf into t.TempDir(), creates the database
// with kdb5_util, and runs krb5kdc in the foreground on 127.0.0.1 with a free
// port. Everything is removed (and the KDC stopped) by t.Cleanup.
//
// The MIT binaries come from Debian's krb5-kdc, krb5-admin-server and
// krb5-user packages. When they are missing the test is skipped, or fails
// when the CI environment variable is set.
package krbtest

import (
	"bytes"
	"fmt"
	"github.com/esxi-users/esxi-users/internal/testsupport/missing"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultRealm is the realm name Start uses.
const DefaultRealm = "ESXI.TEST"

// InstallHint is the command that provides the binaries Start needs.
const InstallHint = "apt-get install krb5-kdc krb5-admin-server krb5-user"

// Realm is a running throwaway KDC.
type Realm struct {
	// Name is the realm name, e.g. ESXI.TEST.
	Name string
	// Port is the KDC's UDP and TCP port on 127.0.0.1.
	Port int
	// Dir holds the configuration, database, logs, keytabs and caches.
	Dir string

	t        testing.TB
	krb5Conf string
	kdcConf  string
	bins     map[string]string
	mu       sync.Mutex
	n        int
}

var binNames = []string{"kdb5_util", "kadmin.local", "krb5kdc", "kinit"}

// lookBin finds an MIT binary on PATH or in the usual sbin/bin directories
// (PATH often lacks /usr/sbin).
func lookBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// Require returns the paths of the MIT binaries, skipping (or, under CI,
// failing) the test when one is missing.
func Require(t testing.TB) map[string]string {
	t.Helper()
	bins := map[string]string{}
	for _, n := range binNames {
		p, err := lookBin(n)
		if err != nil {
			missing.Tool(t, "krbtest: %v; %s", err, InstallHint)
		}
		bins[n] = p
	}
	return bins
}

func freePort() (int, error) {
	// The port must be free for both TCP and UDP.
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port")
}

const enctypes = "aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96"

// Start creates and starts a realm named DefaultRealm.
func Start(t testing.TB) *Realm {
	t.Helper()
	bins := Require(t)
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatalf("krbtest: %v", err)
	}
	r := &Realm{Name: DefaultRealm, Port: port, Dir: dir, t: t, bins: bins,
		krb5Conf: filepath.Join(dir, "krb5.conf"), kdcConf: filepath.Join(dir, "kdc.conf")}

	krb5 := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	ignore_acceptor_hostname = false
	forwardable = false
	udp_preference_limit = 1
	default_tkt_enctypes = %[3]s
	default_tgs_enctypes = %[3]s
	permitted_enctypes = %[3]s
	default_ccache_name = FILE:%[4]s/ccache-default

[realms]
	%[1]s = {
		kdc = 127.0.0.1:%[2]d
	}

[domain_realm]
	.test = %[1]s
	test = %[1]s
`, r.Name, port, enctypes, dir)
	kdc := fmt.Sprintf(`[kdcdefaults]
	kdc_listen = 127.0.0.1:%[2]d
	kdc_tcp_listen = 127.0.0.1:%[2]d

[realms]
	%[1]s = {
		database_name = %[3]s/principal
		key_stash_file = %[3]s/stash
		acl_file = %[3]s/kadm5.acl
		kdc_listen = 127.0.0.1:%[2]d
		kdc_tcp_listen = 127.0.0.1:%[2]d
		master_key_type = aes256-cts-hmac-sha1-96
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
		max_life = 1h
		max_renewable_life = 0
	}

[logging]
	kdc = FILE:%[3]s/kdc.log
	admin_server = FILE:%[3]s/kadmin.log
	default = FILE:%[3]s/krb5lib.log
`, r.Name, port, dir)
	for p, c := range map[string]string{r.krb5Conf: krb5, r.kdcConf: kdc, filepath.Join(dir, "kadm5.acl"): ""} {
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatalf("krbtest: %v", err)
		}
	}

	r.run(nil, bins["kdb5_util"], "-r", r.Name, "create", "-s", "-P", "master-"+fmt.Sprint(time.Now().UnixNano()))

	out, err := os.Create(filepath.Join(dir, "krb5kdc.out"))
	if err != nil {
		t.Fatalf("krbtest: %v", err)
	}
	cmd := exec.Command(bins["krb5kdc"], "-n", "-r", r.Name)
	cmd.Env = r.Env()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("krbtest: starting krb5kdc: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		out.Close()
	})

	// Wait until the KDC accepts TCP connections.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(dir, "krb5kdc.out"))
			l, _ := os.ReadFile(filepath.Join(dir, "kdc.log"))
			t.Fatalf("krbtest: krb5kdc exited: %s %s", b, l)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("krbtest: KDC did not start listening on port %d", port)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

// Env returns the process environment with KRB5_CONFIG and KRB5_KDC_PROFILE
// pointing at this realm.
func (r *Realm) Env() []string {
	var env []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "KRB5_CONFIG=") || strings.HasPrefix(e, "KRB5_KDC_PROFILE=") || strings.HasPrefix(e, "KRB5CCNAME=") || strings.HasPrefix(e, "KRB5_KTNAME=") {
			continue
		}
		env = append(env, e)
	}
	return append(env, "KRB5_CONFIG="+r.krb5Conf, "KRB5_KDC_PROFILE="+r.kdcConf)
}

func (r *Realm) run(stdin []byte, bin string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = r.Env()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		r.t.Fatalf("krbtest: %s %s: %v: %s", filepath.Base(bin), strings.Join(redact(args), " "), err, out.String())
	}
	return out.String()
}

// redact hides passwords in command lines shown in failures.
func redact(args []string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if i > 0 && (out[i-1] == "-P" || strings.HasPrefix(out[i], "addprinc -pw") || strings.HasPrefix(out[i], "cpw -pw")) {
			out[i] = "<redacted>"
		}
	}
	return out
}

func (r *Realm) kadmin(query string) string {
	r.t.Helper()
	return r.run(nil, r.bins["kadmin.local"], "-r", r.Name, "-q", query)
}

// Krb5Conf returns the path of the realm's krb5.conf.
func (r *Realm) Krb5Conf() string { return r.krb5Conf }

// AddPrincipal creates a principal. An empty password gives it a random key
// (for services, whose key is then only available through Keytab).
func (r *Realm) AddPrincipal(name, password string) {
	r.t.Helper()
	if strings.ContainsAny(name+password, "\"'\n") {
		r.t.Fatalf("krbtest: quotes or newlines in principal or password are not supported")
	}
	if password == "" {
		r.kadmin(fmt.Sprintf("addprinc -randkey %s", name))
		return
	}
	r.kadmin(fmt.Sprintf("addprinc -pw \"%s\" %s", password, name))
}

func (r *Realm) newPath(prefix string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	return filepath.Join(r.Dir, fmt.Sprintf("%s-%d", prefix, r.n))
}

// Keytab exports the principal's keys into a new keytab file and returns its
// path. Without norandkey the principal gets fresh random keys (a new kvno),
// which makes every keytab exported before stale — and a password useless.
func (r *Realm) Keytab(principal string, norandkey bool) string {
	r.t.Helper()
	p := r.newPath("keytab")
	flag := ""
	if norandkey {
		flag = "-norandkey "
	}
	r.kadmin(fmt.Sprintf("ktadd -k %s %s%s", p, flag, principal))
	return p
}

// Kinit obtains a TGT for principal with MIT kinit and returns the path of
// the new FILE credential cache.
func (r *Realm) Kinit(principal, password string) string {
	r.t.Helper()
	p := r.newPath("ccache")
	cmd := exec.Command(r.bins["kinit"], principal)
	cmd.Env = append(r.Env(), "KRB5CCNAME=FILE:"+p)
	cmd.Stdin = strings.NewReader(password + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		r.t.Fatalf("krbtest: kinit %s: %v: %s", principal, err, out.String())
	}
	return p
}

// Fixture is the usual SSPI test set-up: a realm with a service principal
// (and its keytab) and a client principal (with a password, a kinit
// credential cache and a keytab).
type Fixture struct {
	*Realm
	SPN           string // the service principal, e.g. host/esx.test
	ServiceKeytab string // its keytab
	User          string // the client principal's name, "alice"
	Password      string // its password
	CCache        string // FILE: credential cache after kinit
	UserKeytab    string // the client's keytab (its password stays valid)
}

// FixtureUser and FixturePassword are the client principal of NewFixture.
const (
	FixtureUser     = "alice"
	FixturePassword = "Alice#Pw-1234"
)

// NewFixture starts a realm (see Start) with service principal spn, the
// client principal FixtureUser and, with random keys, the principals
// others (another host's, to be refused; another user, say).
func NewFixture(t testing.TB, spn string, others ...string) *Fixture {
	t.Helper()
	r := Start(t)
	r.AddPrincipal(FixtureUser, FixturePassword)
	r.AddPrincipal(spn, "")
	for _, p := range others {
		r.AddPrincipal(p, "")
	}
	return &Fixture{
		Realm: r, SPN: spn, ServiceKeytab: r.Keytab(spn, false),
		User: FixtureUser, Password: FixturePassword,
		CCache: r.Kinit(FixtureUser, FixturePassword), UserKeytab: r.Keytab(FixtureUser, true),
	}
}
