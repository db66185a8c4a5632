package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// reSweep is the line the saga manager logs when its safety-net sweep
// re-issued sagas idle past a step's timeout (an owner lost them).
var reSweep = regexp.MustCompile(`msg="safety-net sweep re-issued[^"]*".*count=([0-9]+)`)

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
	// Sweeps counts the safety-net sweep's firings in the serve logs
	// during the phase, Swept the sagas they re-issued.
	Sweeps, Swept int
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
	ph.Sweeps, ph.Swept = e.sweepsSince(sizes)
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

// sweepsSince counts the safety-net sweep's firings the serve processes
// logged after sizes, and the sagas they re-issued.
func (e *env) sweepsSince(sizes map[string]int64) (fires, sagas int) {
	for _, p := range e.procs {
		b, err := os.ReadFile(p.logPath())
		if err != nil || int64(len(b)) < sizes[p.id] {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b[sizes[p.id]:]))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if m := reSweep.FindStringSubmatch(sc.Text()); m != nil {
				n, _ := strconv.Atoi(m[1])
				fires, sagas = fires+1, sagas+n
			}
		}
	}
	return fires, sagas
}

// pair is one alternation: the loads with p1 alone, then with p1 and p2.
type pair struct {
	One, Two, HotOne, HotTwo phase
}

// pool adds b's figures to a's: the rate of the pooled phase is every
// completed operation over the sum of the elapsed times, its percentiles
// those of every latency.
func pool(a, b phase) phase {
	if a.Run.Total() == 0 {
		return b
	}
	if b.Run.Total() == 0 {
		return a
	}
	out := a
	out.Run.Elapsed += b.Run.Elapsed
	out.Run.Outcomes = map[string]int{}
	for _, m := range []map[string]int{a.Run.Outcomes, b.Run.Outcomes} {
		for k, v := range m {
			out.Run.Outcomes[k] += v
		}
	}
	out.Run.Errors += b.Run.Errors
	if out.Run.FirstErr == "" {
		out.Run.FirstErr = b.Run.FirstErr
	}
	out.Run.Latencies = slices.Sorted(slices.Values(append(slices.Clone(a.Run.Latencies), b.Run.Latencies...)))
	out.CPU = map[string]time.Duration{}
	for _, m := range []map[string]time.Duration{a.CPU, b.CPU} {
		for k, v := range m {
			out.CPU[k] += v
		}
	}
	out.Client += b.Client
	out.Settle = max(a.Settle, b.Settle)
	out.Conflicts += b.Conflicts
	out.Sweeps += b.Sweeps
	out.Swept += b.Swept
	return out
}

// idleCPU is each party's CPU time over d without any load: the fixed cost
// of the processes (partition ticks and pulls, heartbeats, projector
// pulls, the sweep) and of the cluster.
func (e *env) idleCPU(ctx context.Context, d time.Duration) map[string]time.Duration {
	e.waitQuiet(ctx)
	before := e.sample()
	sleep(ctx, d)
	return e.sample().since(before)
}
