package main

import (
	"bytes"
	"context"
	"os"
	"time"
)

// phase is one measured load with what it cost.
type phase struct {
	Name string
	Run  runResult
	// CPU is each party's CPU time from the start of the measured load
	// until the processes were quiet again (read models caught up);
	// Client is the load generator's (a process of its own).
	CPU    map[string]time.Duration
	Client time.Duration
	// Settle is how long the processes kept busy after the load.
	Settle time.Duration
	// Conflicts counts "too many concurrent changes" in the serve
	// processes' logs during the phase.
	Conflicts int
}

// measure runs j (after a warm-up of the same load when warmup > 0) once
// the processes are quiet, and samples every party's CPU time around it.
func (e *env) measure(ctx context.Context, name string, j job, warmup time.Duration) (phase, error) {
	ph := phase{Name: name}
	if warmup > 0 {
		w := j
		w.Duration = warmup
		e.logf("%s: warm-up %s", name, warmup)
		if _, err := spawn(ctx, w, e.stderr); err != nil {
			return ph, err
		}
	}
	e.waitQuiet(ctx)
	sizes := e.logSizes()
	e.logf("%s: %s, %d in flight", name, j.Duration, j.InFlight)
	before := e.sample()
	res, err := spawn(ctx, j, e.stderr)
	if err != nil {
		return ph, err
	}
	ph.Run, ph.Client = res.Run, res.CPU
	ph.Settle = e.waitQuiet(ctx)
	ph.CPU = e.sample().since(before)
	ph.Conflicts = e.countSince(sizes, "too many concurrent changes")
	if r := ph.Run; r.Errors > 0 || r.Completed() != r.Total() {
		e.logf("%s: %d of %d did not complete (errors %d, first: %s)", name, r.Total()-r.Completed(), r.Total(), r.Errors, r.FirstErr)
	}
	return ph, ctx.Err()
}

// logSizes is the size of each serve process's log now.
func (e *env) logSizes() map[string]int64 {
	out := map[string]int64{}
	for _, p := range e.procs {
		if st, err := os.Stat(p.logPath()); err == nil {
			out[p.id] = st.Size()
		}
	}
	return out
}

// countSince counts s in what the serve processes logged after sizes.
func (e *env) countSince(sizes map[string]int64, s string) int {
	n := 0
	for _, p := range e.procs {
		b, err := os.ReadFile(p.logPath())
		if err != nil || int64(len(b)) < sizes[p.id] {
			continue
		}
		n += bytes.Count(b[sizes[p.id]:], []byte(s))
	}
	return n
}
