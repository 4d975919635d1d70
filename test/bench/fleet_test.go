package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
)

// The fleet of `make bench`: fleetHosts hosts through one simulated vCenter,
// fleetEntries users added with a role on each, every answer 3 ms late.
const (
	fleetHosts   = 50
	fleetEntries = 10
	fleetLatency = 3 * time.Millisecond
)

type fleetMeasure struct {
	measure
	rssKB int64         // the process's peak resident set (0: unknown)
	cpu   time.Duration // the process's user and system CPU time
}

// startFleet starts a vCenter managing fleetHosts hosts behind a Toxiproxy
// that delays every answer by fleetLatency. u is the URL clients use.
func startFleet(b *testing.B) (vc *esxsim.VCenter, u *url.URL, stop func()) {
	vc, err := esxsim.StartVCenter(esxsim.VCenterOptions{Hosts: fleetHosts, Clusters: 5})
	if err != nil {
		b.Fatal(err)
	}
	u, stop = delayed(b, vc.URL, fleetLatency, vc.Close)
	return vc, u, stop
}

// rotation sets a new password on each of the batch's users, keeping their
// role: one write per entry.
func rotation(n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "- {id: user%04d, operation: set, description: Bench User, password: 'R0tated-%04d!x', role: ReadOnly}\n", i, i)
	}
	return sb.String()
}

