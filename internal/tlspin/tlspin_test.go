package tlspin

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"

	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
)

const (
	sha1AB   = "86:F7:E4:37:FA:A5:A7:FC:E1:5D:1D:DC:B9:EA:EA:EA:37:76:67:B8"
	sha256AB = "CA:97:81:12:CA:1B:BD:CA:FA:C2:31:B3:9A:23:DC:4D:A7:86:EF:F8:14:7C:4E:72:B9:80:77:85:AF:EE:48:BB"
)

func TestParse(t *testing.T) {
	bare1 := strings.ReplaceAll(sha1AB, ":", "")
	bare256 := strings.ReplaceAll(sha256AB, ":", "")
	for _, tc := range []struct {
		in   string
		alg  Algorithm
		want string
	}{
		{sha1AB, SHA1, sha1AB},
		{sha256AB, SHA256, sha256AB},
		{strings.ToLower(sha1AB), SHA1, sha1AB},
		{bare1, SHA1, sha1AB},
		{strings.ToLower(bare256), SHA256, sha256AB},
		{"thumbprint: " + sha1AB, SHA1, sha1AB},     // simulate's line 2
		{"Thumbprint:" + bare256, SHA256, sha256AB}, // any case, no space
		{"  \t" + sha256AB + " \n", SHA256, sha256AB},
		{" THUMBPRINT:   " + strings.ToLower(bare1) + "  ", SHA1, sha1AB},
	} {
		fp, err := Parse(tc.in)
		if err != nil || fp.Algorithm != tc.alg || fp.String() != tc.want {
			t.Errorf("Parse(%q) = %v %v, %v; want %v %s", tc.in, fp.Algorithm, fp, err, tc.alg, tc.want)
		}
	}

	for _, tc := range []struct {
		in, why string
	}{
		{"", "(it is empty)"},
		{"   ", "(it is empty)"},
		{"zzz", "(character 1 is not a hex digit or a colon)"},
		{"thumbprint:", "(it is empty)"},
		{sha1AB[:len(sha1AB)-3], "(it has 38 hex digits)"},
		{bare256 + "00", "(it has 66 hex digits)"},
		{strings.Replace(sha1AB, "86:F7", "86F7", 1), "(group 1 has 4 digits: a colon goes between every two digits)"},
		{sha1AB + ":", "(group 21 has 0 digits"},
		{strings.ReplaceAll(sha1AB, ":", " "), "(character 3 is not a hex digit or a colon)"},
		{strings.ReplaceAll(sha1AB, ":", "-"), "(character 3 is not"},
		{"sha1 Fingerprint=" + sha1AB, "(character 1 is not"},
		{"thumbprint " + sha1AB, "(character 1 is not"},
		{"  thumbprint: 12:zz", "(character 18 is not"},
		{"０１", "(character 1 is not"},
		{"Canary#Pw-7719-zz", "(character 3 is not"},
		{strings.Repeat("Z", 500), "(character 1 is not"},
	} {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) accepted", tc.in)
			continue
		}
		msg := err.Error()
		if v := strings.TrimSpace(tc.in); len(v) > 1 && !strings.EqualFold(v, "thumbprint:") && strings.Contains(msg, v) {
			t.Errorf("Parse(%q): the message quotes the value: %q", tc.in, msg)
		}
		if !errors.Is(err, errkind.ErrInvalid) || !strings.Contains(msg, tc.why) || !strings.Contains(msg, Forms) {
			t.Errorf("Parse(%q): %q; want errkind.ErrInvalid, %q and the accepted forms", tc.in, msg, tc.why)
		}
		if len(msg) > 600 {
			t.Errorf("Parse(%q): message of %d bytes", tc.in[:10], len(msg))
		}
	}
}

// tlsServer is an HTTPS server (httptest's certificate) that counts the
// TLS handshakes it completes and logs its errors to errLog.
func tlsServer(t *testing.T) (srv *httptest.Server, handshakes *atomic.Int64, errLog *bytes.Buffer) {
	t.Helper()
	handshakes = new(atomic.Int64)
	errLog = new(bytes.Buffer)
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	srv.Config.ErrorLog = log.New(errLog, "", 0)
	srv.TLS = &tls.Config{VerifyConnection: func(tls.ConnectionState) error { handshakes.Add(1); return nil }}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, handshakes, errLog
}

