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

// cpuMeter samples the CPU time of the processes a saga costs: serve (the
// embedded nats-server included), its PostgreSQL cluster (the postmaster
// and its backends) and this bench process (the HTTP clients, or the raw
// baseline's JetStream client).
type cpuMeter struct {
	serve int
	pgDir string
}

// cpuSample is the CPU time each process had used at one moment.
type cpuSample struct {
	serve, self time.Duration
	pg          map[int]time.Duration // by pid
}

// cpuUse is the CPU time used between two samples.
type cpuUse struct {
	Serve, PostgreSQL, Client time.Duration
}

// Total is the CPU time of every process measured.
func (u cpuUse) Total() time.Duration { return u.Serve + u.PostgreSQL + u.Client }

// PerSaga divides u by n sagas.
func (u cpuUse) PerSaga(n int) cpuUse {
	if n <= 0 {
		return cpuUse{}
	}
	d := time.Duration(n)
	return cpuUse{Serve: u.Serve / d, PostgreSQL: u.PostgreSQL / d, Client: u.Client / d}
}

func (u cpuUse) String() string {
	return fmt.Sprintf("%.2f ms (serve %.2f, PostgreSQL %.2f, bench client %.2f)",
		ms(u.Total()), ms(u.Serve), ms(u.PostgreSQL), ms(u.Client))
}

func (m cpuMeter) sample() (cpuSample, error) {
	var s cpuSample
	var err error
	if s.serve, err = cpuTime(m.serve); err != nil {
		return s, fmt.Errorf("cpu of serve: %w", err)
	}
	if s.self, err = cpuTime(os.Getpid()); err != nil {
		return s, fmt.Errorf("cpu of the bench: %w", err)
	}
	s.pg = map[int]time.Duration{}
	if m.pgDir == "" {
		return s, nil
	}
	pids, err := processTree(m.pgDir)
	if err != nil {
		return s, err
	}
	for _, pid := range pids {
		if c, err := cpuTime(pid); err == nil { // a backend may just have exited
			s.pg[pid] = c
		}
	}
	return s, nil
}

// since returns the CPU time used from earlier to s. A PostgreSQL process
// that started in between counts whole; one that exited in between is
// lost (the pool keeps its backends).
func (s cpuSample) since(earlier cpuSample) cpuUse {
	u := cpuUse{Serve: s.serve - earlier.serve, Client: s.self - earlier.self}
	for pid, c := range s.pg {
		u.PostgreSQL += c - earlier.pg[pid]
	}
	return u
}

// processTree returns the postmaster of the cluster in pgDir and its
// children.
func processTree(pgDir string) ([]int, error) {
	pid, err := benchserve.PostmasterPID(pgDir)
	if err != nil {
		return nil, err
	}
	out := []int{pid}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		c, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(c)) {
			if child, err := strconv.Atoi(f); err == nil {
				out = append(out, child)
			}
		}
	}
	return out, nil
}

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
