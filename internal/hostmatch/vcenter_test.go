package hostmatch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
)

// TestMatchSimulatedVCenter: the hosts of a simulated vCenter as govmomi
// lists them (find.Finder's inventory paths, HostSystem names, VMkernel
// addresses) select as the patterns say.
func TestMatchSimulatedVCenter(t *testing.T) {
	v, err := esxsim.StartVCenter(esxsim.VCenterOptions{Hosts: 7, Clusters: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u := *v.URL
	u.User = nil
	sc := soap.NewClient(&u, false)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(v.CertPEM)
	sc.DefaultTransport().TLSClientConfig = &tls.Config{RootCAs: pool}
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := v.URL.User.Password()
	if err := session.NewManager(c).Login(ctx, url.UserPassword(v.URL.User.Username(), pw)); err != nil {
		t.Fatal(err)
	}
	list, err := find.NewFinder(c, false).HostSystemList(ctx, "/*/host/*/*")
	if err != nil {
		t.Fatal(err)
	}
	var hosts []Host
	for _, h := range list {
		var hs mo.HostSystem
		if err := h.Properties(ctx, h.Reference(), []string{"name", "config.network.vnic"}, &hs); err != nil {
			t.Fatal(err)
		}
		host := Host{Name: hs.Name, Path: h.InventoryPath}
		for _, vnic := range hs.Config.Network.Vnic {
			host.Addresses = append(host.Addresses, vnic.Spec.Ip.IpAddress)
		}
		hosts = append(hosts, host)
	}
	if len(hosts) != 7 {
		t.Fatalf("%d hosts: %v", len(hosts), hosts)
	}
	ip, _ := v.HostIP("DC0_H2")
	for _, tc := range []struct {
		patterns []string
		want     []string
	}{
		{[]string{"/DC0/host/DC0_C1/*"}, []string{"DC0_C1_H0"}},
		{[]string{"/DC0/host/DC0_C0"}, []string{"DC0_C0_H0", "DC0_C0_H1"}},
		{[]string{"/DC0/host/DC0_H3"}, []string{"DC0_H3"}},
		{[]string{"DC0_H[01]", ip}, []string{"DC0_H0", "DC0_H1", "DC0_H2"}},
		{[]string{"/DC0"}, v.Hosts},
	} {
		got, err := Match(hosts, tc.patterns)
		if err != nil || !reflect.DeepEqual(names(got), tc.want) {
			t.Errorf("%q: %v %v, want %v", tc.patterns, names(got), err, tc.want)
		}
	}
}
