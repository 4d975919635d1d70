package esx

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/params"
)

func TestDialTLS(t *testing.T) {
	sim, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	block, _ := pem.Decode(sim.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	pw, _ := sim.URL.User.Password()
	base := Config{Server: sim.URL.Host, Username: "root", Password: params.NewPassword(pw)}
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" = success
	}{
		{"sha1 pin", func(c *Config) { c.Thumbprint = soap.ThumbprintSHA1(cert) }, ""},
		{"sha256 pin", func(c *Config) { c.Thumbprint = soap.ThumbprintSHA256(cert) }, ""},
		{"lower-case pin", func(c *Config) { c.Thumbprint = strings.ToLower(soap.ThumbprintSHA1(cert)) }, ""},
		{"sha256 pin without colons, as simulate prints it", func(c *Config) {
			c.Thumbprint = "thumbprint: " + strings.ReplaceAll(strings.ToLower(soap.ThumbprintSHA256(cert)), ":", "")
		}, ""},
		{"trusted CA", func(c *Config) { c.RootCAs = pool }, ""},
		{"insecure", func(c *Config) { c.Insecure = true }, ""},
		{"wrong pin", func(c *Config) { c.Thumbprint = strings.Repeat("00:", 19) + "00" },
			"does not match the pinned SHA-1 thumbprint " + strings.Repeat("00:", 19) + "00: the host presented SHA-1 " + soap.ThumbprintSHA1(cert)},
		{"wrong sha256 pin", func(c *Config) { c.Thumbprint = strings.Repeat("ab", 32) },
			"does not match the pinned SHA-256 thumbprint " + strings.Repeat("AB:", 31) + "AB: the host presented SHA-256 " + soap.ThumbprintSHA256(cert)},
		{"malformed pin", func(c *Config) { c.Thumbprint = "zzz" }, "not a certificate thumbprint"},
		{"untrusted", func(c *Config) {}, "certificate"},
		{"wrong password", func(c *Config) { c.Insecure = true; c.Password = params.NewPassword("Wr0ng#Passw0rd") }, "InvalidLogin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.edit(&cfg)
			s, err := Dial(context.Background(), cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.User != "root" {
					t.Errorf("user = %q", s.User)
				}
				if err := s.Close(); err != nil {
					t.Error(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "Wr0ng#Passw0rd") || strings.Contains(err.Error(), pw) {
				t.Error("password in error")
			}
		})
	}
}

func TestRedact(t *testing.T) {
	in := []byte(`<Login><userName>root</userName><password>S3&lt;cr3t</password></Login><spec><id>u</id><password type="x">abc</password><description>S3&lt;cr3t</description></spec><base64Token>YWJj</base64Token>`)
	out := string(Redact(in, "S3<cr3t"))
	for _, bad := range []string{"S3&lt;cr3t", "abc", "YWJj"} {
		if strings.Contains(out, bad) {
			t.Errorf("%q left in %s", bad, out)
		}
	}
	if !strings.Contains(out, "<userName>root</userName>") {
		t.Errorf("too much removed: %s", out)
	}
}

// overlapWriter counts the Writes that began while another was still
// running; each Write takes a moment, so that writes not serialised would
// overlap.
type overlapWriter struct{ inFlight, overlaps, writes atomic.Int32 }

func (w *overlapWriter) Write(p []byte) (int, error) {
	if w.inFlight.Add(1) > 1 {
		w.overlaps.Add(1)
	}
	time.Sleep(time.Millisecond)
	w.inFlight.Add(-1)
	w.writes.Add(1)
	return len(p), nil
}

// Sessions that share one trace (a fleet's standalone hosts, each with its
// own session, calling at the same time) write it one request or response
// at a time: the trace needs no lock of its own.
func TestTraceSharedBySessions(t *testing.T) {
	sim, err := esxsim.Start(esxsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	pw, _ := sim.URL.User.Password()
	var w overlapWriter
	cfg := Config{Server: sim.URL.Host, Username: "root", Password: params.NewPassword(pw), Thumbprint: sim.Thumbprint, Trace: &w}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		s, err := Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					if _, err := methods.GetCurrentTime(ctx, s.Client); err != nil {
						t.Error(err)
					}
				}
			}()
		}
	}
	wg.Wait()
	if w.writes.Load() < 48 || w.overlaps.Load() != 0 {
		t.Errorf("%d trace writes, %d of them while another was being written", w.writes.Load(), w.overlaps.Load())
	}
}
