package esxsim

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The version lists of vimServiceVersions.xml (version.go) are what
// VMware's version graph (vimversions.txt "V" lines, from pyVmomi's
// generated type information) says each release includes, down to 4.0,
// newest first; and the table is newest at newestVersion.
func TestPriorVersionsMatchVersionGraph(t *testing.T) {
	tbl, err := loadVimTable()
	if err != nil {
		t.Fatal(err)
	}
	num := func(v string) []int {
		var n []int
		for _, p := range strings.Split(v, ".") {
			i, err := strconv.Atoi(p)
			if err != nil {
				return nil
			}
			n = append(n, i)
		}
		return n
	}
	for _, r := range []release{releases[ESXi803], releases[ESXi703], vcenter803} {
		var want []string
		for v := range tbl.includes[r.apiVersion] {
			if n := num(v); n != nil && slices.Compare(n, []int{4}) >= 0 && v != r.apiVersion {
				want = append(want, v)
			}
		}
		slices.SortFunc(want, func(a, b string) int { return slices.Compare(num(b), num(a)) })
		if !slices.Equal(r.prior, want) {
			t.Errorf("%s %s: prior %v, the graph says %v", r.version, r.apiVersion, r.prior, want)
		}
	}
	for v := range tbl.includes {
		if newerVersion(v, newestVersion) {
			t.Errorf("the table knows %s, newer than newestVersion %s", v, newestVersion)
		}
	}
	if tbl.includes[newestVersion] == nil {
		t.Errorf("the table does not know newestVersion %s", newestVersion)
	}
}

func TestNegotiate(t *testing.T) {
	host := &apiService{current: "8.0.3.0", prior: prior803}
	old := &apiService{current: "7.0.3.0", prior: prior703}
	for _, tc := range []struct {
		a      *apiService
		action string
		want   string // "" = refused
	}{
		{host, `"urn:vim25/6.7.1"`, "6.7.1"}, // pyVmomi 6.7.1 quotes it
		{host, "urn:vim25/6.0", "6.0"},
		{host, "urn:vim25/8.0.3.0", "8.0.3.0"},
		{host, "urn:vim25/9.1.0.0", "8.0.3.0"}, // govmomi v0.56.0: answered in the server's
		{host, "urn:vim25/10", "8.0.3.0"},
		{old, "urn:vim25/8.0.3.0", "7.0.3.0"},
		{old, "urn:vim25/7.0.3.1", "7.0.3.0"},
		{host, "urn:vim25/6.6", ""}, // not a version of the API
		{host, "urn:vim25/2.5", ""}, // not listed (version.go)
		{host, "urn:vim25/", ""},
		{host, "urn:vim25", ""},
		{host, "", ""},
		{host, "urn:vim2/2.0", ""},
		{host, "urn:sms/8.0.3.0", ""},
		{host, "urn:vim25/8.0.3.0.x", ""},
	} {
		got, ok := tc.a.negotiate(tc.action)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("%s at %s: %q %v, want %q", tc.action, tc.a.current, got, ok, tc.want)
		}
	}
}

const (
	envHead = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`
	envTail = `</soapenv:Body></soapenv:Envelope>`
	// govmomi's encoder binds its own prefix for xsi:type on the element.
	anyVal = `xmlns:_XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" _XMLSchema-instance:type=`
)

