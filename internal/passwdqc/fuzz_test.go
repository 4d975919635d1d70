package passwdqc

import (
	"github.com/esxi-users/esxi-users/internal/testsupport/missing"
	"strings"
	"sync"
	"testing"
)

// FuzzAgainstPwqcheck compares Check/CheckChange with a live pwqcheck
// --multi process per policy on random input. Inputs are filtered to what
// pwqcheck can read: no CR, LF or NUL, bounded length.
//
//	go test -run '^$' -fuzz FuzzAgainstPwqcheck -fuzztime 20s ./internal/passwdqc
func FuzzAgainstPwqcheck(f *testing.F) {
	for i, pw := range documentedPasswords {
		f.Add(uint8(i), pw, "", "Alice Liddell")
	}
	f.Add(uint8(0), "alice123!", "", "Alice")
	f.Add(uint8(4), "xQaT3#Ab-longer", "xQaT3#Ab", "")
	f.Add(uint8(1), "correct horse battery staple", "", "Veeam Backup Service")
	f.Add(uint8(6), "Zyx\xe2\x82\xacrv9 1qaz", "old pass", "")
	f.Add(uint8(8), "a\x01b\x7fc\xffd", "", "x")

	var (
		once    sync.Once
		oracles []*liveOracle
		pols    []Policy
	)
	f.Cleanup(func() {
		for _, o := range oracles {
			o.close()
		}
	})
	f.Fuzz(func(t *testing.T, polIdx uint8, pw, old, gecos string) {
		once.Do(func() {
			for _, pol := range oraclePolicies {
				p, err := Parse(pol.opts)
				if err != nil {
					t.Fatalf("Parse(%q): %v", pol.opts, err)
				}
				pols = append(pols, p)
				oracles = append(oracles, startLiveOracle(t, strings.Fields(pol.opts)))
			}
		})
		if oracles == nil {
			missing.Tool(t, "pwqcheck's oracle unavailable")
		}
		clean := func(s string, n int, extra string) string {
			s = strings.Map(func(r rune) rune {
				if strings.ContainsRune("\r\n\x00"+extra, r) {
					return -1
				}
				return r
			}, s)
			if len(s) > n {
				s = s[:n]
			}
			return s
		}
		pw, old, gecos = clean(pw, 120, ""), clean(old, 120, ""), clean(gecos, 60, ":")
		k := int(polIdx) % len(pols)
		c := oracleCase{New: pw, Old: old, User: "alice", Gecos: gecos, Tag: "fuzz"}
		want, err := oracles[k].ask(c)
		if err != nil {
			t.Fatalf("pwqcheck: %v", err)
		}
		if got := pols[k].goVerdict(c); got != want {
			t.Errorf("policy %q: new=%q old=%q gecos=%q: Go %q, pwqcheck %q", oraclePolicies[k].opts, pw, old, gecos, got, want)
		}
	})
}
