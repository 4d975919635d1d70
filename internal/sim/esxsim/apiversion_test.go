package esxsim

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// sdkClient talks HTTP to a simulator's /sdk, keeping the session cookie.
type sdkClient struct {
	t    *testing.T
	base string // https://127.0.0.1:PORT/sdk
	hc   *http.Client
}

func newSDKClient(t *testing.T, u *url.URL, certPEM []byte) *sdkClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certPool(t, certPEM)}}
	t.Cleanup(tr.CloseIdleConnections)
	return &sdkClient{t: t, base: "https://" + u.Host + "/sdk", hc: &http.Client{Transport: tr, Jar: jar}}
}

func (c *sdkClient) get(path string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequestWithContext(testContext(c.t), http.MethodGet, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

// call posts a SOAP request with SOAPAction action ("" for none).
func (c *sdkClient) call(action, body string) (int, string) {
	c.t.Helper()
	env := `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>` +
		body + `</soapenv:Body></soapenv:Envelope>`
	req, err := http.NewRequestWithContext(testContext(c.t), http.MethodPost, c.base, strings.NewReader(env))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	if action != "" {
		req.Header.Set("SOAPAction", action)
	}
	return c.do(req)
}

func (c *sdkClient) do(req *http.Request) (int, string) {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func (c *sdkClient) login(action, user, password string) {
	c.t.Helper()
	var b strings.Builder
	b.WriteString(`<Login xmlns="urn:vim25"><_this type="SessionManager">`)
	_ = xml.EscapeText(&b, []byte(sessionManagerID(c)))
	b.WriteString(`</_this><userName>`)
	_ = xml.EscapeText(&b, []byte(user))
	b.WriteString(`</userName><password>`)
	_ = xml.EscapeText(&b, []byte(password))
	b.WriteString(`</password></Login>`)
	if code, out := c.call(action, b.String()); code != http.StatusOK {
		c.t.Fatalf("Login: %d %s", code, out)
	}
}

// sessionManagerID reads the SessionManager's moid from ServiceContent.
func sessionManagerID(c *sdkClient) string {
	_, out := c.call("urn:vim25/8.0.3.0", retrieveServiceContent)
	_, rest, _ := strings.Cut(out, `<sessionManager type="SessionManager">`)
	id, _, _ := strings.Cut(rest, "<")
	return id
}

const retrieveServiceContent = `<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>`

// vimServiceVersions is /sdk/vimServiceVersions.xml.
type vimServiceVersions struct {
	XMLName   xml.Name `xml:"namespaces"`
	Version   string   `xml:"version,attr"`
	Namespace []struct {
		Name    string   `xml:"name"`
		Version string   `xml:"version"`
		Prior   []string `xml:"priorVersions>version"`
	} `xml:"namespace"`
}

// The versions ESXi 8.0.3, ESXi 7.0.3 and vCenter 8.0.3 list: every vim25
// API version down to 4.0 (version.go cites the sources). pyVmomi 6.7.1
// finds its newest, 6.7.1, among them; vcsim listed 6.0 and 5.5 only, with
// which pyVmomi spoke 6.0 (and 6.5 to vcsim's vCenter, 6.5).
func TestServiceVersionsFile(t *testing.T) {
	want803 := []string{"8.0.2.0", "8.0.1.0", "8.0.0.2", "8.0.0.1", "8.0.0.0", "7.0.3.2", "7.0.3.1", "7.0.3.0",
		"7.0.2.1", "7.0.2.0", "7.0.1.1", "7.0.1.0", "7.0.0.2", "7.0.0.0", "6.9.1", "6.8.7", "6.7.3", "6.7.2",
		"6.7.1", "6.7", "6.5", "6.0", "5.5", "5.1", "5.0", "4.1", "4.0"}
	s803 := start(t, Options{})
	s703 := start(t, Options{Common: Common{ESXiVersion: ESXi703}})
	vc := startVC(t, VCenterOptions{Hosts: 1})
	for _, tc := range []struct {
		name    string
		u       *url.URL
		cert    []byte
		version string
		prior   []string
	}{
		{"ESXi 8.0.3", s803.URL, s803.CertPEM, "8.0.3.0", want803},
		{"ESXi 7.0.3", s703.URL, s703.CertPEM, "7.0.3.0", want803[8:]},
		{"vCenter 8.0.3", vc.URL, vc.CertPEM, "8.0.3.0", want803},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := newSDKClient(t, tc.u, tc.cert).get("/vimServiceVersions.xml")
			var doc vimServiceVersions
			if err := xml.Unmarshal([]byte(body), &doc); code != http.StatusOK || err != nil {
				t.Fatalf("%d %v:\n%s", code, err, body)
			}
			if doc.Version != "1.0" || len(doc.Namespace) != 1 || doc.Namespace[0].Name != "urn:vim25" {
				t.Fatalf("document %+v", doc)
			}
			ns := doc.Namespace[0]
			if ns.Version != tc.version || !slices.Equal(ns.Prior, tc.prior) {
				t.Errorf("version %s, prior %v; want %s, %v", ns.Version, ns.Prior, tc.version, tc.prior)
			}
		})
	}
}

// /sdk/vimService.wsdl is served: the service WSDL importing urn:vim25,
// from which pyVmomi takes the version when there is no
// vimServiceVersions.xml. vcsim answered 404.
func TestServiceWSDL(t *testing.T) {
	s := start(t, Options{})
	code, body := newSDKClient(t, s.URL, s.CertPEM).get("/vimService.wsdl")
	var doc struct {
		XMLName         xml.Name `xml:"http://schemas.xmlsoap.org/wsdl/ definitions"`
		TargetNamespace string   `xml:"targetNamespace,attr"`
		Import          struct {
			Location  string `xml:"location,attr"`
			Namespace string `xml:"namespace,attr"`
		} `xml:"import"`
		Port struct {
			Binding string `xml:"binding,attr"`
			Address struct {
				Location string `xml:"location,attr"`
			} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ address"`
		} `xml:"service>port"`
	}
	if err := xml.Unmarshal([]byte(body), &doc); code != http.StatusOK || err != nil {
		t.Fatalf("%d %v:\n%s", code, err, body)
	}
	if doc.TargetNamespace != "urn:vim25Service" || doc.Import.Namespace != "urn:vim25" || doc.Import.Location != "vim.wsdl" ||
		doc.Port.Binding != "interface:VimBinding" || !strings.HasSuffix(doc.Port.Address.Location, "/sdk/vimService") {
		t.Errorf("WSDL %+v", doc)
	}
}

// A vCenter answers a client in the API version its SOAPAction negotiates:
// what that version does not know is left out (ServiceContent.cryptoManager
// is since 6.5, tenantManager since 6.9.1); a version newer than the
// server's is answered in the server's; an unknown version is refused with
// ESXi's VersionMismatchFaultCode. vcsim answered every request alike,
// which pyVmomi 6.7.1 could not parse ("parse error at line 2, col 4346").
func TestAnswerInNegotiatedVersion(t *testing.T) {
	vc := startVC(t, VCenterOptions{Hosts: 1})
	c := newSDKClient(t, vc.URL, vc.CertPEM)
	for _, tc := range []struct {
		action        string
		status        int
		has, hasNot   []string
		faultContains string
	}{
		{`"urn:vim25/6.7.1"`, 200, []string{"<cryptoManager ", "<ioFilterManager "}, []string{"<tenantManager ", "<siteInfoManager "}, ""},
		{"urn:vim25/6.0", 200, []string{"<ioFilterManager "}, []string{"<cryptoManager ", "<tenantManager "}, ""},
		{"urn:vim25/8.0.3.0", 200, []string{"<cryptoManager ", "<tenantManager "}, nil, ""},
		{"urn:vim25/9.1.0.0", 200, []string{"<cryptoManager ", "<tenantManager "}, nil, ""},
		{"urn:vim25/6.6", 500, nil, nil, `<faultcode>VersionMismatchFaultCode</faultcode><faultstring>Unsupported version URI &#34;urn:vim25/6.6&#34;</faultstring>`},
		{"", 500, nil, nil, `<faultcode>VersionMismatchFaultCode</faultcode>`},
	} {
		code, out := c.call(tc.action, retrieveServiceContent)
		if code != tc.status {
			t.Errorf("%q: HTTP %d, want %d: %s", tc.action, code, tc.status, out)
			continue
		}
		for _, s := range tc.has {
			if !strings.Contains(out, s) {
				t.Errorf("%q: no %s in %s", tc.action, s, out)
			}
		}
		for _, s := range tc.hasNot {
			if strings.Contains(out, s) {
				t.Errorf("%q: %s in the answer", tc.action, s)
			}
		}
		if !strings.Contains(out, tc.faultContains) {
			t.Errorf("%q: want %s in %s", tc.action, tc.faultContains, out)
		}
	}
}

// A method the negotiated version does not know is refused:
// HasUserPrivilegeOnEntities is since 6.5 (vSphere API reference), so a
// client speaking 6.0 gets MethodNotFound and one speaking 6.5 an answer.
func TestMethodOfNewerVersionRefused(t *testing.T) {
	s := start(t, Options{})
	c := newSDKClient(t, s.URL, s.CertPEM)
	pw, _ := s.URL.User.Password()
	c.login("urn:vim25/6.0", "root", pw)
	call := `<HasUserPrivilegeOnEntities xmlns="urn:vim25"><_this type="AuthorizationManager">ha-authmgr</_this><entities type="Folder">ha-folder-root</entities><userName>root</userName><privId>System.View</privId></HasUserPrivilegeOnEntities>`
	code, out := c.call("urn:vim25/6.0", call)
	if code != 500 || !strings.Contains(out, `xsi:type="MethodNotFound"`) || !strings.Contains(out, "<method>HasUserPrivilegeOnEntities</method>") {
		t.Errorf("at 6.0: %d %s", code, out)
	}
	code, out = c.call("urn:vim25/6.5", call)
	if code != 200 || !strings.Contains(out, "<privId>System.View</privId><isGranted>true</isGranted>") {
		t.Errorf("at 6.5: %d %s", code, out)
	}
}

// AuthorizationManager.privilegeList lists the privileges the server knows
// (every privilege of its Admin role), the system privileges among them,
// each with its group and name; vcsim's was empty.
func TestPrivilegeList(t *testing.T) {
	s := start(t, Options{})
	vc := startVC(t, VCenterOptions{Hosts: 1})
	for _, tc := range []struct {
		name string
		c    *vim25.Client
		also string
	}{
		{"ESXi", root(t, s), "Host.Local.ManageUserGroups"},
		{"vCenter", vcAdmin(t, vc), "Authorization.ModifyPermissions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var am mo.AuthorizationManager
			err := property.DefaultCollector(tc.c).RetrieveOne(context.Background(), *tc.c.ServiceContent.AuthorizationManager,
				[]string{"privilegeList", "roleList"}, &am)
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]types.AuthorizationPrivilege{}
			for _, p := range am.PrivilegeList {
				byID[p.PrivId] = p
			}
			for _, id := range []string{"System.Anonymous", "System.View", "System.Read", tc.also} {
				group, name, _ := strings.Cut(id, ".")
				if id == tc.also {
					group, name = id[:strings.LastIndexByte(id, '.')], id[strings.LastIndexByte(id, '.')+1:]
				}
				if p, ok := byID[id]; !ok || p.PrivGroupName != group || p.Name != name || p.OnParent {
					t.Errorf("%s: %+v (in list: %v)", id, p, ok)
				}
			}
			for _, r := range am.RoleList {
				for _, p := range r.Privilege {
					if _, ok := byID[p]; !ok {
						t.Errorf("role %s: privilege %s not in privilegeList", r.Name, p)
					}
				}
			}
		})
	}
}

// The simulated vCenter is vCenter Server 8.0.3 (vcsim's said 6.5.0).
func TestVCenterAbout(t *testing.T) {
	a := vcAdmin(t, startVC(t, VCenterOptions{Hosts: 1})).ServiceContent.About
	if a.FullName != "VMware vCenter Server 8.0.3 build-24022515" || a.Version != "8.0.3" || a.Build != "24022515" ||
		a.ApiVersion != "8.0.3.0" || a.ApiType != "VirtualCenter" || a.ProductLineId != "vpx" {
		t.Errorf("about %+v", a)
	}
}
