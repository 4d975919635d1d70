//go:build unix

package bench

import (
	"os"
	"runtime"
	"syscall"
)

// maxRSSKB is a finished process's peak resident set in KiB, from its
// rusage (ru_maxrss: KiB on Linux and the BSDs, bytes on macOS).
func maxRSSKB(ps *os.ProcessState) (int64, bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, false
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) / 1024, true
	}
	return int64(ru.Maxrss), true
}
