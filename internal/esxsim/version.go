package esxsim

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// ESXi releases the simulator can present itself as.
const (
	ESXi803 = "8.0.3" // the default
	ESXi703 = "7.0.3"
)

// release is what ServiceContent.about says about a host.
type release struct {
	version, build, apiVersion string
}

// releases: the build numbers are real ones.
//
//   - 8.0.3: ESXi 8.0 Update 3e, "ESXi 8.0 Update 3e has a version string of
//     8.0.3-0.70.24674464" (Broadcom KB 395110, "Unified VCF Versioning in
//     ESXi Release"; KB 316595 "Build numbers and versions of VMware ESXi");
//   - 7.0.3: ESXi 7.0 Update 3, build 18644231 ("the newest build 7.0.3
//     18644231", VMware Communities; KB 316595).
//
// apiVersion is the release's vSphere API version ("8.0.3.0", "7.0.3.0"),
// fullName ESXi's "VMware ESXi <version> build-<build>" form (the ESX
// model's own "VMware ESXi 6.5.0 build-5969303").
var releases = map[string]release{
	ESXi803: {version: "8.0.3", build: "24674464", apiVersion: "8.0.3.0"},
	ESXi703: {version: "7.0.3", build: "18644231", apiVersion: "7.0.3.0"},
}

// esxiRelease returns the release for Options.ESXiVersion ("" = 8.0.3).
func esxiRelease(v string) (release, error) {
	if v == "" {
		v = ESXi803
	}
	r, ok := releases[v]
	if !ok {
		return release{}, fmt.Errorf("esxsim: ESXi version %q: use %s or %s", v, ESXi803, ESXi703)
	}
	return r, nil
}

// about applies the release to an AboutInfo of an ESXi host.
func (r release) about(a *types.AboutInfo) {
	a.Name = "VMware ESXi"
	a.FullName = fmt.Sprintf("VMware ESXi %s build-%s", r.version, r.build)
	a.Version = r.version
	a.Build = r.build
	a.ApiVersion = r.apiVersion
	a.ProductLineId = "embeddedEsx"
	a.ApiType = "HostAgent"
	a.LicenseProductVersion = r.version[:1] + ".0"
}

// installRelease sets the host's ServiceContent.about and its HostSystem's
// product information.
func installRelease(m *simulator.Registry, r release) error {
	si, ok := m.Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	if !ok {
		return fmt.Errorf("esxsim: no ServiceInstance in model")
	}
	r.about(&si.Content.About)
	for _, e := range m.All("HostSystem") {
		hostRelease(e, r)
	}
	return nil
}

// hostRelease sets a HostSystem's product information.
func hostRelease(e any, r release) {
	hs, ok := e.(*simulator.HostSystem)
	if !ok {
		return
	}
	if hs.Config != nil {
		p := hs.Config.Product
		r.about(&p)
		hs.Config.Product = p
	}
	if hs.Summary.Config.Product != nil {
		p := *hs.Summary.Config.Product
		r.about(&p)
		hs.Summary.Config.Product = &p
	}
}
