package esxsim

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkStartVCenter starts a simulated vCenter with 50 and 200 hosts
// (issue 13: fleet tests run against 200 hosts) and reports the heap the
// running vCenter holds (after a GC) beside the time per start.
func BenchmarkStartVCenter(b *testing.B) {
	for _, n := range []int{50, 200} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			var heap uint64
			for i := 0; i < b.N; i++ {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				v, err := StartVCenter(VCenterOptions{Hosts: n})
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				heap += after.HeapAlloc - before.HeapAlloc
				v.Close()
			}
			b.ReportMetric(float64(heap)/float64(b.N)/(1<<20), "heapMB/op")
		})
	}
}
