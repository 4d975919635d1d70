package esx

// A fleet through vCenter: one logged-in vCenter session serves every host.
// govmomi's vim25.Client is safe for concurrent use (one http.Client, one
// cookie jar), and the session's recovery (recover.go) is shared: a call of
// any host that finds the session ended logs in again once for all of them
// (recovery.gen), and a refused login stops every host's calls.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/esxi-users/esxi-users/internal/vfault"
)

// VCenter is a logged-in vCenter session whose managed hosts are reached
// as ViHosts, concurrently. Close logs it out.
type VCenter struct {
	s *Session
}

// DialVCenter logs in to the vCenter cfg names (cfg.Username is required,
// or cfg.Login) and checks that it is one.
func DialVCenter(ctx context.Context, cfg Config) (*VCenter, error) {
	if strings.TrimSpace(cfg.Username) == "" && cfg.Login == nil {
		return nil, errors.New("--vihost needs the vCenter user name (e.g. administrator@vsphere.local)")
	}
	s, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if about := s.Client.ServiceContent.About; about.ApiType != "VirtualCenter" {
		s.Close()
		return nil, fmt.Errorf("%s is not a vCenter (API type %q): --vihost needs a vCenter; give ESXi hosts with --server instead", s.Server, about.ApiType)
	}
	return &VCenter{s: s}, nil
}

// Close logs the session out.
func (v *VCenter) Close() error { return v.s.Close() }

// User is the session's user name.
func (v *VCenter) User() string { return v.s.User }

// ManagedHost is a host of the vCenter's inventory, as Hosts lists it.
type ManagedHost struct {
	// Name is HostSystem.name.
	Name string
	// Path is the inventory path, as govc prints it:
	// /DC0/host/Cluster1/esx01 ("" if an ancestor could not be read).
	Path string
	// Addresses are the IP addresses of its VMkernel interfaces.
	Addresses []string
	hs        mo.HostSystem
}

// managedEntity is what Hosts reads of every entity above the hosts.
type managedEntity struct {
	name   string
	parent *types.ManagedObjectReference
}

// Hosts lists the vCenter's hosts with their inventory paths and
// management addresses, in one property read: a container view of the
// inventory's folders, datacenters, compute resources and hosts, with the
// name and parent of each, and the hosts' configManager, connection state
// and VMkernel interfaces (three requests: create the view, read it,
// destroy it).
func (v *VCenter) Hosts(ctx context.Context) ([]ManagedHost, error) {
	c := v.s.Client
	var content []types.ObjectContent
	err := v.s.read(ctx, "ContainerView", func(ctx context.Context) error {
		cv, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder,
			[]string{"Folder", "Datacenter", "ComputeResource", "ClusterComputeResource", "HostSystem"}, true)
		if err != nil {
			return err
		}
		defer cv.Destroy(ctx)
		res, err := property.DefaultCollector(c).RetrieveProperties(ctx, types.RetrieveProperties{SpecSet: []types.PropertyFilterSpec{{
			ObjectSet: []types.ObjectSpec{{
				Obj:       cv.Reference(),
				Skip:      types.NewBool(true),
				SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{Type: "ContainerView", Path: "view"}},
			}},
			PropSet: []types.PropertySpec{
				{Type: "ManagedEntity", PathSet: []string{"name", "parent"}},
				{Type: "HostSystem", PathSet: []string{"configManager", "runtime.connectionState", "config.network.vnic", "config.lockdownMode"}},
			},
		}}})
		if err != nil {
			return err
		}
		content = res.Returnval
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the hosts of %s: %w", v.s.Server, vfault.Describe(err))
	}
	entities := map[types.ManagedObjectReference]managedEntity{}
	var hosts []ManagedHost
	for _, oc := range content {
		var e managedEntity
		for _, p := range oc.PropSet {
			switch p.Name {
			case "name":
				e.name, _ = p.Val.(string)
			case "parent":
				if ref, ok := p.Val.(types.ManagedObjectReference); ok {
					e.parent = &ref
				}
			}
		}
		entities[oc.Obj] = e
		if oc.Obj.Type != "HostSystem" {
			continue
		}
		var hs mo.HostSystem
		if err := mo.LoadObjectContent([]types.ObjectContent{oc}, &hs); err != nil {
			return nil, fmt.Errorf("read host %s of %s: %w", e.name, v.s.Server, vfault.Describe(err))
		}
		hosts = append(hosts, ManagedHost{Name: hs.Name, Addresses: vnicAddresses(hs), hs: hs})
	}
	for i := range hosts {
		hosts[i].Path = inventoryPath(entities, c.ServiceContent.RootFolder, hosts[i].hs.Self)
	}
	return hosts, nil
}

// inventoryPath is ref's path below the root folder: "/" before the name
// of each ancestor under root, then its own name ("" if an ancestor is
// missing from entities: one the session cannot see).
func inventoryPath(entities map[types.ManagedObjectReference]managedEntity, root, ref types.ManagedObjectReference) string {
	var names []string
	for ref != root {
		e, ok := entities[ref]
		if !ok || e.parent == nil || len(names) > 64 {
			return ""
		}
		names = append(names, e.name)
		ref = *e.parent
	}
	var b strings.Builder
	for i := len(names) - 1; i >= 0; i-- {
		b.WriteString("/" + names[i])
	}
	return b.String()
}

// vnicAddresses are the IP addresses of a host's VMkernel interfaces.
func vnicAddresses(hs mo.HostSystem) []string {
	var out []string
	if hs.Config == nil || hs.Config.Network == nil {
		return nil
	}
	for _, vnic := range hs.Config.Network.Vnic {
		ipc := vnic.Spec.Ip
		if ipc == nil {
			continue
		}
		if ip := net.ParseIP(ipc.IpAddress); ip != nil {
			out = append(out, ip.String())
		}
		if ipc.IpV6Config != nil {
			for _, a := range ipc.IpV6Config.IpV6Address {
				if ip := net.ParseIP(a.IpAddress); ip != nil {
					out = append(out, ip.String())
				}
			}
		}
	}
	return out
}

// ViHost is the managed host h, through this session: an error if its local
// users cannot be managed (it is not connected to vCenter, or vCenter does
// not expose its managers). No request is made.
func (v *VCenter) ViHost(h ManagedHost) (*ViHost, error) {
	return newViHost(v.s, h.hs)
}

// CheckPrivileges asks vCenter, in one request for all hosts, which of the
// privileges a run may need on a host (Host.Local.ManageUserGroups,
// Global.Settings) the session holds on each; their MissingPrivileges then
// answers from it instead of asking once per host.
func (v *VCenter) CheckPrivileges(ctx context.Context, hosts []*ViHost) error {
	if len(hosts) == 0 {
		return nil
	}
	refs := make([]types.ManagedObjectReference, len(hosts))
	for i, h := range hosts {
		refs[i] = h.ref
	}
	granted, err := v.s.privileges(ctx, refs, viHostPrivileges)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if g, ok := granted[h.ref]; ok {
			h.granted = g
		}
	}
	return nil
}
