package tlspin

import (
	"io"
	"sort"
)

// Test helpers: what the tests read of a KnownHosts, and parsing from a
// reader (the shipped code loads files).

// Len is the number of servers pinned.
func (k KnownHosts) Len() int { return len(k.byServer) }

// Servers returns the pinned servers (host:port), sorted.
func (k KnownHosts) Servers() []string {
	out := make([]string, 0, len(k.byServer))
	for s := range k.byServer {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// ParseKnownHosts reads known-hosts entries from r; name is the file name
// errors and KnownHost.File give.
func ParseKnownHosts(r io.Reader, name string) (KnownHosts, error) {
	var k KnownHosts
	return k, k.parse(r, name)
}