// runFleet applies doc to every host with one esxi-manage-users process.
func runFleet(b *testing.B, prog string, vc *esxsim.VCenter, u *url.URL, doc string, parallel int) fleetMeasure {
	r0, l0, w0 := vc.Requests(), vc.Logins(), vc.Writes()
	cmd := exec.Command(prog, "apply", "--output", "json", "--vihost", "*", "--parallel", fmt.Sprint(parallel))
	cmd.Stdin = strings.NewReader(doc)
	cmd.Env = append(os.Environ(), "GOVC_URL="+u.String(), "GOVC_THUMBPRINT="+vc.Thumbprint)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("esxi-manage-users: %v\n%s", err, errb.String())
	}
	m := fleetMeasure{measure: measure{wall: time.Since(t0), requests: vc.Requests() - r0, logins: vc.Logins() - l0}}
	m.rssKB, _ = maxRSSKB(cmd.ProcessState)
	m.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	var rep struct {
		OK    bool              `json:"ok"`
		Hosts []json.RawMessage `json:"hosts"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || !rep.OK || len(rep.Hosts) != fleetHosts {
		b.Fatalf("report: %v, ok %v, %d hosts\n%s", err, rep.OK, len(rep.Hosts), errb.String())
	}
	return m.checkWrites(b, vc.Writes()-w0, doc)
}

// checkWrites fails unless the run made the writes doc needs on every host.
func (m fleetMeasure) checkWrites(b *testing.B, writes int, doc string) fleetMeasure {
	per := 2 // add with a role: CreateUser, ChangeAccessMode
	if strings.Contains(doc, "operation: set") {
		per = 1 // the role is kept: UpdateUser
	}
	if want := per * fleetHosts * fleetEntries; writes != want {
		b.Fatalf("%d writes, want %d", writes, want)
	}
	return m
}

// runFleetGovc applies the batch as a shell script would through vCenter:
// for each host and user, one govc process creates the account
// (host.account.create -host) and one grants the role on the host
// (host.esxcli -host ... system permission set), with govc's saved session.
func runFleetGovc(b *testing.B, govc string, vc *esxsim.VCenter, u *url.URL) fleetMeasure {
	ca := filepath.Join(b.TempDir(), "vc.pem")
	if err := os.WriteFile(ca, vc.CertPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), "GOVC_URL="+u.String(), "GOVC_TLS_CA_CERTS="+ca, "HOME="+b.TempDir())
	r0, l0, w0 := vc.Requests(), vc.Logins(), vc.Writes()
	t0 := time.Now()
	for _, h := range vc.Hosts {
		path, _ := vc.HostPath(h)
		for i := 0; i < fleetEntries; i++ {
			id := fmt.Sprintf("user%04d", i)
			for _, args := range [][]string{
				{"host.account.create", "-host", path, "-id", id, "-password", password, "-description", "Bench User"},
				{"host.esxcli", "-host", path, "system", "permission", "set", "--id", id, "--role", "ReadOnly"},
			} {
				cmd := exec.Command(govc, args...)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("govc %s: %v\n%s", args[0], err, out)
				}
			}
		}
	}
	m := fleetMeasure{measure: measure{wall: time.Since(t0), requests: vc.Requests() - r0, logins: vc.Logins() - l0}}
	return m.checkWrites(b, vc.Writes()-w0, batch(fleetEntries))
}

// BenchmarkFleet reports, for fleetEntries users added with a role on each
// of fleetHosts hosts of a vCenter whose every answer is 3 ms late: the wall
// time of esxi-manage-users with --parallel 8 and --parallel 1 and their
// ratio, vCenter logins, SOAP requests per host-entry, the process's peak
// RSS, the same for a password rotation of those users (one write per
// entry), and the same fleet done with one govc process per call.
func BenchmarkFleet(b *testing.B) {
	prog, govc := tools(b)
	var p8, p1, rot, g fleetMeasure
	for i := 0; i < b.N; i++ {
		func() {
			vc, u, stop := startFleet(b)
			defer stop()
			p8 = runFleet(b, prog, vc, u, batch(fleetEntries), 8)
			rot = runFleet(b, prog, vc, u, rotation(fleetEntries), 8)
		}()
		func() {
			vc, u, stop := startFleet(b)
			defer stop()
			p1 = runFleet(b, prog, vc, u, batch(fleetEntries), 1)
		}()
		func() {
			vc, u, stop := startFleet(b)
			defer stop()
			g = runFleetGovc(b, govc, vc, u)
		}()
	}
	const n = fleetHosts * fleetEntries
	per := func(m fleetMeasure) float64 { return float64(m.requests) / n }
	b.ReportMetric(float64(p8.wall.Milliseconds()), "ms-parallel8")
	b.ReportMetric(float64(p1.wall.Milliseconds()), "ms-parallel1")
	b.ReportMetric(float64(p1.wall)/float64(p8.wall), "x-parallel8-vs-1")
	b.ReportMetric(float64(p8.logins), "logins")
	b.ReportMetric(per(p8), "soap/host-entry")
	b.ReportMetric(per(rot), "rotate-soap/host-entry")
	b.ReportMetric(float64(p8.rssKB)/1024, "peak-RSS-MB")
	b.ReportMetric(float64(g.wall.Milliseconds()), "ms-govc")
	b.ReportMetric(float64(g.wall)/float64(p8.wall), "x-vs-govc")
	b.Logf("%d hosts x %d entries (add with a role), %v latency, through one vCenter:", fleetHosts, fleetEntries, fleetLatency)
	b.Logf("  esxi-manage-users --parallel 8: %v, %d SOAP requests (%.2f per host-entry), %d vCenter login(s), peak RSS %.1f MB, CPU %v",
		p8.wall.Round(time.Millisecond), p8.requests, per(p8), p8.logins, float64(p8.rssKB)/1024, p8.cpu.Round(time.Millisecond))
	b.Logf("  esxi-manage-users --parallel 1: %v, %d SOAP requests, %d login(s), peak RSS %.1f MB, CPU %v -> --parallel 8 is %.1fx faster",
		p1.wall.Round(time.Millisecond), p1.requests, p1.logins, float64(p1.rssKB)/1024, p1.cpu.Round(time.Millisecond), float64(p1.wall)/float64(p8.wall))
	b.Logf("  password rotation of those users (set, role kept), --parallel 8: %v, %d SOAP requests (%.2f per host-entry), %d login(s)",
		rot.wall.Round(time.Millisecond), rot.requests, per(rot), rot.logins)
	b.Logf("  govc per call (host.account.create, host.esxcli system permission set), saved session: %v, %d SOAP requests (%.1f per host-entry), %d logins -> %.1fx",
		g.wall.Round(time.Millisecond), g.requests, per(g), g.logins, float64(g.wall)/float64(p8.wall))
}
