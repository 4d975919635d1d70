package bench

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/internal/testsupport/netfault"
)

// govcVersion is the newest govc the module proxy serves.
const govcVersion = "v0.46.0"

const password = "S3cr3tP455!"

// tools builds esxi-manage-users and finds (or installs) govc.
func tools(b *testing.B) (prog, govc string) {
	b.Helper()
	dir := b.TempDir()
	prog = filepath.Join(dir, "esxi-manage-users")
	if out, err := exec.Command("go", "build", "-o", prog, "../../cmds/esxi-manage-users").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	if p, err := exec.LookPath("govc"); err == nil {
		return prog, p
	}
	cmd := exec.Command("go", "install", "github.com/vmware/govmomi/govc@"+govcVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("install govc %s: %v\n%s", govcVersion, err, out)
	}
	return prog, filepath.Join(dir, "govc")
}

func batch(n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "- {id: user%04d, operation: add, description: Bench User, password: '%s', role: ReadOnly}\n", i, password)
	}
	return sb.String()
}

type measure struct {
	wall     time.Duration
	requests int
	logins   int
}

// start starts a simulator and, for lat > 0, a Toxiproxy in front of it
// that delays every answer by lat (a host some milliseconds away). u is the
// URL clients use; stop stops both.
func start(b *testing.B, lat time.Duration) (sim *esxsim.Server, u *url.URL, stop func()) {
	sim, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if lat <= 0 {
		return sim, sim.URL, sim.Close
	}
	u, stop = delayed(b, sim.URL, lat, sim.Close)
	return sim, u, stop
}

// delayed puts a Toxiproxy in front of the server at u that delays every
// answer by lat, and returns the URL clients use and a func that stops the
// proxy, then the server (stopServer; also called if the proxy fails).
func delayed(b *testing.B, u *url.URL, lat time.Duration, stopServer func()) (*url.URL, func()) {
	p, err := netfault.Start(u.Host)
	if err != nil {
		stopServer()
		b.Fatal(err)
	}
	if err := p.Latency("latency", "downstream", lat); err != nil {
		p.Close()
		stopServer()
		b.Fatal(err)
	}
	pu := *u
	pu.Host = p.Addr
	return &pu, func() { p.Close(); stopServer() }
}

// runProgram applies the batch with one esxi-manage-users process.
func runProgram(b *testing.B, prog string, n int, lat time.Duration) measure {
	sim, u, stop := start(b, lat)
	defer stop()
	r0, l0 := sim.Requests(), sim.Logins()
	cmd := exec.Command(prog, "apply", "--output", "json")
	cmd.Stdin = strings.NewReader(batch(n))
	cmd.Env = append(os.Environ(), "GOVC_URL="+u.String(), "GOVC_THUMBPRINT="+sim.Thumbprint)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("esxi-manage-users: %v\n%s", err, out.String())
	}
	m := measure{wall: time.Since(t0), requests: sim.Requests() - r0, logins: sim.Logins() - l0}
	if w := sim.Writes(); w != 2*n {
		b.Fatalf("esxi-manage-users made %d writes for %d users", w, n)
	}
	return m
}

// runGovc applies the batch as a shell script would: per user, one govc
// process to create the account and one to grant the role.
// persist=false sets GOVC_PERSIST_SESSION=false: every process logs in, as
// on a runner with no saved govc session (a fresh CI job or DRP context).
func runGovc(b *testing.B, govc string, n int, persist bool, lat time.Duration) measure {
	sim, u, stop := start(b, lat)
	defer stop()
	ca := filepath.Join(b.TempDir(), "sim.pem")
	if err := os.WriteFile(ca, sim.CertPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "GOVC_URL="+u.String(), "GOVC_TLS_CA_CERTS="+ca, "HOME="+b.TempDir(),
		fmt.Sprintf("GOVC_PERSIST_SESSION=%v", persist))
	r0, l0 := sim.Requests(), sim.Logins()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("user%04d", i)
		for _, args := range [][]string{
			{"host.account.create", "-id", id, "-password", password, "-description", "Bench User"},
			{"permissions.set", "-principal", id, "-role", "ReadOnly", "/"},
		} {
			cmd := exec.Command(govc, args...)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("govc %s: %v\n%s", args[0], err, out)
			}
		}
	}
	m := measure{wall: time.Since(t0), requests: sim.Requests() - r0, logins: sim.Logins() - l0}
	if w := sim.Writes(); w != 2*n {
		b.Fatalf("govc made %d writes for %d users", w, n)
	}
	return m
}

// BenchmarkApply reports, for N users added with a role: SOAP requests per
// entry, logins and wall time of esxi-manage-users and of a govc-per-call
// script (with govc's default saved session, and without), and the
// wall-time ratios.
func BenchmarkApply(b *testing.B) { benchApply(b, 0) }

// BenchmarkApplyLatency is BenchmarkApply with every answer 3 ms late
// (Toxiproxy between client and simulator), as from a host on a real
// network, where every call costs milliseconds.
func BenchmarkApplyLatency(b *testing.B) { benchApply(b, 3*time.Millisecond) }

func benchApply(b *testing.B, lat time.Duration) {
	prog, govc := tools(b)
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var p, g, f measure
			for i := 0; i < b.N; i++ {
				p = runProgram(b, prog, n, lat)
				g = runGovc(b, govc, n, true, lat)
				f = runGovc(b, govc, n, false, lat)
			}
			per := func(m measure) float64 { return float64(m.requests) / float64(n) }
			b.ReportMetric(per(p), "soap/entry")
			b.ReportMetric(float64(p.logins), "logins")
			b.ReportMetric(float64(p.wall.Milliseconds()), "ms")
			b.ReportMetric(per(g), "govc-soap/entry")
			b.ReportMetric(float64(g.wall)/float64(p.wall), "x-vs-govc")
			b.ReportMetric(per(f), "govc-nosession-soap/entry")
			b.ReportMetric(float64(f.wall)/float64(p.wall), "x-vs-govc-nosession")
			b.Logf("N=%d: esxi-manage-users %v, %d SOAP requests (%.2f/entry), %d login(s)", n, p.wall.Round(time.Millisecond), p.requests, per(p), p.logins)
			b.Logf("N=%d: govc per call, saved session: %v, %.1f SOAP/entry, %d logins -> %.1fx", n, g.wall.Round(time.Millisecond), per(g), g.logins, float64(g.wall)/float64(p.wall))
			b.Logf("N=%d: govc per call, no session:    %v, %.1f SOAP/entry, %.1f logins/entry -> %.1fx", n, f.wall.Round(time.Millisecond), per(f), float64(f.logins)/float64(n), float64(f.wall)/float64(p.wall))
		})
	}
}
