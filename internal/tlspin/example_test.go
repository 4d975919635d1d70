package tlspin_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/esxi-users/esxi-users/internal/tlspin"
)

// Fingerprints as people paste them: simulate's line, lower case, no
// colons.
func ExampleParse() {
	for _, s := range []string{
		"thumbprint: 86:F7:E4:37:FA:A5:A7:FC:E1:5D:1D:DC:B9:EA:EA:EA:37:76:67:B8",
		"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
		"86:F7:E4",
	} {
		fp, err := tlspin.Parse(s)
		if err != nil {
			fmt.Println(strings.SplitN(err.Error(), "; accepted", 2)[0])
			continue
		}
		fmt.Println(fp.Algorithm, fp)
	}
	// Output:
	// SHA-1 86:F7:E4:37:FA:A5:A7:FC:E1:5D:1D:DC:B9:EA:EA:EA:37:76:67:B8
	// SHA-256 CA:97:81:12:CA:1B:BD:CA:FA:C2:31:B3:9A:23:DC:4D:A7:86:EF:F8:14:7C:4E:72:B9:80:77:85:AF:EE:48:BB
	// not a certificate thumbprint (it has 6 hex digits)
}

// Pinning a server's certificate: the pinned fingerprint is the trust, in
// one handshake; another certificate is a *MismatchError naming both
// fingerprints.
func ExamplePin() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()

	get := func(pin tlspin.Fingerprint) error {
		tc := &tls.Config{}
		if err := tlspin.Pin(tc, pin, ""); err != nil {
			return err
		}
		tr := &http.Transport{TLSClientConfig: tc}
		defer tr.CloseIdleConnections()
		res, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			return err
		}
		return res.Body.Close()
	}

	fmt.Println(get(tlspin.Of(srv.Certificate(), tlspin.SHA256)))
	other, _ := tlspin.Parse("86:F7:E4:37:FA:A5:A7:FC:E1:5D:1D:DC:B9:EA:EA:EA:37:76:67:B8")
	var mm *tlspin.MismatchError
	fmt.Println(errors.As(get(other), &mm), mm.Pinned.Algorithm)
	// Output:
	// <nil>
	// true SHA-1
}

// A known-hosts file in govc's format: pin each server found in it.
func ExampleLoadKnownHosts() {
	k, err := tlspin.LoadKnownHosts("testdata/govc_known_hosts")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, server := range []string{"vc.example.com", "esx01.example.com:8443", "esx09.example.com"} {
		if e, ok := k.Lookup(server); ok {
			fmt.Println(server, e.Fingerprint.Algorithm, e.Source())
		} else {
			fmt.Println(server, "not pinned")
		}
	}
	// Output:
	// vc.example.com SHA-256 testdata/govc_known_hosts:1
	// esx01.example.com:8443 SHA-1 testdata/govc_known_hosts:2
	// esx09.example.com not pinned
}
