package esxsim

// API versions, as ESXi and vCenter negotiate them with a client.
//
// "When a client application connects to a Web service running on a vSphere
// server (ESXi or vCenter Server system), the server detects the version of
// the API that was used to develop the client and makes available only those
// operations supported by the client. Client applications convey information
// about the API version used in the SOAP messages that they send to a vSphere
// server. These SOAP messages include a versionID in the soapAction
// attribute. [...] The server adjusts its behavior based on the client's
// version information, exposing the API version that the client supports to
// the client. [...] information about the supported API versions is
// contained in an XML file, vimServiceVersions.xml, located on the server"
// (vSphere Web Services SDK Programming Guide 8.0, "Multiple Versions of the
// vSphere API",
// https://docs.vmware.com/en/VMware-vSphere/8.0/vsphere-web-services-programming-guide/GUID-75B9897E-551B-4C08-B382-A616A007A07D.html).
//
// What the simulator does (every /sdk POST passes through apiService):
//
//   - GET /sdk/vimServiceVersions.xml lists the release's API version and
//     its prior versions (version.go); GET /sdk/vimService.wsdl is the
//     service WSDL, which names the urn:vim25 namespace (vimServiceWSDL).
//     pyVmomi reads the first and falls back to the second
//     (pyVim/connect.py __GetServiceVersionDescription).
//   - The SOAPAction header says which version a request speaks: pyVmomi
//     sends "urn:vim25/6.7.1" in quotes (SoapAdapter.py versionId), govmomi
//     urn:vim25/<vim25.Version> ("9.1.0.0" in v0.56.0, vim25/soap/client.go).
//     A listed version is answered in that version. A version newer than the
//     server's is answered in the server's own: govmomi sends its newest
//     version to every server and supports "vSphere 7.0 and higher" (its
//     README), so real 7.0 and 8.0 servers accept it. Anything else — no
//     SOAPAction, another namespace, an unlisted older version — is refused
//     with ESXi's fault for an unknown version URI, faultcode
//     VersionMismatchFaultCode and "Unsupported version URI "urn:vim25/7.0""
//     (as quoted from a real server in govmomi issue #2305; the real message
//     goes on with parser positions, not reproduced). What a real server does
//     with an unlisted older version or no SOAPAction at all is not
//     documented: refusing is the reading least forgiving to a client.
//   - Answering in an older version (vimfilter.go): a method the version does
//     not know is refused (MethodNotFound); in the answer, properties the
//     version does not know are left out and a data object of a type it does
//     not know is sent as its nearest base type it knows, as VMware's own
//     SOAP serializer does (pyVmomi SoapAdapter.py SoapSerializer._Serialize:
//     "if not IsChildVersion(self.version, info.version): return", and
//     _SerializeDataObject with VmomiSupport.GetCompatibleType, "Widen a type
//     to one supported in a given version"). The versions come from
//     vimversions.txt (tools/gen-vimversions.py).
//
// A request refused here (unknown version, method of a newer version) never
// reaches the model: it is not counted in Requests or Writes, as a real
// server refuses it before dispatch.
//
// Not modelled: request bodies are not checked against the version (a
// property or type newer than the negotiated version in a request is
// accepted), enum values newer than the version are sent as they are, and a
// managed object reference keeps its type name (pyVmomi's serializer does not
// widen those either). vim.wsdl, the schema vimService.wsdl imports, is not
// served.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
)

// apiService negotiates the API version of each SOAP request of one
// simulated server.
type apiService struct {
	current string   // the server's API version, about.apiVersion
	prior   []string // the older versions it lists, newest first
	svc     *simulator.Service
}

// newAPIService is the API version service of model, whose
// about.apiVersion must be a release's (version.go).
func newAPIService(model *simulator.Model) (*apiService, error) {
	si, ok := model.Map().Get(vim25.ServiceInstance).(*simulator.ServiceInstance)
	if !ok {
		return nil, fmt.Errorf("esxsim: no ServiceInstance in model")
	}
	current := si.Content.About.ApiVersion
	for _, r := range []release{releases[ESXi803], releases[ESXi703], vcenter803} {
		if r.apiVersion == current {
			return &apiService{current: current, prior: r.prior, svc: model.Service}, nil
		}
	}
	return nil, fmt.Errorf("esxsim: no API version list for apiVersion %q", current)
}

// install routes the version file, the WSDL and SOAP requests of path
// (/sdk) through a. The patterns name their method, so they take precedence
// over vcsim's own (registered later by Service.NewServer, without methods)
// and do not conflict with them.
func (a *apiService) install(mux *http.ServeMux, path string) {
	mux.HandleFunc("GET "+path+"/vimServiceVersions.xml", a.serveVersions)
	mux.HandleFunc("GET "+path+"/vimService.wsdl", serveWSDL)
	mux.HandleFunc("POST "+path, a.serveSDK)
	mux.HandleFunc("POST "+path+"/vimService", a.serveSDK)
}

