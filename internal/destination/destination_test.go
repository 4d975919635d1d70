package destination_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/destination"
	"github.com/esxi-users/esxi-users/internal/errkind"
	"github.com/esxi-users/esxi-users/internal/tlspin"
)

// cert makes a self-signed certificate (only its DER matters here).
func cert(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sha256Of(c *x509.Certificate) string { return tlspin.Of(c, tlspin.SHA256).String() }
func sha1Of(c *x509.Certificate) string   { return tlspin.Of(c, tlspin.SHA1).String() }

func knownHosts(t *testing.T, text string) tlspin.KnownHosts {
	t.Helper()
	k, err := tlspin.ParseKnownHosts(text, "esxi-users/known-hosts")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func request(t *testing.T, server, vihost, thumbprint string) destination.Requested {
	t.Helper()
	r, err := destination.Request(server, vihost, thumbprint)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCheck is the decision before anything is contacted: refused (with
// the kind of error), or allowed with a pin (from where) and whether the
// destination is recorded after the login.
func TestCheck(t *testing.T) {
	good, other, renewed := cert(t, "esx01"), cert(t, "evil"), cert(t, "esx01-renewed")
	rec := &destination.Record{Server: "esx01.example.com:443", SHA256: sha256Of(good), SHA1: sha1Of(good), Recorded: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	viRec := &destination.Record{Server: "vc.example.com:443", ViHost: "esx01.example.com", SHA256: sha256Of(good)}
	seeded := &destination.Record{Server: "esx01.example.com:443"} // an admin's record without a certificate
	tofu := destination.Policy{TrustOnFirstUse: true, KnownHostsName: "esxi-users/known-hosts", TrustOnFirstUseName: "esxi-users/trust-on-first-use",
		Accept: "drpcli profiles remove …", Seed: "drpcli profiles set …"}
	strict := tofu
	strict.TrustOnFirstUse = false
	listed := tofu
	listed.KnownHosts = knownHosts(t, "# fleet\nesx01.example.com "+sha256Of(good)+"\nesx02.example.com:8443 "+sha256Of(other)+"\n")
	renewedList := tofu
	renewedList.KnownHosts = knownHosts(t, "esx01.example.com "+sha256Of(renewed)+"\n")

	for _, tc := range []struct {
		name       string
		server     string
		vihost     string
		thumbprint string
		st         destination.State
		refused    any    // *ChangedError or *NotRecordedError
		msg        string // in the refusal
		pin        string // expected pin ("" none)
		pinFrom    string
		save       bool
	}{
		{name: "first use, trust on first use", server: "esx01.example.com", st: destination.State{Policy: tofu}, save: true},
		{name: "first use, refused when trust on first use is off", server: "esx01.example.com", st: destination.State{Policy: strict},
			refused: &destination.NotRecordedError{}, msg: "esxi-users/trust-on-first-use is false"},
		{name: "first use, listed server pinned to its line", server: "https://ESX01.example.com./sdk", st: destination.State{Policy: listed},
			pin: sha256Of(good), pinFrom: "esxi-users/known-hosts line 2", save: true},
		{name: "first use, unlisted server refused when known-hosts lists any", server: "evil.example.com", st: destination.State{Policy: listed},
			refused: &destination.NotRecordedError{}, msg: "does not list evil.example.com:443"},
		{name: "first use, a listed host on another port is another server", server: "esx02.example.com", st: destination.State{Policy: listed},
			refused: &destination.NotRecordedError{}, msg: "does not list esx02.example.com:443"},
		{name: "strict: a listed server still needs the machine's own record", server: "esx01.example.com",
			st:      destination.State{Policy: func() destination.Policy { p := listed; p.TrustOnFirstUse = false; return p }()},
			refused: &destination.NotRecordedError{}},
		{name: "recorded: same server, pinned to the record", server: "esx01.example.com:443", st: destination.State{Record: rec, Policy: strict},
			pin: sha256Of(good), pinFrom: "recorded for this machine"},
		{name: "recorded: another server refused", server: "evil.example.com", st: destination.State{Record: rec, Policy: tofu},
			refused: &destination.ChangedError{}, msg: "recorded destination is esx01.example.com:443 (certificate SHA-256 " + sha256Of(good)},
		{name: "recorded: the same host on another port refused", server: "esx01.example.com:8443", st: destination.State{Record: rec, Policy: tofu},
			refused: &destination.ChangedError{}, msg: "this run asks for esx01.example.com:8443"},
		{name: "recorded: through a vCenter instead of direct refused", server: "esx01.example.com", vihost: "esx01.example.com",
			st: destination.State{Record: rec, Policy: tofu}, refused: &destination.ChangedError{}, msg: "host esx01.example.com through vCenter esx01.example.com:443"},
		{name: "recorded vihost: another managed host refused", server: "vc.example.com", vihost: "esx02.example.com",
			st: destination.State{Record: viRec, Policy: tofu}, refused: &destination.ChangedError{}, msg: "this run asks for host esx02.example.com through vCenter vc.example.com:443"},
		{name: "recorded vihost: same host, any case", server: "vc.example.com", vihost: "ESX01.example.com.",
			st: destination.State{Record: viRec, Policy: tofu}, pin: sha256Of(good), pinFrom: "recorded for this machine"},
		{name: "recorded: known-hosts line wins and the record is renewed", server: "esx01.example.com", st: destination.State{Record: rec, Policy: renewedList},
			pin: sha256Of(renewed), pinFrom: "esxi-users/known-hosts line 1", save: true},
		{name: "recorded: known-hosts line agrees, nothing to save", server: "esx01.example.com", st: destination.State{Record: rec, Policy: listed},
			pin: sha256Of(good), pinFrom: "esxi-users/known-hosts line 2"},
		{name: "pre-seeded without a certificate: pinned by nothing, recorded after", server: "esx01.example.com", st: destination.State{Record: seeded, Policy: strict},
			save: true},
		{name: "pre-seeded: another server refused", server: "evil.example.com", st: destination.State{Record: seeded, Policy: tofu},
			refused: &destination.ChangedError{}, msg: "certificate not recorded yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.st.Record != nil {
				if err := tc.st.Record.Validate(); err != nil {
					t.Fatal(err)
				}
			}
			g, err := destination.Check(request(t, tc.server, tc.vihost, tc.thumbprint), tc.st)
			if tc.refused != nil {
				if err == nil {
					t.Fatal("allowed, want refused")
				}
				if !errors.Is(err, errkind.ErrDestinationRefused) {
					t.Errorf("%v does not wrap errkind.ErrDestinationRefused", err)
				}
				if fmt.Sprintf("%T", err) != fmt.Sprintf("%T", tc.refused) {
					t.Errorf("error %T, want %T", err, tc.refused)
				}
				step := map[bool]string{true: "accepts it with: drpcli profiles remove", false: "records it with: drpcli profiles set"}[fmt.Sprintf("%T", err) == "*destination.ChangedError"]
				if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "refused before any password was sent") || !strings.Contains(err.Error(), step) {
					t.Errorf("message %q lacks %q, the refusal or the admin step", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pin, from := g.Pin()
			if got := map[bool]string{true: "", false: pin.String()}[pin.IsZero()]; got != tc.pin || (tc.pin != "" && from != tc.pinFrom) {
				t.Errorf("pin %q from %q, want %q from %q", got, from, tc.pin, tc.pinFrom)
			}
			// The certificate the server presents (the pinned one when pinned).
			leaf := good
			if tc.pin == sha256Of(renewed) {
				leaf = renewed
			}
			if err := g.VerifyPeer(leaf); err != nil {
				t.Fatal(err)
			}
			r, save := g.Observed("esx01", time.Now())
			if save != tc.save {
				t.Fatalf("save %v, want %v", save, tc.save)
			}
			if save {
				want := request(t, tc.server, tc.vihost, "")
				if r.Server != want.Server || r.ViHost != want.ViHost || r.SHA256 != sha256Of(leaf) || r.SHA1 != sha1Of(leaf) || r.Machine != "esx01" || r.Recorded.IsZero() {
					t.Errorf("record %+v", r)
				}
				if err := r.Validate(); err != nil {
					t.Errorf("the record does not validate: %v", err)
				}
			}
		})
	}
}

// TestVerifyPeer: when the store pins, the Params' own thumbprint must
// match too; and every handshake of a run presents the first one's
// certificate.
func TestVerifyPeer(t *testing.T) {
	good, other := cert(t, "esx01"), cert(t, "evil")
	rec := &destination.Record{Server: "esx01.example.com:443", SHA256: sha256Of(good)}
	if err := rec.Validate(); err != nil {
		t.Fatal(err)
	}
	pol := destination.Policy{TrustOnFirstUse: true, Accept: "drpcli profiles remove …"}

	// The Params pin another certificate (SHA-1 form): the handshake fails.
	g, err := destination.Check(request(t, "esx01.example.com", "", sha1Of(other)), destination.State{Record: rec, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	err = g.VerifyPeer(good)
	var ce *destination.ChangedError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "not the pinned SHA-1 thumbprint "+sha1Of(other)+" of the machine's Params") {
		t.Errorf("Params' thumbprint: %v", err)
	}
	// The Params pin the recorded certificate (SHA-1): accepted.
	g, _ = destination.Check(request(t, "esx01.example.com", "", strings.ToLower(strings.ReplaceAll(sha1Of(good), ":", ""))), destination.State{Record: rec, Policy: pol})
	if err := g.VerifyPeer(good); err != nil {
		t.Errorf("matching Params thumbprint: %v", err)
	}

	// First use: the first certificate is kept; another one later in the
	// same run is refused, and the record is the first one.
	g, _ = destination.Check(request(t, "esx01.example.com", "", ""), destination.State{Policy: pol})
	if err := g.VerifyPeer(good); err != nil {
		t.Fatal(err)
	}
	if err := g.VerifyPeer(good); err != nil {
		t.Errorf("the same certificate again: %v", err)
	}
	if err := g.VerifyPeer(other); !errors.Is(err, errkind.ErrDestinationRefused) || !strings.Contains(err.Error(), "this run's first connection") {
		t.Errorf("another certificate in the same run: %v", err)
	}
	if r, ok := g.Observed("esx01", time.Now()); !ok || r.SHA256 != sha256Of(good) {
		t.Errorf("record %+v %v", r, ok)
	}
}

// TestRefusal: a certificate that fails the store's pin (a
// *tlspin.MismatchError from the handshake) becomes a *ChangedError naming
// the presented certificate; without a store pin it stays what it was.
func TestRefusal(t *testing.T) {
	good, other := cert(t, "esx01"), cert(t, "evil")
	rec := &destination.Record{Server: "esx01.example.com:443", SHA256: sha256Of(good)}
	_ = rec.Validate()
	g, _ := destination.Check(request(t, "esx01.example.com", "", ""), destination.State{Record: rec, Policy: destination.Policy{Accept: "drpcli profiles remove X"}})
	pin, _ := tlspin.Parse(sha256Of(good))
	mm := tlspin.VerifyConnection(pin, "")
	hs := fmt.Errorf("connect to esx01.example.com:443: %w", mmErr(t, mm, other))
	err := g.Refusal(hs)
	var ce *destination.ChangedError
	if !errors.As(err, &ce) || ce.Presented != sha256Of(other) || !strings.Contains(err.Error(), "presented a certificate with SHA-256 "+sha256Of(other)) ||
		!strings.Contains(err.Error(), "drpcli profiles remove X") {
		t.Errorf("refusal: %v", err)
	}
	// First use: no store pin, the error is the connection's own.
	g, _ = destination.Check(request(t, "esx01.example.com", "", sha256Of(good)), destination.State{Policy: destination.Policy{TrustOnFirstUse: true}})
	if got := g.Refusal(hs); got != hs {
		t.Errorf("without a store pin: %v", got)
	}
	var nilGuard *destination.Guard
	if got := nilGuard.Refusal(hs); got != hs {
		t.Errorf("nil guard: %v", got)
	}
}

// mmErr is the error of a pinned handshake with a server presenting leaf.
func mmErr(t *testing.T, verify func(tls.ConnectionState) error, leaf *x509.Certificate) error {
	t.Helper()
	err := verify(tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}})
	if err == nil {
		t.Fatal("no mismatch")
	}
	return err
}

// TestRecordValidate: records an admin writes are checked and normalised.
func TestRecordValidate(t *testing.T) {
	good := cert(t, "esx01")
	for _, tc := range []struct {
		rec  destination.Record
		want string // error substring, "" valid
	}{
		{destination.Record{Server: "ESX01.Example.com", SHA256: strings.ToLower(sha256Of(good))}, ""},
		{destination.Record{Server: "https://esx01.example.com/sdk", ViHost: "Host.", SHA1: sha1Of(good)}, ""},
		{destination.Record{Server: ""}, "server"},
		{destination.Record{Server: "esx01", SHA256: sha1Of(good)}, "sha256 is not a SHA-256 fingerprint"},
		{destination.Record{Server: "esx01", SHA1: "zz"}, "sha1 is not a SHA-1 fingerprint"},
	} {
		r := tc.rec
		err := r.Validate()
		if tc.want == "" {
			if err != nil || r.Server != strings.TrimSuffix(strings.ToLower(strings.TrimPrefix(strings.TrimSuffix(tc.rec.Server, "/sdk"), "https://")), ".")+":443" {
				t.Errorf("%+v: %v, server %q", tc.rec, err, r.Server)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.rec, err, tc.want)
		}
	}
}
