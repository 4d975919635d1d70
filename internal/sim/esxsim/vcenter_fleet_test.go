package esxsim

// Tests of what fleet tests need from the simulated vCenter: many hosts, spread over standalone hosts and clusters with inventory
// paths govc and find.Finder agree on, a per-host password policy, and a
// write fault on one host only.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/passwdqc"
)

func TestVCLayout(t *testing.T) {
	for _, tc := range []struct {
		hosts, clusters int
		standalone      int
		inClusters      []int
		err             string
	}{
		{hosts: 1, standalone: 1},
		{hosts: 2, standalone: 1, inClusters: []int{1}},
		{hosts: 3, standalone: 2, inClusters: []int{1}},
		{hosts: 200, standalone: 100, inClusters: []int{100}},
		{hosts: 200, clusters: 3, standalone: 100, inClusters: []int{34, 33, 33}},
		{hosts: 7, clusters: 3, standalone: 4, inClusters: []int{1, 1, 1}},
		{hosts: 7, clusters: 4, err: "4 clusters for 7 hosts"},
		{hosts: 1, clusters: 1, err: "1 clusters for 1 hosts"},
		{hosts: 4, clusters: -1, err: "-1 clusters"},
	} {
		l, err := newVCLayout(tc.hosts, tc.clusters)
		name := fmt.Sprintf("%d hosts, %d clusters", tc.hosts, tc.clusters)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", name, err, tc.err)
			}
			continue
		}
		if err != nil || l.standalone != tc.standalone || !reflect.DeepEqual(l.clusters, tc.inClusters) {
			t.Errorf("%s: %+v %v, want %d standalone, clusters %v", name, l, err, tc.standalone, tc.inClusters)
		}
	}
}

// hostShape is what a host looks like in the inventory, by names only
// (moids differ between two models).
type hostShape struct {
	Path, ParentType, State string
	Networks, Datastores    []string
}

// modelShapes reads every host of a model through the API.
func modelShapes(t *testing.T, c *vim25.Client) map[string]hostShape {
	t.Helper()
	ctx := testContext(t)
	finder := find.NewFinder(c, false)
	hosts, err := finder.HostSystemList(ctx, "/DC0/host/*/*")
	if err != nil {
		t.Fatal(err)
	}
	pc := property.DefaultCollector(c)
	names := func(refs []types.ManagedObjectReference) []string {
		var out []string
		for _, r := range refs {
			var e mo.ManagedEntity
			if err := pc.RetrieveOne(ctx, r, []string{"name"}, &e); err != nil {
				t.Fatal(err)
			}
			out = append(out, e.Name)
		}
		sort.Strings(out)
		return out
	}
	shapes := map[string]hostShape{}
	for _, h := range hosts {
		var hs mo.HostSystem
		if err := pc.RetrieveOne(ctx, h.Reference(), []string{"name", "parent", "network", "datastore", "runtime.connectionState"}, &hs); err != nil {
			t.Fatal(err)
		}
		shapes[hs.Name] = hostShape{
			Path: h.InventoryPath, ParentType: hs.Parent.Type, State: string(hs.Runtime.ConnectionState),
			Networks: names(hs.Network), Datastores: names(hs.Datastore),
		}
	}
	return shapes
}

