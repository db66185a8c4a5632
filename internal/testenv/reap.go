package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clusterPattern names the directories of the test clusters, in the
// system temp dir.
const clusterPattern = "eventline-pg-*"

// ownerSuffix names the file beside a test cluster's directory that holds
// the PID of the test binary that started the cluster.
const ownerSuffix = ".owner"

var reapOnce sync.Once

// claim records this process as the owner of the cluster directory dir.
func claim(dir string) error {
	return os.WriteFile(dir+ownerSuffix, []byte(strconv.Itoa(os.Getpid())), 0o600)
}

// release removes dir and its owner file.
func release(dir string) {
	_ = os.RemoveAll(dir)
	_ = os.Remove(dir + ownerSuffix)
}

// reapOrphans stops and removes the test clusters under tmp whose test
// binary is gone: a binary that dies without its cleanup (a test timeout's
// panic, a kill) leaves its postgres running and its directory behind.
// Clusters of live binaries are left alone. Best effort: it returns how
// many it removed.
func reapOrphans(tmp string) int {
	owners, _ := filepath.Glob(filepath.Join(tmp, clusterPattern+ownerSuffix))
	n := 0
	for _, f := range owners {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || alive(owner) {
			continue
		}
		dir := strings.TrimSuffix(f, ownerSuffix)
		if pm, ok := postmaster(dir); ok {
			_ = syscall.Kill(pm, syscall.SIGQUIT) // immediate shutdown: the data is thrown away
			for i := 0; i < 200 && alive(pm); i++ {
				time.Sleep(50 * time.Millisecond)
			}
			if alive(pm) {
				continue
			}
		}
		release(dir)
		n++
	}
	return n
}

// postmaster returns the PID of the postgres serving data directory dir,
// when one runs (checked on its command line, so that a reused PID is
// never signalled).
func postmaster(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || !alive(pid) {
		return 0, false
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || !strings.Contains(string(cmdline), dir) {
		return 0, false
	}
	return pid, true
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // no /proc: trust the signal
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
