package benchserve

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventline/eventline/internal/pgcluster"
)

// PostgresURL is the eventline database of the cluster in pgDir, found
// through its postmaster.pid (the fourth line is the port), as the
// application role (its password is in the cluster's credentials file).
func PostgresURL(pgDir string) (string, error) {
	_, port, err := postmaster(pgDir)
	if err != nil {
		return "", err
	}
	return pgcluster.AppURLOf(pgDir, port)
}

// PostmasterPID is the pid of the postmaster of the cluster in pgDir.
func PostmasterPID(pgDir string) (int, error) {
	pid, _, err := postmaster(pgDir)
	return pid, err
}

// postmaster reads the pid and port of the cluster in pgDir.
func postmaster(pgDir string) (pid, port int, err error) {
	b, err := os.ReadFile(filepath.Join(pgDir, "postmaster.pid"))
	if err != nil {
		return 0, 0, err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, 0, fmt.Errorf("postmaster.pid in %s is incomplete", pgDir)
	}
	pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	if pid <= 0 || port <= 0 {
		return 0, 0, fmt.Errorf("postmaster.pid in %s is unreadable", pgDir)
	}
	return pid, port, nil
}

// StopPostgres stops a cluster left running in pgDir (fast shutdown, then
// immediate, then SIGKILL), e.g. after its owner was killed. It does
// nothing when no cluster runs there.
func StopPostgres(pgDir string) {
	pid, _, err := postmaster(pgDir)
	if err != nil || syscall.Kill(pid, 0) != nil {
		return
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGKILL} {
		_ = syscall.Kill(pid, sig)
		for i := 0; i < 100; i++ {
			if syscall.Kill(pid, 0) != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