// TestVCenterModelGrowth: the hosts buildVCenterModel adds itself are the
// hosts vcsim's own model builds (same names, inventory paths, parents,
// networks — the distributed switch's port groups included — datastores
// and connection state), the cluster and switch see them all, and with
// VMs (GuestAuth) the same VMs exist.
func TestVCenterModelGrowth(t *testing.T) {
	l, err := newVCLayout(8, 2)
	if err != nil {
		t.Fatal(err)
	}
	build := func(machines, seedAll bool) (map[string]hostShape, []int32, int, []string) {
		vcsimMu.Lock()
		model, err := buildVCenterModel(context.Background(), l, machines, seedAll)
		vcsimMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			vcsimMu.Lock()
			model.Remove()
			vcsimMu.Unlock()
		}()
		c, err := vim25.NewClient(testContext(t), model.Service)
		if err != nil {
			t.Fatal(err)
		}
		ctx := testContext(t)
		var clusters []mo.ClusterComputeResource
		cv, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := cv.Retrieve(ctx, []string{"ClusterComputeResource"}, []string{"name", "summary"}, &clusters); err != nil {
			t.Fatal(err)
		}
		sort.Slice(clusters, func(i, j int) bool { return clusters[i].Name < clusters[j].Name })
		var perCluster []int32
		for _, cl := range clusters {
			perCluster = append(perCluster, cl.Summary.GetComputeResourceSummary().NumHosts)
		}
		var switches []mo.DistributedVirtualSwitch
		if err := cv.Retrieve(ctx, []string{"DistributedVirtualSwitch"}, []string{"summary"}, &switches); err != nil {
			t.Fatal(err)
		}
		if len(switches) != 1 {
			t.Fatalf("%d switches", len(switches))
		}
		var vms []mo.VirtualMachine
		if err := cv.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name"}, &vms); err != nil {
			t.Fatal(err)
		}
		var vmNames []string
		for _, vm := range vms {
			vmNames = append(vmNames, vm.Name)
		}
		sort.Strings(vmNames)
		return modelShapes(t, c), perCluster, len(switches[0].Summary.HostMember), vmNames
	}
	var shapes map[string]hostShape
	for _, machines := range []bool{false, true} {
		want, wantClusters, wantMembers, wantVMs := build(machines, true)
		got, gotClusters, gotMembers, gotVMs := build(machines, false)
		if len(want) != 8 {
			t.Fatalf("vcsim's model has %d hosts: %v", len(want), want)
		}
		if !reflect.DeepEqual(got, want) {
			for name, w := range want {
				if g := got[name]; !reflect.DeepEqual(g, w) {
					t.Errorf("machines %v: %s: %+v, vcsim builds %+v", machines, name, g, w)
				}
			}
			t.Errorf("machines %v: hosts %d, vcsim %d", machines, len(got), len(want))
		}
		if !reflect.DeepEqual(gotClusters, wantClusters) || gotMembers != wantMembers || gotMembers != 8 {
			t.Errorf("machines %v: hosts per cluster %v, switch members %d; vcsim %v, %d", machines, gotClusters, gotMembers, wantClusters, wantMembers)
		}
		if !reflect.DeepEqual(gotVMs, wantVMs) || machines != (len(gotVMs) > 0) {
			t.Errorf("machines %v: VMs %v, vcsim %v", machines, gotVMs, wantVMs)
		}
		shapes = want
	}
	want := shapes
	if s := want["DC0_H1"]; s.Path != "/DC0/host/DC0_H1/DC0_H1" || s.ParentType != "ComputeResource" || len(s.Datastores) != 1 || len(s.Networks) < 2 {
		t.Errorf("standalone host DC0_H1: %+v", s)
	}
	if s := want["DC0_C1_H1"]; s.Path != "/DC0/host/DC0_C1/DC0_C1_H1" || s.ParentType != "ClusterComputeResource" {
		t.Errorf("cluster host DC0_C1_H1: %+v", s)
	}
}

// TestVCenterHostPaths: the hosts are spread over standalone hosts and
// clusters; HostPath is the path find.Finder resolves to that host through
// vCenter, and host patterns in paths select what they should; names
// given by HostNames rename a standalone host's ComputeResource too.
func TestVCenterHostPaths(t *testing.T) {
	v := startVC(t, VCenterOptions{Hosts: 7, Clusters: 2})
	wantNames := []string{"DC0_C0_H0", "DC0_C0_H1", "DC0_C1_H0", "DC0_H0", "DC0_H1", "DC0_H2", "DC0_H3"}
	if !reflect.DeepEqual(v.Hosts, wantNames) {
		t.Fatalf("Hosts = %v", v.Hosts)
	}
	c := vcAdmin(t, v)
	ctx := testContext(t)
	finder := find.NewFinder(c, false)
	for _, name := range v.Hosts {
		path, ok := v.HostPath(name)
		if !ok {
			t.Fatalf("no path for %s", name)
		}
		want := "/DC0/host/" + name + "/" + name
		if cluster, _, ok := strings.Cut(strings.TrimPrefix(name, "DC0_"), "_"); ok {
			want = "/DC0/host/DC0_" + cluster + "/" + name
		}
		if path != want {
			t.Errorf("HostPath(%s) = %q, want %q", name, path, want)
		}
		h, err := finder.HostSystem(ctx, path)
		if err != nil {
			t.Fatalf("find %s: %v", path, err)
		}
		if ref, _ := v.HostRef(name); h.Reference() != ref {
			t.Errorf("%s resolves to %v, want %v", path, h.Reference(), ref)
		}
	}
	if _, ok := v.HostPath("nope"); ok {
		t.Errorf("HostPath of an unknown host")
	}
	inC1, err := finder.HostSystemList(ctx, "/DC0/host/DC0_C1/*")
	if err != nil || len(inC1) != 1 || inC1[0].InventoryPath != "/DC0/host/DC0_C1/DC0_C1_H0" {
		t.Errorf("cluster DC0_C1: %v %v", inC1, err)
	}

	fq := startVC(t, VCenterOptions{HostNames: []string{"esx01.c.example", "esx02.a.example"}})
	for name, want := range map[string]string{"esx01.c.example": "/DC0/host/DC0_C0/esx01.c.example", "esx02.a.example": "/DC0/host/esx02.a.example/esx02.a.example"} {
		if got, _ := fq.HostPath(name); got != want {
			t.Errorf("HostPath(%s) = %q, want %q", name, got, want)
		}
		if _, err := find.NewFinder(vcAdmin(t, fq), false).HostSystem(ctx, want); err != nil {
			t.Errorf("find %s: %v", want, err)
		}
	}
}

