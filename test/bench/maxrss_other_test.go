//go:build !unix

package bench

import "os"

// maxRSSKB is unknown where the process's rusage is not available.
func maxRSSKB(*os.ProcessState) (int64, bool) { return 0, false }
