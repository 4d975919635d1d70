//go:build linux

// Package tools holds the project's scripts; its tests run them.
package tools

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/esxi-users/esxi-users/internal/testsupport/missing"
)

// lockFile takes the write lock apt and dpkg take on path (fcntl, as
// apt-pkg's GetLock does), without waiting; the returned func releases it.
// ok is false when another process holds it.
func lockFile(t *testing.T, path string) (release func(), ok bool) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}

// tools/apt-install.sh waits while another apt or dpkg holds its locks
// (before: install-test-deps.sh failed at once, apt-get's exit 100 "Could
// not get lock /var/lib/apt/lists/lock. It is held by process …"). The
// test holds apt's lists lock, then dpkg's locks, as another apt would,
// and releases each when the script says it waits for it: the event, not a
// clock. It installs passwdqc, which the tests need anyway (a no-op when
// installed); it needs root and Debian's apt, and the package mirror for
// apt-get update.
func TestAptInstallWaitsForTheLocks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs apt-get update (the package mirror); not with -short")
	}
	if os.Geteuid() != 0 {
		missing.Tool(t, "needs root (install-test-deps.sh installs with apt as root, as CI does)")
	}
	missing.LookPath(t, "apt-get", "Debian's apt: the project's tests install their packages with it")
	releaseLists, ok := lockFile(t, "/var/lib/apt/lists/lock")
	if !ok {
		t.Skip("another apt holds the lists lock now")
	}
	defer releaseLists()
	var releaseDpkg []func()
	for _, p := range []string{"/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"} {
		r, ok := lockFile(t, p)
		if !ok {
			t.Skip("another dpkg holds its lock now")
		}
		releaseDpkg = append(releaseDpkg, r)
		defer r()
	}

	cmd := exec.Command("./apt-install.sh", "passwdqc")
	cmd.Env = append(os.Environ(), "APT_LOCK_WAIT=300")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var said []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		said = append(said, line)
		switch {
		case strings.Contains(line, "waiting for another apt or dpkg to finish (apt-get update: Could not get lock /var/lib/apt/lists/lock"):
			releaseLists()
		case strings.Contains(line, "waiting for another apt or dpkg to finish (apt-get install: Could not get lock /var/lib/dpkg/lock-frontend"):
			for _, r := range releaseDpkg {
				r()
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("apt-install.sh: %v\n%s", err, strings.Join(said, "\n"))
	}
	if text := strings.Join(said, "\n"); !strings.Contains(text, "apt-get update: Could not get lock") || !strings.Contains(text, "apt-get install: Could not get lock") {
		t.Errorf("it did not wait for both locks:\n%s", text)
	}
}
