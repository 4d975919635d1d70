package tlspin

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25/soap"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// TestKnownHostsAsGovc: for a file in govc's own format, govmomi's reader
// (soap.Client.LoadThumbprints, what govc does with GOVC_TLS_KNOWN_HOSTS)
// and LoadKnownHosts pin the same fingerprint for every server, with and
// without the default port.
func TestKnownHostsAsGovc(t *testing.T) {
	const file = "testdata/govc_known_hosts"
	k, err := LoadKnownHosts(file)
	if err != nil {
		t.Fatal(err)
	}
	govc := soap.NewClient(&url.URL{Scheme: "https", Host: "vc.example.com", Path: "/sdk"}, false)
	if err := govc.LoadThumbprints(file); err != nil {
		t.Fatal(err)
	}
	for _, server := range []string{
		"vc.example.com", "vc.example.com:443", "esx01.example.com:8443", "esx01.example.com",
		"192.0.2.10", "192.0.2.10:443", "[2001:db8::10]:443", "esx02.example.com", "esx03.example.com",
	} {
		want := govc.Thumbprint(server)
		e, ok := k.Lookup(server)
		got := ""
		if ok {
			got = e.Fingerprint.String()
		}
		if got != want {
			t.Errorf("%s: %q, govc %q", server, got, want)
		}
	}
	if e, _ := k.Lookup("esx02.example.com"); e.Line != 6 || e.File != file || e.Source() != file+":6" || e.Fingerprint.Algorithm != SHA256 {
		t.Errorf("esx02: %+v", e)
	}
	if want := []string{"192.0.2.10:443", "[2001:db8::10]:443", "esx01.example.com:8443", "esx02.example.com:443", "vc.example.com:443"}; !reflect.DeepEqual(k.Servers(), want) || k.Len() != 5 {
		t.Errorf("Servers = %v", k.Servers())
	}
}

// TestKnownHostsAsPasted: comments, blank lines, CRLF, tabs, any case, no
// colons, simulate's "thumbprint:" line, a bare IPv6 address; host names
// looked up without regard to case or a final dot.
func TestKnownHostsAsPasted(t *testing.T) {
	k, err := LoadKnownHosts("testdata/pasted_known_hosts")
	if err != nil {
		t.Fatal(err)
	}
	for server, want := range map[string]string{
		"esx03.example.com":             "84:A5:16:84:1B:A7:7A:5B:46:48:DE:2C:D0:DF:CB:30:EA:46:DB:B4",
		"ESX03.example.com.:443":        "84:A5:16:84:1B:A7:7A:5B:46:48:DE:2C:D0:DF:CB:30:EA:46:DB:B4",
		"https://esx04.example.com/sdk": "3C:36:38:36:CF:4E:16:66:66:69:A2:5D:A2:80:A1:86:5C:2D:28:74",
		"[2001:db8::20]":                sha256AB,
		"2001:db8::20":                  sha256AB,
		"[2001:DB8::20]:443":            sha256AB,
	} {
		e, ok := k.Lookup(server)
		if !ok || e.Fingerprint.String() != want {
			t.Errorf("%s: %+v %v, want %s", server, e, ok, want)
		}
	}
	for _, server := range []string{"esx03.example.com:8443", "esx05.example.com", "", "a b", "esx03.example.com:x"} {
		if e, ok := k.Lookup(server); ok {
			t.Errorf("%q found: %+v", server, e)
		}
	}
	if e, _ := k.Lookup("esx04.example.com"); e.Line != 5 {
		t.Errorf("esx04 line %d, want 5", e.Line)
	}
}

func TestKnownHostsErrors(t *testing.T) {
	_, err := LoadKnownHosts("testdata/bad_known_hosts")
	if want := `known-hosts file testdata/bad_known_hosts, line 3: host "esx02.example.com": not a certificate thumbprint`; err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `(group 20 has 1 digits`) || !errors.Is(err, errkind.ErrInvalid) {
		t.Errorf("bad fixture: %v, want %q", err, want)
	}
	_, err = LoadKnownHosts("testdata/missing")
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, errkind.ErrInvalid) || !strings.Contains(err.Error(), "testdata/missing") {
		t.Errorf("missing file: %v", err)
	}

	for _, tc := range []struct {
		in, want string
	}{
		{"esx01.example.com\n", `line 1: want "HOST[:PORT] FINGERPRINT", found only "esx01.example.com"`},
		{"# ok\n\nesx01 " + sha1AB + "\nesx02:0 " + sha1AB + "\n", `line 4: server "esx02:0": port "0" is not a number from 1 to 65535`},
		{"esx01:443x " + sha1AB, `port "443x"`},
		{"esx01: " + sha1AB, `server "esx01:": empty port`},
		{"[2001:db8::1 " + sha1AB, "no closing ]"},
		{"[esx01]:443 " + sha1AB, `"esx01" is not an IPv6 address`},
		{"2001:db8::zz " + sha1AB, "is not a host name or address"},
		{"user@esx01 " + sha1AB, `server "user@esx01" is not a host name or address`},
		{"esx01 " + sha1AB + " extra", `line 1: host "esx01": not a certificate thumbprint`},
		{"esx01 thumbprint:", "(it is empty)"},
	} {
		_, err := ParseKnownHosts(tc.in, "hosts.txt")
		if err == nil || !strings.Contains(err.Error(), "known-hosts file hosts.txt") || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errkind.ErrInvalid) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}

	// A host pinned twice with different fingerprints (a renewal appended
	// after the old line) is refused, naming both lines; the same
	// fingerprint twice (another spelling of the host) is one pin.
	_, err = LoadKnownHosts("testdata/conflicting_known_hosts")
	if want := `known-hosts file testdata/conflicting_known_hosts, line 5: host "esx02.example.com" is pinned with another fingerprint by testdata/conflicting_known_hosts:2: a host has one certificate, so one of the two lines is stale or wrong; delete it (govc would silently use the later one)`; err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, errkind.ErrInvalid) {
		t.Errorf("conflicting lines: %v, want %q", err, want)
	}

	// A line over MaxKnownHostsLine: named, not bufio's "token too long".
	long := "esx01 " + sha1AB + "\n" + strings.Repeat("a", MaxKnownHostsLine+1) + " " + sha1AB + "\n"
	_, err = ParseKnownHosts(long, "hosts.txt")
	if want := `known-hosts file hosts.txt, line 2: longer than 65536 bytes: not a "HOST[:PORT] FINGERPRINT" line`; err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "token too long") {
		t.Errorf("long line: %v, want %q", err, want)
	}

	var zero KnownHosts
	if _, ok := zero.Lookup("esx01"); ok || zero.Len() != 0 {
		t.Errorf("zero KnownHosts knows a host")
	}
}