// TestVCenterHostPasswordPolicies: one host gets its own
// Security.PasswordQualityControl (read back through its advanced options
// through vCenter) and enforces it; the others keep the common policy.
func TestVCenterHostPasswordPolicies(t *testing.T) {
	const strict = "retry=3 min=disabled,disabled,disabled,disabled,20"
	v := startVC(t, VCenterOptions{Common: Common{WeakPasswordFault: WeakPasswordReason}, Hosts: 3, HostPasswordPolicies: map[string]string{"DC0_H1": strict}})
	c := vcAdmin(t, v)
	ctx := testContext(t)
	for _, name := range v.Hosts {
		h := vcHostSystem(t, c, name)
		vals, err := object.NewOptionManager(c, *h.ConfigManager.AdvancedOption).Query(ctx, optPasswordQualityControl)
		if err != nil || len(vals) != 1 {
			t.Fatalf("%s: %v %v", name, vals, err)
		}
		want := passwdqc.ESXiDefault
		if name == "DC0_H1" {
			want = strict
		}
		if got := vals[0].GetOptionValue().Value; got != want {
			t.Errorf("%s: policy %q, want %q", name, got, want)
		}
		err = object.NewHostAccountManager(c, *h.ConfigManager.AccountManager).Create(ctx, &types.HostAccountSpec{Id: "dave", Password: "Vc-Sim.Pass4ward"})
		if name == "DC0_H1" {
			checkWeak(t, err, "too short", "Vc-Sim.Pass4ward")
		} else if err != nil {
			t.Errorf("%s: CreateUser: %v", name, err)
		}
	}

	for _, tc := range []struct {
		policies map[string]string
		want     string
	}{
		{map[string]string{"DC0_H9": strict}, `HostPasswordPolicies: no host "DC0_H9" (hosts: DC0_C0_H0, DC0_H0)`},
		{map[string]string{"DC0_H0": "min=bogus"}, `HostPasswordPolicies: host "DC0_H0": policy "min=bogus"`},
	} {
		_, err := StartVCenter(VCenterOptions{HostPasswordPolicies: tc.policies})
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != "HostPasswordPolicies" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.policies, err, tc.want)
		}
	}
}

