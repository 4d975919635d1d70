package tlspin

import "sort"

// Test helpers: what the tests read of a KnownHosts.

// Servers returns the pinned servers (host:port), sorted.
func (k KnownHosts) Servers() []string {
	out := make([]string, 0, len(k.byServer))
	for s := range k.byServer {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
