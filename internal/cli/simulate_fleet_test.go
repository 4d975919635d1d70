package cli

import (
	"bytes"
	"context"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// `simulate --vcenter --hosts 4 --clusters 2 --host-password-policy
// NAME=POLICY --fail-host NAME --fail-write K`, read back through govmomi
// (pinning the printed thumbprint): the hosts at their inventory paths, one
// host's own policy, and the K-th write failing on that host only.
func TestSimulateVCenterFleetFlags(t *testing.T) {
	const strict = "retry=3 min=disabled,disabled,disabled,disabled,20"
	sim := startSimulateUntil(t, func(s simulated) bool { return len(s.hosts) == 4 }, "--vcenter", "--hosts", "4", "--clusters", "2",
		"--host-password-policy", "DC0_H1="+strict, "--fail-host", "DC0_C1_H0", "--fail-write", "1")
	if want := []string{"DC0_C0_H0", "DC0_C1_H0", "DC0_H0", "DC0_H1"}; !reflect.DeepEqual(sim.hosts, want) {
		t.Fatalf("hosts %v, want %v", sim.hosts, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u, err := url.Parse(sim.url)
	if err != nil {
		t.Fatal(err)
	}
	sc := soap.NewClient(&url.URL{Scheme: "https", Host: u.Host, Path: "/sdk"}, false)
	sc.SetThumbprint(u.Host, sim.thumbprint)
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := session.NewManager(c).Login(ctx, u.User); err != nil {
		t.Fatal(err)
	}
	finder := find.NewFinder(c, false)
	host := func(path string) mo.HostSystem {
		t.Helper()
		h, err := finder.HostSystem(ctx, path)
		if err != nil {
			t.Fatalf("find %s: %v", path, err)
		}
		var hs mo.HostSystem
		if err := h.Properties(ctx, h.Reference(), []string{"name", "configManager"}, &hs); err != nil {
			t.Fatal(err)
		}
		return hs
	}
	policy := func(hs mo.HostSystem) string {
		t.Helper()
		vals, err := object.NewOptionManager(c, *hs.ConfigManager.AdvancedOption).Query(ctx, "Security.PasswordQualityControl")
		if err != nil || len(vals) != 1 {
			t.Fatalf("%s policy: %v %v", hs.Name, vals, err)
		}
		return vals[0].GetOptionValue().Value.(string)
	}
	create := func(hs mo.HostSystem) error {
		return object.NewHostAccountManager(c, *hs.ConfigManager.AccountManager).Create(ctx, &types.HostAccountSpec{Id: "fleet1", Password: "Fleet-Sim.Pass4w"})
	}
	h0, h1 := host("/DC0/host/DC0_H0/DC0_H0"), host("/DC0/host/DC0_H1/DC0_H1")
	c0, c1 := host("/DC0/host/DC0_C0/DC0_C0_H0"), host("/DC0/host/DC0_C1/DC0_C1_H0")
	if got := policy(h1); got != strict {
		t.Errorf("DC0_H1 policy %q, want %q", got, strict)
	}
	if got := policy(h0); got == strict {
		t.Errorf("DC0_H0 has DC0_H1's policy")
	}
	if err := create(h1); err == nil || !strings.Contains(err.Error(), "Authentication token manipulation error") {
		t.Errorf("DC0_H1 (strict policy): %v, want a weak-password fault", err)
	}
	for _, hs := range []mo.HostSystem{h0, c0} {
		if err := create(hs); err != nil {
			t.Errorf("%s: %v", hs.Name, err)
		}
	}
	if err := create(c1); err == nil || !strings.Contains(err.Error(), "injected fault at write 1") {
		t.Errorf("DC0_C1_H0 write 1: %v, want the injected fault", err)
	}
	if err := create(c1); err != nil {
		t.Errorf("DC0_C1_H0 write 2: %v", err)
	}
}

// Mistakes in the fleet flags exit 2 naming the flag, before or instead of
// serving.
func TestSimulateFleetFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--fail-host", "DC0_H0", "--fail-write", "1"}, "--fail-host goes with --vcenter"},
		{[]string{"--clusters", "2"}, "--clusters goes with --vcenter"},
		{[]string{"--host-password-policy", "DC0_H0=min=8"}, "--host-password-policy goes with --vcenter"},
		{[]string{"--vcenter", "--fail-host", "DC0_H0"}, "--fail-host goes with --fail-write"},
		{[]string{"--vcenter", "--host-password-policy", "DC0_H0"}, "want NAME=POLICY"},
		{[]string{"--vcenter", "--host-password-policy", "DC0_H0="}, "want NAME=POLICY"},
		{[]string{"--vcenter", "--host-password-policy", "DC0_H0=min=8", "--host-password-policy", "DC0_H0=min=9"}, `host "DC0_H0" given twice`},
		{[]string{"--vcenter", "--fail-write", "1", "--fail-host", "DC0_H9"}, `--fail-host: no host "DC0_H9" (hosts: DC0_C0_H0, DC0_H0)`},
		{[]string{"--vcenter", "--host-password-policy", "DC0_X=retry=3"}, `--host-password-policy: no host "DC0_X"`},
		{[]string{"--vcenter", "--host-password-policy", "DC0_H0=min=bogus"}, `--host-password-policy: host "DC0_H0": policy "min=bogus"`},
		{[]string{"--vcenter", "--hosts", "3", "--clusters", "2"}, "--clusters: 2 clusters for 3 hosts"},
	} {
		var out, errb bytes.Buffer
		code := Run(context.Background(), append([]string{"simulate", "--listen", "127.0.0.1:0"}, tc.args...), Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		if code != 2 || !strings.Contains(errb.String(), tc.want) || out.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out.String(), errb.String(), tc.want)
		}
	}
}
