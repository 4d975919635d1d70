package esx

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/esxi-users/esxi-users/internal/sim/esxsim"
	"github.com/esxi-users/esxi-users/params"
)

// TestViHostCLIError: a failed esxcli command through vCenter comes back as
// "EsxCLI.CLIFault.summary" with the reason in the fault detail's errMsg;
// ViHost turns it into a CLIError carrying the reason.
func TestViHostCLIError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	v, err := esxsim.StartVCenter(esxsim.VCenterOptions{Hosts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(v.CertPEM)
	pw, _ := v.URL.User.Password()
	s, err := Dial(ctx, Config{Server: v.URL.Host, Username: v.URL.User.Username(), Password: params.NewPassword(pw), RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := NewViHost(ctx, s, v.Hosts[0])
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.esxcli(ctx, "system", "permission", "set", "--id=nobody", "--role=Admin")
	var ce *CLIError
	if !errors.As(err, &ce) {
		t.Fatalf("err %v (%T), want *CLIError", err, err)
	}
	want := "esxcli system permission set --id=nobody --role=Admin on " + v.Hosts[0] + " failed: The user or group named 'nobody' does not exist."
	if err.Error() != want {
		t.Errorf("error %q\nwant  %q", err.Error(), want)
	}
	if _, err := h.esxcli(ctx, "system", "nosuch", "list"); err == nil || !strings.Contains(err.Error(), "esxcli system nosuch list on ") {
		t.Errorf("unknown namespace: %v", err)
	}
}

// TestMatchViHost: names compare case-insensitively without a trailing dot,
// addresses by value (IPv6 spellings), short names only when unique.
func TestMatchViHost(t *testing.T) {
	cands := []viCandidate{
		{name: "esx01.lab.example", ips: []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("fd00::1")}},
		{name: "10.0.0.2"},
		{name: "esx03", ips: []net.IP{net.ParseIP("10.0.0.3")}},
		{name: "esx03.other.example", ips: []net.IP{net.ParseIP("10.0.0.3")}},
	}
	for q, want := range map[string]string{
		"ESX01.lab.example.":  "esx01.lab.example",
		"esx01":               "esx01.lab.example",
		"fd00:0:0::1":         "esx01.lab.example",
		"10.0.0.1":            "esx01.lab.example",
		"10.0.0.2":            "10.0.0.2",
		"esx03":               "esx03", // exact name wins over the short name
		"esx03.other.example": "esx03.other.example",
		"ESX03.OTHER.EXAMPLE": "esx03.other.example",
	} {
		got, err := matchViHost(cands, q)
		if err != nil || got.name != want {
			t.Errorf("%q: %q %v, want %q", q, got.name, err, want)
		}
	}
	if _, err := matchViHost(cands, "10.0.0.3"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("shared address: %v", err)
	}
	if _, err := matchViHost(cands, "esx9"); err == nil || !strings.Contains(err.Error(), "4 hosts") {
		t.Errorf("unknown: %v", err)
	}
}