// The answer is rewritten as VMware's serializer writes it for an older
// version: properties the version does not know are left out, data objects
// of a type it does not know become their nearest known base type (with
// their own properties left out), a fault's detail element follows its
// type; the rest is unchanged, byte for byte.
func TestFilter(t *testing.T) {
	tbl, err := loadVimTable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, version, in, want string
	}{{
		// ServiceContent: cryptoManager since 6.5, tenantManager since 6.9.1.
		"properties", "6.7.1",
		`<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><cryptoManager type="CryptoManagerKmip">CryptoManager</cryptoManager><tenantManager type="TenantTenantManager">TenantManager</tenantManager></returnval></RetrieveServiceContentResponse>`,
		`<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><cryptoManager type="CryptoManagerKmip">CryptoManager</cryptoManager></returnval></RetrieveServiceContentResponse>`,
	}, {
		"properties of an older version", "6.0",
		`<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><ioFilterManager type="IoFilterManager">IoFilterManager</ioFilterManager><cryptoManager type="CryptoManagerKmip">CryptoManager</cryptoManager></returnval></RetrieveServiceContentResponse>`,
		`<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><ioFilterManager type="IoFilterManager">IoFilterManager</ioFilterManager></returnval></RetrieveServiceContentResponse>`,
	}, {
		// AboutInfo.patchLevel since 7.0.2.0, in a value typed by xsi:type.
		"nested and in anyType", "7.0.1.0",
		`<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="ServiceInstance">ServiceInstance</obj><propSet><name>content.about</name><val ` + anyVal + `"AboutInfo"><name>VMware ESXi</name><patchLevel>0.70</patchLevel><apiVersion>8.0.3.0</apiVersion></val></propSet></objects></returnval></RetrievePropertiesExResponse>`,
		`<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="ServiceInstance">ServiceInstance</obj><propSet><name>content.about</name><val ` + anyVal + `"AboutInfo"><name>VMware ESXi</name><apiVersion>8.0.3.0</apiVersion></val></propSet></objects></returnval></RetrievePropertiesExResponse>`,
	}, {
		// VirtualWDT (7.0.0.0) is a VirtualDevice to 6.7.1; runOnBoot is its own.
		"type widened", "6.7.1",
		`<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-1</obj><propSet><name>config.hardware.device</name><val ` + anyVal + `"ArrayOfVirtualDevice"><VirtualDevice xsi:type="VirtualWDT"><key>100</key><runOnBoot>true</runOnBoot></VirtualDevice><VirtualDevice xsi:type="VirtualUSB"><key>7</key><connected>true</connected></VirtualDevice></val></propSet></objects></returnval></RetrievePropertiesExResponse>`,
		`<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-1</obj><propSet><name>config.hardware.device</name><val ` + anyVal + `"ArrayOfVirtualDevice"><VirtualDevice xsi:type="VirtualDevice"><key>100</key></VirtualDevice><VirtualDevice xsi:type="VirtualUSB"><key>7</key><connected>true</connected></VirtualDevice></val></propSet></objects></returnval></RetrievePropertiesExResponse>`,
	}, {
		// FeatureEVCMode (7.0.1.0) is an ElementDescription to 7.0.0.0.
		"array type widened", "7.0.0.0",
		`<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="ClusterComputeResource">c-1</obj><propSet><name>x</name><val ` + anyVal + `"ArrayOfFeatureEVCMode"><FeatureEVCMode><key>k</key><label>l</label><summary>s</summary><vendor>intel</vendor></FeatureEVCMode></val></propSet></objects></returnval></RetrievePropertiesExResponse>`,
		`<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="ClusterComputeResource">c-1</obj><propSet><name>x</name><val xmlns:_XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" _XMLSchema-instance:type="ArrayOfElementDescription"><ElementDescription><key>k</key><label>l</label><summary>s</summary></ElementDescription></val></propSet></objects></returnval></RetrievePropertiesExResponse>`,
	}, {
		// KeyNotFound (6.7.2) is a VimFault to 6.7.1, its detail element too.
		"fault widened", "6.7.1",
		`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>no key</faultstring><detail><KeyNotFoundFault xmlns="urn:vim25" xsi:type="KeyNotFound"><key>k1</key></KeyNotFoundFault></detail></soapenv:Fault>`,
		`<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>no key</faultstring><detail><VimFaultFault xmlns="urn:vim25" xsi:type="VimFault"></VimFaultFault></detail></soapenv:Fault>`,
	}, {
		"known to the version: unchanged", "6.7.1",
		`<RetrieveUserGroupsResponse xmlns="urn:vim25"><returnval xsi:type="PosixUserSearchResult"><principal>root</principal><fullName>Administrator</fullName><group>false</group><id>0</id><shellAccess>true</shellAccess></returnval></RetrieveUserGroupsResponse>`,
		`<RetrieveUserGroupsResponse xmlns="urn:vim25"><returnval xsi:type="PosixUserSearchResult"><principal>root</principal><fullName>Administrator</fullName><group>false</group><id>0</id><shellAccess>true</shellAccess></returnval></RetrieveUserGroupsResponse>`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tbl.filter([]byte(envHead+tc.in+envTail), tbl.includes[tc.version])
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != envHead+tc.want+envTail {
				t.Errorf("at %s:\n got %s\nwant %s", tc.version, strings.TrimSuffix(strings.TrimPrefix(string(got), envHead), envTail), tc.want)
			}
		})
	}
}

func TestMethodKnown(t *testing.T) {
	tbl, err := loadVimTable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, version string
		want            bool
	}{
		{"HasUserPrivilegeOnEntities", "6.5", true},
		{"HasUserPrivilegeOnEntities", "6.0", false},
		{"RetrievePropertiesEx", "4.1", true},
		{"RetrievePropertiesEx", "4.0", false},
		{"CreateUser", "4.0", true},
		{"EsxsimNoSuchMethod", "4.0", true}, // not vim's: vcsim answers it
	} {
		if got := tbl.methodKnown(tc.method, tbl.includes[tc.version]); got != tc.want {
			t.Errorf("%s at %s: %v", tc.method, tc.version, got)
		}
	}
}
