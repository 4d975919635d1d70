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

// release is what ServiceContent.about says about a host, and the older
// API versions its /sdk/vimServiceVersions.xml lists (apiversion.go).
type release struct {
	version, build, apiVersion string
	prior                      []string
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
//
// prior is every vim25 API version the release includes, newest first, down
// to 4.0: VMware's version graph gives what each API version includes
// (AddVersionParent in pyVmomi's generated _typeinfo_vim.py, vimversions.txt
// "V" lines), and a published capture of a real vCenter 8.0.3's
// vimServiceVersions.xml lists exactly 8.0.2.0 ... 4.0 for 8.0.3.0, one of a
// vCenter 7.0.3 exactly 7.0.2.1 ... 4.0 for 7.0.3.0 (both third-party test
// fixtures recorded from real servers). No capture of an ESXi 8.0.3 host's
// file was found: the host lists the same versions. ESXi 6.0 hosts also
// listed 2.5u2server, 2.5u2, 2.5 and the urn:vim2 namespace (a capture of
// ESXi 6.0); whether 8.0.3 still does is not documented, and they are left
// out (the reading least forgiving to a client: no client of this project
// speaks API 2.5). TestPriorVersionsMatchVersionGraph checks the lists
// against the graph.
var releases = map[string]release{
	ESXi803: {version: "8.0.3", build: "24674464", apiVersion: "8.0.3.0", prior: prior803},
	ESXi703: {version: "7.0.3", build: "18644231", apiVersion: "7.0.3.0", prior: prior703},
}

var (
	prior703 = []string{"7.0.2.1", "7.0.2.0", "7.0.1.1", "7.0.1.0", "7.0.0.2", "7.0.0.0",
		"6.9.1", "6.8.7", "6.7.3", "6.7.2", "6.7.1", "6.7", "6.5", "6.0", "5.5", "5.1", "5.0", "4.1", "4.0"}
	prior803 = append([]string{"8.0.2.0", "8.0.1.0", "8.0.0.2", "8.0.0.1", "8.0.0.0",
		"7.0.3.2", "7.0.3.1", "7.0.3.0"}, prior703...)
)

// vcenter803 is the simulated vCenter's own release: vCenter Server 8.0
// Update 3, build 24022515 ("VMware vCenter Server 8.0.3 build-24022515",
// the GA build of 8.0 U3; Broadcom KB 326316 "Build numbers and versions of
// VMware vCenter Server"), API 8.0.3.0, listing the same prior versions as
// ESXi 8.0.3.
var vcenter803 = release{version: "8.0.3", build: "24022515", apiVersion: "8.0.3.0", prior: prior803}

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
	r.fill(a, "VMware ESXi", "embeddedEsx", "HostAgent")
}

// aboutVCenter applies the release to the AboutInfo of a vCenter.
func (r release) aboutVCenter(a *types.AboutInfo) {
	r.fill(a, "VMware vCenter Server", "vpx", "VirtualCenter")
}

// fill sets a's product fields for the release of product name.
func (r release) fill(a *types.AboutInfo, name, productLine, apiType string) {
	a.Name = name
	a.FullName = fmt.Sprintf("%s %s build-%s", name, r.version, r.build)
	a.Version = r.version
	a.Build = r.build
	a.ApiVersion = r.apiVersion
	a.ProductLineId = productLine
	a.ApiType = apiType
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
