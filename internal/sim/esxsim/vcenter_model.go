package esxsim

// The inventory of a simulated vCenter: vcsim's VPX model (one datacenter
// DC0, one distributed switch with a port group, a local datastore on every
// host), with the managed hosts spread between standalone hosts and
// clusters so that inventory paths mean something to host patterns:
//
//	/DC0/host/DC0_H0/DC0_H0          a standalone host (its own ComputeResource)
//	/DC0/host/DC0_C0/DC0_C0_H0       a host in cluster DC0_C0
//
// A standalone host sits in a ComputeResource of its own name, a cluster
// host directly in its ClusterComputeResource; both under the datacenter's
// host folder (vSphere Web Services API, "Managed Object Types":
// ComputeResource "represents a set of physical compute resources for a set
// of virtual machines ... a standalone host", ClusterComputeResource;
// govc's inventory paths such as /DC0/host/DC0_C0/DC0_C0_H0 in govmomi's
// govc/USAGE.md).
//
// vcsim builds its model one host at a time and waits for each host's
// AddStandaloneHost_Task/AddHost_Task and switch Reconfigure task through a
// PropertyCollector whose WaitForUpdatesEx polls every 20 ms: about 40 ms a
// host, 8 s for 200 hosts. buildVCenterModel lets vcsim build the first
// host of each kind (and every standalone host when VMs are wanted, which
// vcsim puts one per standalone host) and adds the others with the same
// API calls vcsim's model makes (AddStandaloneHost_Task, AddHost_Task,
// ReconfigureDvs_Task, CreateLocalDatastore), issued back to back and
// waited for together. TestVCenterModelGrowth checks that both ways give
// the same inventory.

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// vcLayout is how the managed hosts are spread over the inventory.
type vcLayout struct {
	// standalone hosts DC0_H0, DC0_H1, ...
	standalone int
	// clusters[i] is the number of hosts of cluster DC0_C<i>:
	// DC0_C<i>_H0, DC0_C<i>_H1, ...
	clusters []int
}

// newVCLayout spreads hosts: half of them (rounded up) standalone, the
// others over clusters clusters (default 1), as evenly as possible, the
// first clusters taking the remainder.
func newVCLayout(hosts, clusters int) (vcLayout, error) {
	l := vcLayout{standalone: (hosts + 1) / 2}
	inClusters := hosts / 2
	if clusters < 0 {
		return l, fmt.Errorf("%d clusters", clusters)
	}
	if clusters == 0 && inClusters > 0 {
		clusters = 1
	}
	if clusters > inClusters {
		return l, fmt.Errorf("%d clusters for %d hosts: half of the hosts (%d) are in clusters, at least one in each", clusters, hosts, inClusters)
	}
	for i := 0; i < clusters; i++ {
		n := inClusters / clusters
		if i < inClusters%clusters {
			n++
		}
		l.clusters = append(l.clusters, n)
	}
	return l, nil
}

// buildVCenterModel creates vcsim's VPX model with the hosts of l and, when
// machines, one powered-on VM per standalone host and per cluster resource
// pool. seedAll makes vcsim build every host itself (the slow reference
// way, for tests). The caller holds vcsimMu. Once ctx is done no host is
// added (vcsim's own first hosts excepted): its error is ctx's.
func buildVCenterModel(ctx context.Context, l vcLayout, machines, seedAll bool) (*simulator.Model, error) {
	model := simulator.VPX()
	model.Machine = 0
	if machines {
		model.Machine = 1
	}
	// vcsim's model: standalone hosts first, then Cluster clusters of
	// ClusterHost hosts each.
	model.Host = min(l.standalone, 1)
	if machines || seedAll {
		model.Host = l.standalone
	}
	model.Cluster = len(l.clusters)
	model.ClusterHost = 0
	if len(l.clusters) > 0 {
		model.ClusterHost = 1
	}
	if seedAll {
		for _, n := range l.clusters {
			if n != l.clusters[0] {
				return nil, fmt.Errorf("esxsim: vcsim's model needs as many hosts in every cluster: %v", l.clusters)
			}
		}
		if len(l.clusters) > 0 {
			model.ClusterHost = l.clusters[0]
		}
	}
	if err := model.Create(); err != nil {
		return nil, fmt.Errorf("esxsim: model: %w", err)
	}
	if err := growModel(ctx, model, l, model.Host, model.ClusterHost); err != nil {
		model.Remove()
		return nil, err
	}
	return model, nil
}