// LoadKnownHostsList reads GOVC_TLS_KNOWN_HOSTS's path list: the files'
// hosts merged; a host two files pin with different fingerprints is refused
// (govc would take the later file's), the same fingerprint twice is fine.
func TestKnownHostsList(t *testing.T) {
	dir := t.TempDir()
	more := filepath.Join(dir, "more")
	if err := os.WriteFile(more, []byte("vc.example.com CA:97:81:12:CA:1B:BD:CA:FA:C2:31:B3:9A:23:DC:4D:A7:86:EF:F8:14:7C:4E:72:B9:80:77:85:AF:EE:48:BB\nesx09.example.com "+sha1AB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	list := strings.Join([]string{"testdata/govc_known_hosts", "testdata/pasted_known_hosts", more}, string(os.PathListSeparator))
	k, err := LoadKnownHostsList(list)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := k.Lookup("vc.example.com"); e.File != "testdata/govc_known_hosts" || e.Line != 1 {
		t.Errorf("vc.example.com: %+v", e)
	}
	if e, _ := k.Lookup("esx09.example.com"); e.Fingerprint.String() != sha1AB || e.File != more {
		t.Errorf("esx09.example.com: %+v", e)
	}
	if _, ok := k.Lookup("esx04.example.com"); !ok || k.Len() != 9 {
		t.Errorf("merged: %v", k.Servers())
	}
	override := filepath.Join(dir, "override")
	if err := os.WriteFile(override, []byte("vc.example.com "+sha1AB+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadKnownHostsList("testdata/govc_known_hosts" + string(os.PathListSeparator) + override)
	if want := "known-hosts file " + override + `, line 1: host "vc.example.com" is pinned with another fingerprint by testdata/govc_known_hosts:1`; err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, errkind.ErrInvalid) {
		t.Errorf("conflicting files: %v, want %q", err, want)
	}
	if _, err := LoadKnownHostsList(list + string(os.PathListSeparator) + filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file in list: %v", err)
	}
	if _, err := LoadKnownHostsList(""); !errors.Is(err, errkind.ErrInvalid) {
		t.Errorf("empty list: %v", err)
	}
}

func TestServerKey(t *testing.T) {
	for in, want := range map[string]string{
		"esx01":                      "esx01:443",
		" ESX01.Example.com. ":       "esx01.example.com:443",
		"esx01:8443":                 "esx01:8443",
		"192.0.2.1":                  "192.0.2.1:443",
		"::1":                        "[::1]:443",
		"[::1]":                      "[::1]:443",
		"[::1]:9443":                 "[::1]:9443",
		"https://root@esx01:444/sdk": "esx01:444",
		"https://[2001:db8::1]/sdk":  "[2001:db8::1]:443",
	} {
		if got, err := ServerKey(in); got != want || err != nil {
			t.Errorf("ServerKey(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ":443", "esx01:65536", "esx01:+443", "esx01:0443", "a/b", "https://", "[::1]x"} {
		if got, err := ServerKey(in); err == nil {
			t.Errorf("ServerKey(%q) = %q", in, got)
		}
	}
}

// A long server name is echoed as every input value is (textsafe.Clip): its
// first textsafe.MaxEcho bytes and its size, not the whole of it.
func TestServerKeyClipsLongInput(t *testing.T) {
	long := strings.Repeat("h", 300) + "/x"
	_, err := ServerKey(long)
	want := fmt.Sprintf("server %q is not a host name or address", strings.Repeat("h", 64)+"…(302 bytes)")
	if err == nil || err.Error() != want {
		t.Fatalf("ServerKey(<302 bytes>) = %v; want %s", err, want)
	}
}
