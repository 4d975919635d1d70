// Package hostmatch selects the hosts of a vCenter with glob patterns, as
// `--vihost` takes them for a fleet: `esx-*`,
// `/DC0/host/Cluster1/*`, `192.0.2.1?`.
//
// Patterns are path.Match globs: `*` (any run of characters but "/"), `?`
// (one character but "/"), `[...]` (a class, `[^...]` negated), `\` quoting
// the next character.
//
//   - A pattern starting with "/" is matched against the host's inventory
//     path (`/DC0/host/Cluster1/esx01`, as govc prints it and find.Finder
//     resolves it) and the paths of its ancestors: `/DC0/host/Cluster1`
//     selects the hosts of that cluster, `/DC0` those of the datacenter,
//     and `/DC0/host/esx01` a standalone host (whose path is
//     `/DC0/host/esx01/esx01`: it sits in a compute resource of its own
//     name, where the vSphere Client shows the host itself). Paths compare
//     exactly, as govc's inventory paths do.
//   - Any other pattern is matched against the host's name (as vCenter
//     knows it, usually an FQDN or an address), its short name (the first
//     label of a name that is not an address) when the pattern has no
//     ".", and its management addresses (VMkernel interfaces): operators
//     know hosts by all three, and `--vihost` for one host takes all three
//     today. Names compare without regard to case or a final dot (DNS
//     names); an address pattern without glob characters matches the same
//     address written another way (`2001:db8::0:1`).
//
// A pattern without glob characters names one host, as a single --vihost
// does: the host of that name, else the host with that address, else the
// host with that short name; two hosts at the first of these that finds
// any (esx01.a.example and esx01.b.example for "esx01") are ambiguous, an
// error. A glob selects every host it matches in any of the three ways.
//
// Every pattern must select at least one host. A host selected by several
// patterns is selected once. The result is sorted by name, then path.
package hostmatch

import (
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/esxi-users/esxi-users/internal/errkind"
)

// Host is a candidate host.
type Host struct {
	// Name is HostSystem.name.
	Name string
	// Path is the inventory path, "/DC0/host/Cluster1/esx01".
	Path string
	// Addresses are the host's management addresses (its VMkernel
	// interfaces' IP addresses); may be empty.
	Addresses []string
}

// Validate checks the patterns' syntax, before any host is known: an empty
// pattern, or one path.Match cannot read (`[`, `[a-`, a trailing `\`), is
// an error naming it and wrapping errkind.ErrInvalid.
func Validate(patterns []string) error {
	if len(patterns) == 0 {
		return errkind.Invalidf("no host pattern given")
	}
	var errs []error
	for _, p := range patterns {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, errkind.Invalidf("empty host pattern"))
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, errkind.Invalidf("host pattern %q is not a valid glob (%w): use * ? [abc] [a-z] [^abc], and \\ before a literal *, ? or [", p, err))
		}
	}
	return errors.Join(errs...)
}

// Match returns the hosts the patterns select (see the package comment).
// Errors — a pattern that is invalid, selects no host, or (without glob
// characters) selects more than one — name each pattern at fault, all of
// them at once, and wrap errkind.ErrInvalid: nothing is to be done.
func Match(hosts []Host, patterns []string) ([]Host, error) {
	if err := Validate(patterns); err != nil {
		return nil, err
	}
	selected := map[int]bool{}
	var errs []error
	for _, raw := range patterns {
		p := strings.TrimSpace(raw)
		hits := selectHosts(p, hosts)
		switch {
		case len(hits) == 0:
			errs = append(errs, errkind.Invalidf("host pattern %q matches no host (%s)", raw, describe(p, len(hosts))))
		case len(hits) > 1 && !hasMeta(p) && !strings.HasPrefix(p, "/"):
			names := make([]string, len(hits))
			for i, h := range hits {
				names[i] = hosts[h].Name
			}
			sort.Strings(names)
			errs = append(errs, errkind.Invalidf("host %q is ambiguous: it matches %s; give the host's full name or a pattern", raw, strings.Join(names, ", ")))
		default:
			for _, i := range hits {
				selected[i] = true
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out := make([]Host, 0, len(selected))
	for i := range selected {
		out = append(out, hosts[i])
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

// describe says what a pattern was matched against, for "matches no host".
func describe(p string, n int) string {
	hosts := fmt.Sprintf("%d hosts", n)
	if n == 1 {
		hosts = "1 host"
	}
	if strings.HasPrefix(p, "/") {
		return hosts + `; a pattern starting with "/" is matched against inventory paths such as /DC0/host/Cluster1/esx01, exactly`
	}
	if strings.Contains(p, "/") {
		return hosts + `; names have no "/": inventory paths start with "/", as in /DC0/host/Cluster1/*`
	}
	return hosts + "; matched against names, short names and management addresses, in any case"
}

// levels are the ways a name pattern (valid, trimmed) selects a host, in
// the order a pattern without glob characters tries them, as a single
// --vihost does: the first that selects a host decides, so "esx01" is the
// host named esx01 even when esx01.example.com exists too. A glob selects
// the hosts of every level.
var levels = []func(p string, h Host) bool{
	// The name.
	func(p string, h Host) bool {
		if ok, _ := path.Match(dnsName(p), dnsName(h.Name)); ok {
			return true
		}
		return sameIP(p, h.Name)
	},
	// A management address.
	func(p string, h Host) bool {
		for _, a := range h.Addresses {
			if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(a)); ok || sameIP(p, a) {
				return true
			}
		}
		return false
	},
	// The short name, for a pattern without a ".".
	func(p string, h Host) bool {
		if strings.Contains(p, ".") || net.ParseIP(h.Name) != nil {
			return false
		}
		short, _, _ := strings.Cut(dnsName(h.Name), ".")
		ok, _ := path.Match(dnsName(p), short)
		return ok
	},
}

// selectHosts returns the indexes of the hosts pattern p (valid, trimmed)
// selects.
func selectHosts(p string, hosts []Host) []int {
	var hits []int
	if strings.HasPrefix(p, "/") {
		for i, h := range hosts {
			if matchPath(p, h.Path) {
				hits = append(hits, i)
			}
		}
		return hits
	}
	for _, match := range levels {
		for i, h := range hosts {
			if match(p, h) && !slices.Contains(hits, i) {
				hits = append(hits, i)
			}
		}
		if len(hits) > 0 && !hasMeta(p) {
			return hits
		}
	}
	sort.Ints(hits)
	return hits
}

// matchPath reports whether path pattern p selects the host at inventory
// path hp: it matches hp or one of its ancestors.
func matchPath(p, hp string) bool {
	p = strings.TrimSuffix(p, "/")
	for q := strings.TrimSuffix(hp, "/"); q != "" && q != "/" && q != "."; q = path.Dir(q) {
		if ok, _ := path.Match(p, q); ok {
			return true
		}
	}
	return false
}

// sameIP reports whether a and b are the same IP address, however written.
func sameIP(a, b string) bool {
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	return ia != nil && ib != nil && ia.Equal(ib)
}

// dnsName is a name compared as DNS compares it: in lower case, without a
// final dot.
func dnsName(s string) string { return strings.TrimSuffix(strings.ToLower(s), ".") }

// hasMeta reports whether p has glob characters.
func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }
