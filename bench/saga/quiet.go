package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eventline/eventline/bench/internal/benchserve"
)

// A measurement starts only once the serve process is quiet again: after
// the last saga of a run ended, its read models may still be catching up
// in PostgreSQL, which would slow the next measurement down.
const (
	quietWindow   = 500 * time.Millisecond
	quietCPUShare = 0.10 // of one core over quietWindow
	quietMax      = 30 * time.Second
)

// errNoChild is returned when no child process runs bin.
var errNoChild = errors.New("no child process runs the eventline binary")

// childPID is the pid of this process's child that runs bin (the serve
// process benchserve started), from /proc/self/task/*/children.
func childPID(bin string) (int, error) {
	want, err := filepath.Abs(bin)
	if err != nil {
		return 0, err
	}
	if real, err := filepath.EvalSymlinks(want); err == nil {
		want = real
	}
	tasks, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		return 0, err
	}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && exe == want {
				return pid, nil
			}
		}
	}
	return 0, errNoChild
}

// cpuTime is process pid's user+system CPU time (benchserve.CPUTime).
var cpuTime = benchserve.CPUTime

// waitQuiet waits until process pid uses less than quietCPUShare of a core
// over quietWindow, for at most quietMax, and returns how long it waited.
func waitQuiet(ctx context.Context, pid int) (time.Duration, error) {
	began := time.Now()
	for time.Since(began) < quietMax {
		c0, err := cpuTime(pid)
		if err != nil {
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(quietWindow):
		}
		c1, err := cpuTime(pid)
		if err != nil {
			return 0, err
		}
		if float64(c1-c0) < quietCPUShare*float64(quietWindow) {
			break
		}
	}
	return time.Since(began), nil
}
