package cli

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
)

// list takes apply's targets: --vihost patterns through one vCenter
// session, every host read --parallel at a time and none written (the
// simulator's write counter, per host and in all); JSON has one listing per
// host, sorted by name; text one table per host under its heading line.
func TestListFleetThroughVCenter(t *testing.T) {
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 7, Clusters: 2})
	code, out, errb := fleetRun(context.Background(), firstEntries(fixture(t, "seed.yaml"), 1), vcVars(vc),
		vcArgs(vc, "apply", "--vihost", "DC0_H0")...)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errb)
	}
	writes, logins := vc.Writes(), vc.Logins()

	code, out, errb = fleetRun(context.Background(), "", vcVars(vc),
		vcArgs(vc, "list", "--output", "json", "--vihost", "/DC0/host/DC0_C0", "--vihost", "DC0_H[01]", "--parallel", "2", "--ignore-list", "user1")...)
	if code != 0 {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, errb)
	}
	l := decodeStrict[FleetListing](t, out)
	var hosts []string
	for _, h := range l.Hosts {
		hosts = append(hosts, h.Host)
		ids := map[string]ListedUser{}
		for _, u := range h.Users {
			ids[u.ID] = u
		}
		if h.User != vc.URL.User.Username() || h.Unreachable || h.Error != "" || ids["root"].Role != "Admin" || !ids["root"].Protected {
			t.Errorf("%s: %+v", h.Host, h)
		}
		if u, ok := ids["user1"]; ok != (h.Host == "DC0_H0") || (ok && (u.Role != "Admin" || !u.Ignored)) {
			t.Errorf("%s: user1 %+v (listed %v)", h.Host, u, ok)
		}
	}
	if want := []string{"DC0_C0_H0", "DC0_C0_H1", "DC0_H0", "DC0_H1"}; !reflect.DeepEqual(hosts, want) {
		t.Errorf("hosts %v, want %v", hosts, want)
	}
	if strings.Contains(out, `"unreachable"`) || strings.Contains(out, `"error"`) {
		t.Errorf("unreachable or error for hosts that were read:\n%s", out)
	}

	code, out, errb = fleetRun(context.Background(), "", vcVars(vc), vcArgs(vc, "list", "--vihost", "DC0_H*")...)
	if code != 0 {
		t.Fatalf("list text: exit %d\n%s\n%s", code, out, errb)
	}
	for _, want := range []string{
		"host DC0_H0 as administrator@vsphere.local: 4 local users\nID       DESCRIPTION",
		"user1    User One                                     Admin\n",
		"Admin\n\nhost DC0_H1 as administrator@vsphere.local: 3 local users\n",
		"\nok: 4 hosts: 4 listed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "ID       DESCRIPTION") != 4 {
		t.Errorf("want one table per host:\n%s", out)
	}

	if n := vc.Writes(); n != writes {
		t.Errorf("list made %d write calls through vCenter", n-writes)
	}
	for h, w := range hostWrites(vc) {
		if w != map[bool]int{true: 2}[h == "DC0_H0"] {
			t.Errorf("host %s: %d writes", h, w)
		}
	}
	if n := vc.Logins() - logins; n != 2 {
		t.Errorf("%d vCenter logins for two fleet lists, want one each", n)
	}
}