// get makes one request to srv with a client whose TLS is pinned to pin.
func get(t *testing.T, srv *httptest.Server, pin Fingerprint, source string) error {
	t.Helper()
	tc := &tls.Config{}
	if err := Pin(tc, pin, source); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	return nil
}

// TestPinAgainstTLSServer: a real TLS server is accepted when pinned by its
// SHA-1 or SHA-256 fingerprint, in one handshake each and without an alert
// in the server's log; another fingerprint is refused with both algorithms
// and the presented fingerprint in the message.
func TestPinAgainstTLSServer(t *testing.T) {
	srv, handshakes, errLog := tlsServer(t)
	cert := srv.Certificate()
	for _, alg := range []Algorithm{SHA1, SHA256} {
		before := handshakes.Load()
		pin, err := Parse(Of(cert, alg).String())
		if err != nil {
			t.Fatal(err)
		}
		if err := get(t, srv, pin, ""); err != nil {
			t.Errorf("pinned %v: %v", alg, err)
		}
		if n := handshakes.Load() - before; n != 1 {
			t.Errorf("pinned %v: %d handshakes, want 1", alg, n)
		}
	}
	if errLog.Len() != 0 {
		t.Errorf("server log: %s", errLog)
	}

	other1, _ := Parse(sha1AB)
	other256, _ := Parse(sha256AB)
	for _, tc := range []struct {
		pin    Fingerprint
		source string
		want   string
	}{
		{other256, "", "does not match the pinned SHA-256 thumbprint " + sha256AB + ": the host presented SHA-256 " + Of(cert, SHA256).String()},
		{other1, "known_hosts:3", "does not match the pinned SHA-1 thumbprint (known_hosts:3) " + sha1AB + ": the host presented SHA-1 " + Of(cert, SHA1).String() + " (SHA-256 " + Of(cert, SHA256).String() + ")"},
	} {
		err := get(t, srv, tc.pin, tc.source)
		var mm *MismatchError
		if !errors.As(err, &mm) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("pinned %v: %v; want a MismatchError with %q", tc.pin.Algorithm, err, tc.want)
			continue
		}
		if mm.Presented != Of(cert, tc.pin.Algorithm) || mm.PresentedSHA256 != Of(cert, SHA256) {
			t.Errorf("MismatchError %+v", mm)
		}
	}
}

func TestPinZero(t *testing.T) {
	tc := &tls.Config{}
	if err := Pin(tc, Fingerprint{}, ""); err == nil || tc.InsecureSkipVerify {
		t.Errorf("zero pin: %v, InsecureSkipVerify %v", err, tc.InsecureSkipVerify)
	}
	if err := VerifyConnection(Fingerprint{Algorithm: SHA1, sum: strings.Repeat("x", 20)}, "")(tls.ConnectionState{}); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("no certificate: %v", err)
	}
}

func TestFingerprintOf(t *testing.T) {
	srv, _, _ := tlsServer(t)
	cert := srv.Certificate()
	for _, alg := range []Algorithm{SHA1, SHA256} {
		fp := Of(cert, alg)
		if !fp.Matches(cert) || len(fp.Bytes()) != map[Algorithm]int{SHA1: 20, SHA256: 32}[alg] {
			t.Errorf("%v: %s", alg, fp)
		}
	}
	if (Fingerprint{}).Matches(cert) || !(Fingerprint{}).IsZero() {
		t.Errorf("zero fingerprint matches")
	}
	if SHA1.String() != "SHA-1" || SHA256.String() != "SHA-256" {
		t.Errorf("names %v %v", SHA1, SHA256)
	}
}

// TestPinSimulator: the line `simulate` prints ("thumbprint: AB:…") pins
// the simulator's certificate; a vSphere SOAP client gets through.
func TestPinSimulator(t *testing.T) {
	sim, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	pin, err := Parse("thumbprint: " + sim.Thumbprint)
	if err != nil {
		t.Fatal(err)
	}
	u := *sim.URL
	u.User = nil
	sc := soap.NewClient(&u, false)
	if err := Pin(sc.DefaultTransport().TLSClientConfig, pin, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		t.Fatalf("pinned connection: %v", err)
	}
	if c.ServiceContent.About.ApiType != "HostAgent" {
		t.Errorf("about %+v", c.ServiceContent.About)
	}
}