// growModel adds the hosts of l that vcsim did not create (standalone hosts
// from fromStandalone, cluster hosts from fromCluster in every cluster), as
// vcsim's Model.CreateInfrastructure adds a host: AddStandaloneHost_Task or
// AddHost_Task (asConnected), membership of the datacenter's distributed
// switch, and the datacenter's local datastores mounted.
func growModel(ctx context.Context, model *simulator.Model, l vcLayout, fromStandalone, fromCluster int) error {
	c, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		return fmt.Errorf("esxsim: model client: %w", err)
	}
	m := model.Map()
	dcs := m.All("Datacenter")
	if len(dcs) != 1 {
		return fmt.Errorf("esxsim: model has %d datacenters", len(dcs))
	}
	dc := object.NewDatacenter(c, dcs[0].Reference())
	folders, err := dc.Folders(ctx)
	if err != nil {
		return fmt.Errorf("esxsim: datacenter folders: %w", err)
	}
	// One group of additions per parent: a task holds its folder's or
	// cluster's lock while it runs, so the groups run side by side and the
	// additions of a group one after the other.
	var groups [][]addition
	var standalone []addition
	for i := fromStandalone; i < l.standalone; i++ {
		spec := types.HostConnectSpec{HostName: fmt.Sprintf("DC0_H%d", i)}
		standalone = append(standalone, func() (*object.Task, error) {
			return folders.HostFolder.AddStandaloneHost(ctx, spec, true, nil, nil)
		})
	}
	groups = append(groups, standalone)
	hostFolder, ok := m.Get(folders.HostFolder.Reference()).(*simulator.Folder)
	if !ok {
		return fmt.Errorf("esxsim: model has no host folder")
	}
	for ci, n := range l.clusters {
		name := fmt.Sprintf("DC0_C%d", ci)
		e := m.FindByName(name, hostFolder.ChildEntity)
		if e == nil {
			return fmt.Errorf("esxsim: model has no cluster %s", name)
		}
		cluster := object.NewClusterComputeResource(c, e.Reference())
		var clustered []addition
		for j := fromCluster; j < n; j++ {
			spec := types.HostConnectSpec{HostName: fmt.Sprintf("%s_H%d", name, j)}
			clustered = append(clustered, func() (*object.Task, error) {
				return cluster.AddHost(ctx, spec, true, nil, nil)
			})
		}
		groups = append(groups, clustered)
	}
	added := make([][]types.ManagedObjectReference, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for gi, group := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			added[gi], errs[gi] = addHosts(ctx, group)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var hosts []types.ManagedObjectReference
	for _, refs := range added {
		hosts = append(hosts, refs...)
	}
	if len(hosts) == 0 {
		return nil
	}

	// The datacenter's distributed switch, as vcsim joins every host to it.
	for _, ref := range m.Get(folders.NetworkFolder.Reference()).(*simulator.Folder).ChildEntity {
		if _, ok := m.Get(ref).(*simulator.DistributedVirtualSwitch); !ok {
			continue
		}
		spec := &types.DVSConfigSpec{}
		for _, h := range hosts {
			spec.Host = append(spec.Host, types.DistributedVirtualSwitchHostMemberConfigSpec{
				Operation: string(types.ConfigSpecOperationAdd),
				Host:      h,
			})
		}
		t, err := object.NewDistributedVirtualSwitch(c, ref).Reconfigure(ctx, spec)
		if err != nil {
			return fmt.Errorf("esxsim: join switch: %w", err)
		}
		if _, err := t.WaitForResult(ctx, nil); err != nil {
			return fmt.Errorf("esxsim: join switch: %w", err)
		}
	}

	// The local datastores vcsim mounts on every host of the datacenter.
	for _, e := range m.All("Datastore") {
		ds, ok := e.(*simulator.Datastore)
		if !ok {
			continue
		}
		info := ds.Info.GetDatastoreInfo()
		for _, h := range hosts {
			hs, ok := m.Get(h).(*simulator.HostSystem)
			if !ok || hs.ConfigManager.DatastoreSystem == nil {
				return fmt.Errorf("esxsim: host %s has no datastore system", h.Value)
			}
			dss := object.NewHostDatastoreSystem(c, *hs.ConfigManager.DatastoreSystem)
			if _, err := dss.CreateLocalDatastore(ctx, ds.Name, info.Url); err != nil {
				return fmt.Errorf("esxsim: datastore %s on %s: %w", ds.Name, hs.Name, err)
			}
		}
	}
	return nil
}

// addition starts adding a host to the model.
type addition func() (*object.Task, error)

// addHosts starts the additions one after the other (each waits for the
// lock its predecessor's task holds) and returns the hosts once all are
// done: a task found done by the first look costs no PropertyCollector
// wait.
func addHosts(ctx context.Context, adds []addition) ([]types.ManagedObjectReference, error) {
	tasks := make([]*object.Task, 0, len(adds))
	for _, add := range adds {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("esxsim: add host: %w", err)
		}
		t, err := add()
		if err != nil {
			return nil, fmt.Errorf("esxsim: add host: %w", err)
		}
		tasks = append(tasks, t)
	}
	hosts := make([]types.ManagedObjectReference, 0, len(adds))
	for _, t := range tasks {
		info, err := t.WaitForResult(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("esxsim: add host: %w", err)
		}
		ref, ok := info.Result.(types.ManagedObjectReference)
		if !ok {
			return nil, fmt.Errorf("esxsim: add host: result %T", info.Result)
		}
		hosts = append(hosts, ref)
	}
	return hosts, nil
}

// inventoryPath returns the inventory path of an entity, as govc prints it
// and find.Finder takes it: the names from the root folder (excluded) down,
// "/DC0/host/DC0_C0/DC0_C0_H0".
func inventoryPath(m *simulator.Registry, ref types.ManagedObjectReference) (string, error) {
	path := ""
	for i := 0; i < 64; i++ {
		e, ok := m.Get(ref).(mo.Entity)
		if !ok {
			return "", fmt.Errorf("esxsim: %s is not an entity", ref)
		}
		me := e.Entity()
		if me.Parent == nil {
			return path, nil // the root folder
		}
		path = "/" + me.Name + path
		ref = *me.Parent
	}
	return "", fmt.Errorf("esxsim: %s: inventory too deep", ref)
}
