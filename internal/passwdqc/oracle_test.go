package passwdqc

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// minOracleCases is the smallest acceptable differential corpus.
const minOracleCases = 20000

// shortSample divides every policy's case count under -short: the same
// deterministic corpus, cut to its first tenth (the documented passwords and
// the first generated cases), so the inner loop (`make test-short`) still
// asks pwqcheck under every policy; `make test` runs it whole.
const shortSample = 10

type policyResult struct {
	opts     string
	cases    int
	agree    int
	reasons  map[string]int // pwqcheck's verdicts ("" = OK)
	failures []string
	err      error
}

// TestOracleAgainstPwqcheck runs a deterministic corpus under every policy of
// oraclePolicies through Debian's `pwqcheck --multi` (one process per
// policy) and through Check/CheckChange, and requires the same verdict and
// reason for every case.
func TestOracleAgainstPwqcheck(t *testing.T) {
	path := pwqcheckPath(t)
	scale, minCases := 1, minOracleCases
	if testing.Short() {
		scale, minCases = shortSample, minOracleCases/shortSample
		t.Logf("-short: 1/%d of the corpus", shortSample)
	}
	results := make([]policyResult, len(oraclePolicies))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, pol := range oraclePolicies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = runOraclePolicy(path, pol.opts, uint64(1000+i), pol.cases/scale)
		}()
	}
	wg.Wait()

	total, agree := 0, 0
	for _, r := range results {
		if r.err != nil {
			t.Errorf("policy %q: %v", r.opts, r.err)
			continue
		}
		for _, f := range r.failures {
			t.Error(f)
		}
		total += r.cases
		agree += r.agree
		t.Logf("policy %-72q %5d cases, %5d agree; verdicts %v", r.opts, r.cases, r.agree, r.reasons)
		// A corpus that only ever fails one way proves little.
		if r.opts != "random=47,only" && (r.reasons[""] == 0 || len(r.reasons) < 3) {
			t.Errorf("policy %q: corpus too uniform: %v", r.opts, r.reasons)
		}
	}
	if total > 0 {
		t.Logf("total: %d cases under %d policies, %d agree (%.3f%%)", total, len(oraclePolicies), agree, 100*float64(agree)/float64(total))
	}
	if total < minCases {
		t.Errorf("corpus too small: %d cases, want >= %d", total, minCases)
	}
}

func runOraclePolicy(path, opts string, seed uint64, n int) policyResult {
	res := policyResult{opts: opts}
	p, err := Parse(opts)
	if err != nil {
		res.err = fmt.Errorf("Parse: %w", err)
		return res
	}
	cases := generateCorpus(p, seed, n)
	want, err := runPwqcheck(path, strings.Fields(opts), cases)
	if err != nil {
		res.err = err
		return res
	}
	res.cases = len(cases)
	res.reasons = map[string]int{}
	for k, c := range cases {
		res.reasons[want[k]]++
		got := p.goVerdict(c)
		if got == want[k] {
			res.agree++
			continue
		}
		if len(res.failures) < 20 {
			res.failures = append(res.failures, fmt.Sprintf(
				"policy %q, case %d [%s]: new=%q old=%q user=%q gecos=%q: Go %q, pwqcheck %q",
				opts, k, c.Tag, c.New, c.Old, c.User, c.Gecos, got, want[k]))
		}
	}
	return res
}