// Standalone hosts pinned by a known-hosts file: a server nothing listens
// on is "unreachable": true with an error while the others are listed
// (exit 1); a certificate that is not the pinned one is unreachable too,
// the known-hosts line named once; no host listed is exit 3; usage
// mistakes exit 2 before anything is contacted; list has no --fail-fast.
func TestListFleetStandalone(t *testing.T) {
	a, b, kh := esxiPair(t, false)
	vars := map[string]string{"ESXI_PASSWORD": "Root#Fleet-4417x", "GOVC_TLS_KNOWN_HOSTS": kh}
	down := closedPort(t)
	code, out, errb := fleetRun(context.Background(), "", vars, "list", "--output", "json", "--timeout", "5s",
		"--server", a.URL.Host, "--server", down, "--server", b.URL.Host)
	if code != 1 || !strings.Contains(errb, "2 of 3 hosts done; 1 unreachable") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errb)
	}
	l := decodeStrict[FleetListing](t, out)
	if len(l.Hosts) != 3 || l.Hosts[0].Host != a.URL.Host || l.Hosts[2].Host != b.URL.Host || len(l.Hosts[0].Users) != 3 || len(l.Hosts[2].Users) != 3 {
		t.Fatalf("listing %+v", l)
	}
	if u := l.Hosts[1]; u.Host != down || !u.Unreachable || !strings.Contains(u.Error, "connection refused") || u.Users != nil {
		t.Errorf("unreachable host: %+v", u)
	}
	if !strings.Contains(out, `"unreachable": true`) || strings.Count(out, `"users"`) != 2 {
		t.Errorf("JSON:\n%s", out)
	}

	code, out, errb = fleetRun(context.Background(), "", vars, "list", "--timeout", "5s", "--server", a.URL.Host, "--server", down)
	for _, want := range []string{"host " + down + ": UNREACHABLE: could not connect to, log in to or read the host: connect to " + down, "\nFAILED: 2 hosts: 1 listed, 1 unreachable\n"} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("text: exit %d, lacks %q:\n%s\n%s", code, want, out, errb)
		}
	}

	c, d, mismatch := esxiPair(t, true)
	code, out, errb = fleetRun(context.Background(), "", map[string]string{"ESXI_PASSWORD": "Root#Fleet-4417x"}, "list", "--output", "json", "--known-hosts", mismatch, "--server", c.URL.Host, "--server", d.URL.Host)
	if code != 1 {
		t.Fatalf("mismatch: exit %d\n%s\n%s", code, out, errb)
	}
	if u := decodeStrict[FleetListing](t, out).Hosts[1]; !u.Unreachable || !strings.Contains(u.Error, "does not match") || strings.Count(u.Error, mismatch+":3") != 1 {
		t.Errorf("mismatch: %+v", u)
	}

	code, out, errb = fleetRun(context.Background(), "", vars, "list", "--timeout", "5s", "--server", down, "--server", closedPort(t))
	if code != 3 || !strings.Contains(errb, "no host could be reached") || !strings.Contains(out, "FAILED: 2 hosts: 2 unreachable") {
		t.Errorf("none reachable: exit %d\n%s\n%s", code, out, errb)
	}

	r0 := a.Requests()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--parallel", "0"}, "--parallel 0"},
		{[]string{"--fail-fast"}, "flag provided but not defined: -fail-fast"},
		{[]string{"--thumbprint", a.Thumbprint}, "with several --server give their fingerprints in a known-hosts file"},
		{[]string{"--server", a.URL.Host}, "is given twice"},
		{[]string{"--simulate"}, "--simulate"},
	} {
		args := append([]string{"list", "--server", a.URL.Host, "--server", b.URL.Host}, tc.args...)
		if code, _, errb := fleetRun(context.Background(), "", vars, args...); code != 2 || !strings.Contains(errb, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, errb, tc.want)
		}
	}
	if a.Requests() != r0 {
		t.Errorf("%d requests for usage mistakes", a.Requests()-r0)
	}
	if a.Writes() != 0 || b.Writes() != 0 {
		t.Errorf("list wrote: %d, %d", a.Writes(), b.Writes())
	}
}

// A --vihost pattern that selects nothing is a usage error (exit 2) after
// the vCenter was asked for its hosts; the vCenter unreachable is exit 3.
func TestListFleetPatternAndVCenterErrors(t *testing.T) {
	vc := startFleet(t, esxsim.VCenterOptions{Hosts: 2})
	code, out, errb := fleetRun(context.Background(), "", vcVars(vc), vcArgs(vc, "list", "--vihost", "DC0_*", "--vihost", "esx-*")...)
	if code != 2 || !strings.Contains(errb, `host pattern "esx-*" matches no host`) || out != "" {
		t.Errorf("no match: exit %d\n%s\n%s", code, out, errb)
	}
	down := closedPort(t)
	code, out, errb = fleetRun(context.Background(), "", vcVars(vc), "list", "--server", down, "--insecure", "--timeout", "5s", "--username", "u", "--vihost", "DC0_*")
	if code != 3 || !strings.Contains(errb, "vCenter "+down) {
		t.Errorf("vCenter down: exit %d\n%s\n%s", code, out, errb)
	}
	if vc.Writes() != 0 {
		t.Errorf("%d writes", vc.Writes())
	}
}
