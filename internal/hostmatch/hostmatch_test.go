package hostmatch

import (
	"errors"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// inventory is a vCenter with vcsim's names in DC0 (standalone hosts and
// two clusters) and FQDN-named hosts in DC1 (a cluster, a standalone host
// in a folder, a host added by address), and DC2's host named "esx01".
var inventory = []Host{
	{"DC0_H0", "/DC0/host/DC0_H0/DC0_H0", []string{"192.0.2.10"}},
	{"DC0_H1", "/DC0/host/DC0_H1/DC0_H1", []string{"192.0.2.11"}},
	{"DC0_C0_H0", "/DC0/host/DC0_C0/DC0_C0_H0", []string{"192.0.2.12"}},
	{"DC0_C0_H1", "/DC0/host/DC0_C0/DC0_C0_H1", []string{"192.0.2.13"}},
	{"DC0_C1_H0", "/DC0/host/DC0_C1/DC0_C1_H0", []string{"192.0.2.14", "2001:db8::14"}},
	{"esx01.a.example", "/DC1/host/Prod/esx01.a.example", []string{"198.51.100.1"}},
	{"esx01.b.example", "/DC1/host/Lab/esx01.b.example", nil},
	{"ESX02.a.example.", "/DC1/host/Racks/esx02.a.example/ESX02.a.example.", []string{"198.51.100.2"}},
	{"198.51.100.7", "/DC1/host/198.51.100.7/198.51.100.7", nil},
	{"esx01", "/DC2/host/esx01/esx01", nil},
}

func names(hs []Host) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		want     []string
	}{
		// Names: globs, any case, a final dot ignored.
		{[]string{"DC0_H*"}, []string{"DC0_H0", "DC0_H1"}},
		{[]string{"dc0_c?_h0"}, []string{"DC0_C0_H0", "DC0_C1_H0"}},
		{[]string{"DC0_C[01]_H1"}, []string{"DC0_C0_H1"}},
		{[]string{"DC0_[^C]*"}, []string{"DC0_H0", "DC0_H1"}},
		{[]string{"esx02.a.example"}, []string{"ESX02.a.example."}},
		{[]string{"ESX0*.A.EXAMPLE."}, []string{"ESX02.a.example.", "esx01.a.example"}},
		// Short names, for patterns without a dot.
		{[]string{"esx02"}, []string{"ESX02.a.example."}},
		{[]string{"esx0?"}, []string{"ESX02.a.example.", "esx01", "esx01.a.example", "esx01.b.example"}},
		// A literal name first, before short names: "esx01" is esx01.
		{[]string{"esx01"}, []string{"esx01"}},
		// Addresses: management addresses and hosts named by address;
		// literal IPs however written.
		{[]string{"192.0.2.1[34]"}, []string{"DC0_C0_H1", "DC0_C1_H0"}},
		{[]string{"198.51.100.*"}, []string{"198.51.100.7", "ESX02.a.example.", "esx01.a.example"}},
		{[]string{"2001:DB8:0::14"}, []string{"DC0_C1_H0"}},
		{[]string{"198.51.100.7"}, []string{"198.51.100.7"}},
		// Inventory paths, exactly; ancestors select their hosts.
		{[]string{"/DC0/host/DC0_C0/*"}, []string{"DC0_C0_H0", "DC0_C0_H1"}},
		{[]string{"/DC0/host/DC0_C1"}, []string{"DC0_C1_H0"}},
		{[]string{"/DC0/host/DC0_C1/"}, []string{"DC0_C1_H0"}},
		{[]string{"/DC0/host/DC0_H1"}, []string{"DC0_H1"}},
		{[]string{"/DC0/host/*/DC0_H?"}, []string{"DC0_H0", "DC0_H1"}},
		{[]string{"/DC1"}, []string{"198.51.100.7", "ESX02.a.example.", "esx01.a.example", "esx01.b.example"}},
		{[]string{"/DC1/host/Racks/*"}, []string{"ESX02.a.example."}},
		{[]string{"/*/host/esx01"}, []string{"esx01"}},
		// Several patterns: a host once, sorted by name.
		{[]string{"DC0_H0", "/DC0/host/DC0_H0/*", "192.0.2.10", " DC0_H* "}, []string{"DC0_H0", "DC0_H1"}},
		{[]string{"/DC0/host/DC0_C1/*", "esx01.b.example", "DC0_H1"}, []string{"DC0_C1_H0", "DC0_H1", "esx01.b.example"}},
		{[]string{"*"}, []string{"198.51.100.7", "DC0_C0_H0", "DC0_C0_H1", "DC0_C1_H0", "DC0_H0", "DC0_H1", "ESX02.a.example.", "esx01", "esx01.a.example", "esx01.b.example"}},
		// \ quotes a glob character.
		{[]string{`DC0\_H0`}, []string{"DC0_H0"}},
	} {
		got, err := Match(inventory, tc.patterns)
		if err != nil || !reflect.DeepEqual(names(got), tc.want) {
			t.Errorf("%q: %v %v, want %v", tc.patterns, names(got), err, tc.want)
		}
	}
}

