package esxsim

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkStartVCenter starts a simulated vCenter with 50 and 200 hosts
// (the fleet tests' largest fleet is 200 hosts) and reports, beside the
// time per start, the live heap of the process while it runs (after a GC;
// the test binary itself holds under 2 MB).
//
//	go test -run '^$' -bench StartVCenter -benchtime 3x ./internal/sim/esxsim
//
// cmds/esxi-manage-users' BenchmarkSimulateVCenterStart measures the
// simulate command's resident memory.
func BenchmarkStartVCenter(b *testing.B) {
	for _, n := range []int{50, 200} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			var heap uint64
			for i := 0; i < b.N; i++ {
				v, err := StartVCenter(VCenterOptions{Hosts: n})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				heap += ms.HeapAlloc
				v.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(heap)/float64(b.N)/(1<<20), "heap-MB")
		})
	}
}
