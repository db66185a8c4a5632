package loadloop

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Op runs operation n on worker and returns its outcome: a terminal saga
// status, or "completed".
type Op func(ctx context.Context, worker, n int) (string, error)

// Result is one measured load: every operation started, how each ended,
// and the latencies of the completed ones.
type Result struct {
	// Elapsed runs from the first start until the last operation ended.
	Elapsed time.Duration `json:"elapsed"`
	// Outcomes counts the operations by outcome.
	Outcomes map[string]int `json:"outcomes"`
	// Errors counts operations that failed to run (HTTP or transport
	// errors, no terminal status in time); FirstErr is the first one's.
	Errors   int    `json:"errors"`
	FirstErr string `json:"first_err,omitempty"`
	// Latencies are the completed operations' durations, sorted.
	Latencies []time.Duration `json:"latencies"`
}

// Completed is how many operations completed.
func (r Result) Completed() int { return r.Outcomes["completed"] }

// Total is how many operations ran, whatever their outcome.
func (r Result) Total() int {
	n := r.Errors
	for _, v := range r.Outcomes {
		n += v
	}
	return n
}

// Rate is completed operations per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Completed()) / r.Elapsed.Seconds()
}

// Percentile is the q-quantile (0..1) of the completed latencies, nearest
// rank; zero without any.
func (r Result) Percentile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.Latencies))+0.5) - 1
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

// Drive runs inFlight workers, each running one operation after the other
// with fn, starting new ones for d or until maxOps started (no bound when
// 0); operations started in time run to their end.
func Drive(ctx context.Context, inFlight int, d time.Duration, maxOps int, fn Op) Result {
	type part struct {
		lat      []time.Duration
		outcomes map[string]int
		errors   int
		firstErr string
	}
	parts := make([]part, inFlight)
	var mu sync.Mutex
	started := 0
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if maxOps > 0 && started >= maxOps {
			return 0, false
		}
		started++
		return started, true
	}
	begin := time.Now()
	deadline := begin.Add(d)
	var wg sync.WaitGroup
	for w := range inFlight {
		wg.Go(func() {
			p := &parts[w]
			p.outcomes = map[string]int{}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n, ok := take()
				if !ok {
					return
				}
				t0 := time.Now()
				outcome, err := fn(ctx, w, n)
				took := time.Since(t0)
				switch {
				case err != nil:
					p.errors++
					if p.firstErr == "" {
						p.firstErr = err.Error()
					}
				default:
					p.outcomes[outcome]++
					if outcome == "completed" {
						p.lat = append(p.lat, took)
					}
				}
			}
		})
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(begin), Outcomes: map[string]int{}}
	for _, p := range parts {
		res.Latencies = append(res.Latencies, p.lat...)
		for k, v := range p.outcomes {
			res.Outcomes[k] += v
		}
		res.Errors += p.errors
		if res.FirstErr == "" {
			res.FirstErr = p.firstErr
		}
	}
	slices.Sort(res.Latencies)
	return res
}