// serveVersions answers /sdk/vimServiceVersions.xml in the form of the
// SDK Programming Guide's example (namespaces version="1.0", one namespace
// urn:vim25 with version and priorVersions), which pyVmomi requires
// (__VersionIsSupported: "vimServiceVersions.xml has version %s, which is
// not understood" for another version attribute).
func (a *apiService) serveVersions(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<namespaces version=\"1.0\">\n <namespace>\n  <name>urn:vim25</name>\n")
	fmt.Fprintf(&b, "  <version>%s</version>\n  <priorVersions>\n", a.current)
	for _, v := range a.prior {
		fmt.Fprintf(&b, "   <version>%s</version>\n", v)
	}
	b.WriteString("  </priorVersions>\n </namespace>\n</namespaces>\n")
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, b.String())
}

// vimServiceWSDL is the service WSDL of ESXi and vCenter, as the vSphere
// Web Services SDK ships it (wsdl/vim25/vimService.wsdl) and servers answer
// it at /sdk/vimService.wsdl (the same document, "Copyright 2005-2012" and
// "2005-2017" editions, is quoted by check_vmware_api's tests and by vijava's
// VerUtil, which reads the version from it). pyVmomi takes the version from
// the import's namespace.
const vimServiceWSDL = `<?xml version="1.0" encoding="UTF-8" ?>
<!--
   Copyright 2005-2024 VMware, Inc.  All rights reserved.
-->
<definitions targetNamespace="urn:vim25Service"
   xmlns="http://schemas.xmlsoap.org/wsdl/"
   xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
   xmlns:interface="urn:vim25"
>
   <import location="vim.wsdl" namespace="urn:vim25" />
   <service name="VimService">
      <port binding="interface:VimBinding" name="VimPort">
         <soap:address location="https://localhost/sdk/vimService" />
      </port>
   </service>
</definitions>
`

func serveWSDL(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, vimServiceWSDL)
}

// negotiate returns the version a request with this SOAPAction header is
// answered in, or ok false if the server refuses it.
func (a *apiService) negotiate(action string) (version string, ok bool) {
	uri := strings.Trim(strings.TrimSpace(action), `"`)
	v, found := strings.CutPrefix(uri, "urn:vim25/")
	if !found {
		return "", false
	}
	if v == a.current {
		return v, true
	}
	for _, p := range a.prior {
		if v == p {
			return v, true
		}
	}
	if newerVersion(v, a.current) {
		return a.current, true
	}
	return "", false
}

// newerVersion reports whether the dotted numeric version v is newer than
// cur (8.0.3.0 style); anything not numeric is not.
func newerVersion(v, cur string) bool {
	vs, cs := strings.Split(v, "."), strings.Split(cur, ".")
	for i := 0; i < max(len(vs), len(cs)); i++ {
		var x, y int
		var err error
		if i < len(vs) {
			if x, err = strconv.Atoi(vs[i]); err != nil || x < 0 {
				return false
			}
		}
		if i < len(cs) {
			if y, err = strconv.Atoi(cs[i]); err != nil {
				return false
			}
		}
		if x != y {
			return x > y
		}
	}
	return false
}

// serveSDK answers a SOAP request in the version its SOAPAction negotiates.
func (a *apiService) serveSDK(w http.ResponseWriter, r *http.Request) {
	action := r.Header.Get("SOAPAction")
	version, ok := a.negotiate(action)
	if !ok {
		writeSOAPFault(w, "VersionMismatchFaultCode",
			fmt.Sprintf("Unsupported version URI %q", strings.Trim(strings.TrimSpace(action), `"`)), "")
		return
	}
	if version == newestVersion {
		// The table knows nothing newer: vcsim's answer is sent as is.
		a.svc.ServeSDK(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	tbl, err := loadVimTable()
	if err != nil {
		writeSOAPFault(w, "ServerFaultCode", err.Error(), "")
		return
	}
	know := tbl.includes[version]
	if method, this, thisType := requestMethod(body); method != "" && !tbl.methodKnown(method, know) {
		// Not documented what fault a real server sends; vim's fault for a
		// method a receiver does not have is MethodNotFound.
		writeSOAPFault(w, "ServerFaultCode",
			fmt.Sprintf("Method %s is not part of vSphere API %s", method, version),
			fmt.Sprintf(`<MethodNotFoundFault xmlns="urn:vim25" xsi:type="MethodNotFound"><receiver type="%s">%s</receiver><method>%s</method></MethodNotFoundFault>`,
				xmlEscape(thisType), xmlEscape(this), xmlEscape(method)))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	a.svc.ServeSDK(rec, r)
	out, err := tbl.filter(rec.body.Bytes(), know)
	if err != nil {
		writeSOAPFault(w, "ServerFaultCode", "esxsim: answering in API "+version+": "+err.Error(), "")
		return
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(out)
}

// recorder keeps an answer of vcsim's to rewrite it.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

// writeSOAPFault answers a SOAP fault in vcsim's envelope (HTTP 500, as
// every vSphere fault); detail, if any, is the fault's XML.
func writeSOAPFault(w http.ResponseWriter, code, msg, detail string) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`)
	fmt.Fprintf(&b, "<soapenv:Body><soapenv:Fault><faultcode>%s</faultcode><faultstring>%s</faultstring>", code, xmlEscape(msg))
	if detail != "" {
		b.WriteString("<detail>" + detail + "</detail>")
	}
	b.WriteString("</soapenv:Fault></soapenv:Body></soapenv:Envelope>")
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, b.String())
}