func TestMatchErrors(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		want     []string
	}{
		{nil, []string{"no host pattern given"}},
		{[]string{""}, []string{"empty host pattern"}},
		{[]string{"["}, []string{`host pattern "[" is not a valid glob (syntax error in pattern)`}},
		{[]string{"DC0_H[0-"}, []string{`host pattern "DC0_H[0-" is not a valid glob`}},
		{[]string{`DC0_H0\`}, []string{`host pattern "DC0_H0\\" is not a valid glob`}},
		{[]string{"/DC0/host/[", "esx[", "DC0_H0"}, []string{`"/DC0/host/["`, `"esx["`}},
		{[]string{"esx9*"}, []string{`host pattern "esx9*" matches no host (10 hosts; matched against names, short names and management addresses, in any case)`}},
		{[]string{"/DC0/host/DC0_C0/*", "/dc0/host/*"}, []string{`host pattern "/dc0/host/*" matches no host (10 hosts; a pattern starting with "/" is matched against inventory paths such as /DC0/host/Cluster1/esx01, exactly)`}},
		{[]string{"DC0/host/*"}, []string{`inventory paths start with "/"`}},
		{[]string{"/"}, []string{`host pattern "/" matches no host`}},
		{[]string{"nope1", "DC0_H0", "nope2"}, []string{`"nope1" matches no host`, `"nope2" matches no host`}},
		// Literal short names that two hosts share.
		{[]string{"esx01.a.example", "ESX01."}, nil}, // "esx01." is the host esx01: fine
		{[]string{"DC0_H0", "esx02.A.example"}, nil},
	} {
		got, err := Match(inventory, tc.patterns)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%q: %v", tc.patterns, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q: %v, want an error", tc.patterns, names(got))
			continue
		}
		if !errors.Is(err, errkind.ErrInvalid) {
			t.Errorf("%q: %v does not wrap errkind.ErrInvalid", tc.patterns, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %q, want %q", tc.patterns, err, w)
			}
		}
	}

	fqdn := []Host{
		{Name: "esx01.a.example", Path: "/DC1/host/Prod/esx01.a.example"},
		{Name: "esx01.b.example", Path: "/DC1/host/Lab/esx01.b.example"},
	}
	_, err := Match(fqdn, []string{"esx01"})
	if want := `host "esx01" is ambiguous: it matches esx01.a.example, esx01.b.example`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("ambiguous short name: %v, want %q", err, want)
	}
	if got, err := Match(fqdn, []string{"esx01*"}); err != nil || len(got) != 2 {
		t.Errorf("glob over both: %v %v", names(got), err)
	}
	if _, err := Match(nil, []string{"*"}); err == nil || !strings.Contains(err.Error(), "(0 hosts;") {
		t.Errorf("no hosts: %v", err)
	}
}

func TestValidate(t *testing.T) {
	if err := Validate([]string{"esx-*", "/DC0/host/Cluster1/*", "192.0.2.1?", `a\*`}); err != nil {
		t.Errorf("valid patterns: %v", err)
	}
	err := Validate([]string{"ok", "[", " "})
	if err == nil || !strings.Contains(err.Error(), `"["`) || !strings.Contains(err.Error(), "empty host pattern") || !errors.Is(err, errkind.ErrInvalid) {
		t.Errorf("invalid patterns: %v", err)
	}
	// The glob's own error is wrapped, not only printed.
	if !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("invalid patterns: %v does not wrap path.ErrBadPattern", err)
	}
}
