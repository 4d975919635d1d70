package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkSimulateVCenterStart starts `simulate --vcenter --hosts N` as
// operators and fleet benchmarks run it, and reports the time until its
// last "host:" line and the process's resident memory then (VmRSS, and its
// peak VmHWM; Linux only): 200 hosts is the fleet size the fleet tests
// and benchmarks are held to.
//
//	go test -run '^$' -bench SimulateVCenterStart -benchtime 1x ./cmds/esxi-manage-users
func BenchmarkSimulateVCenterStart(b *testing.B) {
	for _, n := range []int{50, 200} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			var took time.Duration
			var rss, hwm float64
			for i := 0; i < b.N; i++ {
				d, r, h := startSimulateVCenter(b, n)
				took += d
				rss += r
				hwm += h
			}
			b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "start-ms")
			if rss > 0 {
				b.ReportMetric(rss/float64(b.N), "rss-MB")
				b.ReportMetric(hwm/float64(b.N), "peak-rss-MB")
			}
		})
	}
}

// startSimulateVCenter runs one simulator with n hosts until it has printed
// its hosts, and returns the time that took and its RSS and peak RSS in MB
// (0 where /proc is not there).
func startSimulateVCenter(b *testing.B, n int) (time.Duration, float64, float64) {
	b.Helper()
	cmd := exec.Command(binary, "simulate", "--listen", "127.0.0.1:0", "--vcenter", "--hosts", strconv.Itoa(n))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	hosts := 0
	for hosts < n && sc.Scan() {
		if strings.HasPrefix(sc.Text(), "host: ") {
			hosts++
		}
	}
	took := time.Since(start)
	if hosts != n {
		b.Fatalf("%d host lines, want %d", hosts, n)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return took, 0, 0
	}
	return took, procMB(status, "VmRSS:"), procMB(status, "VmHWM:")
}

// procMB returns a "Key:   1234 kB" field of /proc/PID/status in MB.
func procMB(status []byte, key string) float64 {
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