// TestVCenterFailHost: with FailHost, the FailWrite-th write to that host
// fails and changes nothing; writes to other hosts neither count for it nor
// fail; SetFailHostWrite arms it again.
func TestVCenterFailHost(t *testing.T) {
	v := startVC(t, VCenterOptions{Common: Common{FailWrite: 2}, Hosts: 3, FailHost: "DC0_H1"})
	c := vcAdmin(t, v)
	ctx := testContext(t)
	accounts := func(name string) *object.HostAccountManager {
		return object.NewHostAccountManager(c, *vcHostSystem(t, c, name).ConfigManager.AccountManager)
	}
	h0, h1, c0 := accounts("DC0_H0"), accounts("DC0_H1"), accounts("DC0_C0_H0")
	create := func(am *object.HostAccountManager, id string) error {
		return am.Create(ctx, &types.HostAccountSpec{Id: id, Password: "Vc-Sim.Pass4ward"})
	}
	for _, id := range []string{"u1", "u2", "u3"} {
		if err := create(h0, id); err != nil {
			t.Fatalf("DC0_H0 %s: %v", id, err)
		}
		if err := create(c0, id); err != nil {
			t.Fatalf("DC0_C0_H0 %s: %v", id, err)
		}
	}
	if err := create(h1, "u1"); err != nil {
		t.Fatalf("DC0_H1 write 1: %v", err)
	}
	err := create(h1, "u2")
	if !isFault[*types.SystemError](err) || !strings.Contains(err.Error(), "injected fault") {
		t.Errorf("DC0_H1 write 2: %v, want the injected SystemError", err)
	}
	if err := create(h1, "u3"); err != nil {
		t.Errorf("DC0_H1 write 3: %v", err)
	}
	got := cliAccounts(t, executor(t, c, vcHostSystem(t, c, "DC0_H1")))
	_, has1 := got["u1"]
	_, has2 := got["u2"]
	_, has3 := got["u3"]
	if !has1 || has2 || !has3 {
		t.Errorf("DC0_H1 accounts after the failed write: %v", got)
	}
	for name, want := range map[string]int{"DC0_H0": 3, "DC0_H1": 3, "DC0_C0_H0": 3, "nope": -1} {
		if n := v.HostWrites(name); n != want {
			t.Errorf("HostWrites(%s) = %d, want %d", name, n, want)
		}
	}
	if v.Writes() != 9 {
		t.Errorf("Writes = %d, want 9", v.Writes())
	}

	// Armed again, through esxcli on the cluster host this time.
	if err := v.SetFailHostWrite("DC0_C0_H0", v.HostWrites("DC0_C0_H0")+1, &types.NotSupported{}); err != nil {
		t.Fatal(err)
	}
	if err := create(h0, "u4"); err != nil {
		t.Errorf("DC0_H0 after arming DC0_C0_H0: %v", err)
	}
	e := executor(t, c, vcHostSystem(t, c, "DC0_C0_H0"))
	if _, err := runCLI(t, e, "system", "account", "remove", "--id=u1"); cliErrMsg(err) == "" {
		t.Errorf("esxcli on DC0_C0_H0: %v, want the injected fault", err)
	}
	if _, ok := cliAccounts(t, e)["u1"]; !ok {
		t.Errorf("failed esxcli remove removed u1")
	}
	if err := v.SetFailHostWrite("nope", 1, nil); err == nil || !strings.Contains(err.Error(), `no host "nope"`) {
		t.Errorf("SetFailHostWrite(nope): %v", err)
	}

	for _, tc := range []struct {
		opt  VCenterOptions
		want string
	}{
		{VCenterOptions{Common: Common{FailWrite: 1}, FailHost: "DC0_H7"}, `FailHost: no host "DC0_H7"`},
		{VCenterOptions{FailHost: "DC0_H0"}, `FailHost: host "DC0_H0" without a write to fail`},
		{VCenterOptions{Hosts: 3, Clusters: 2}, "Clusters: 2 clusters for 3 hosts"},
	} {
		_, err := StartVCenter(tc.opt)
		var oe *OptionError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opt, err, tc.want)
		}
	}
}

// TestVCenter200Hosts: 200 hosts through one vCenter, each its own state:
// every host is in the inventory with a distinct address and reachable
// through its own account manager. It logs the start time and the heap the
// vCenter holds (figures, not assertions: BenchmarkStartVCenter measures).
func TestVCenter200Hosts(t *testing.T) {
	if testing.Short() {
		t.Skip("200 hosts: skipped with -short")
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	v := startVC(t, VCenterOptions{Hosts: 200, Clusters: 4})
	took := time.Since(start)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("200 hosts: started in %v, heap %.1f MB, process RSS %s", took.Round(time.Millisecond), float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), rss())

	c := vcAdmin(t, v)
	ctx := testContext(t)
	cv, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"HostSystem"}, true)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []mo.HostSystem
	if err := cv.Retrieve(ctx, []string{"HostSystem"}, []string{"name", "configManager", "config.network.vnic"}, &hosts); err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 200 || len(v.Hosts) != 200 {
		t.Fatalf("%d hosts in the inventory, Hosts %d", len(hosts), len(v.Hosts))
	}
	ips := map[string]bool{}
	paths := map[string]bool{}
	for _, h := range hosts {
		ip := h.Config.Network.Vnic[0].Spec.Ip.IpAddress
		path, _ := v.HostPath(h.Name)
		if ips[ip] || paths[path] || h.ConfigManager.AccountManager == nil {
			t.Errorf("%s: address %s, path %s (duplicate) or no account manager", h.Name, ip, path)
		}
		ips[ip], paths[path] = true, true
	}
	for _, name := range []string{"DC0_H99", "DC0_C3_H24"} {
		h := vcHostSystem(t, c, name)
		if err := object.NewHostAccountManager(c, *h.ConfigManager.AccountManager).Create(ctx, &types.HostAccountSpec{Id: "fleet", Password: "Vc-Sim.Pass4ward"}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if v.HostWrites("DC0_H99") != 1 || v.HostWrites("DC0_H98") != 0 {
		t.Errorf("writes: DC0_H99 %d, DC0_H98 %d", v.HostWrites("DC0_H99"), v.HostWrites("DC0_H98"))
	}
}

// rss returns the process's resident set size (Linux), for logs.
func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return fmt.Sprintf("%.1f MB", float64(kb)/1024)
		}
	}
	return "unknown"
}
