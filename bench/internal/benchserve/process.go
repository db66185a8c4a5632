package benchserve

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, as on every Linux the benchmarks run on.
const clockTicks = 100

// PID is the serve process's pid.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Kill sends SIGKILL (as `kill -9` would: serve gets no chance to hand
// anything on) and waits until the process has exited. Stop afterwards
// only closes the log.
func (s *Server) Kill() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %s: %w", s.cfg.Name, err)
	}
	<-s.exited
	return nil
}

// LogPath is the file that receives the process's stderr.
func (s *Server) LogPath() string { return s.cfg.LogPath }

// CPUTime is process pid's user+system CPU time so far, from
// /proc/pid/stat.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}
