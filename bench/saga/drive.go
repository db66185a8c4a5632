package main

import (
	"context"
	"slices"
	"sync"
	"time"
)

// sagaFunc runs one saga to its end and returns its outcome (a terminal
// saga status, "completed" for the raw baseline).
type sagaFunc func(ctx context.Context, worker, n int) (string, error)

// runResult is one measurement: every saga started, how each ended, and
// the latencies of the completed ones.
type runResult struct {
	// Elapsed runs from the first start until the last saga ended.
	Elapsed time.Duration
	// Outcomes counts the sagas by outcome.
	Outcomes map[string]int
	// Errors counts sagas that failed to run (HTTP or transport errors,
	// no terminal status in time); FirstErr is the first one's text.
	Errors   int
	FirstErr string
	// Latencies are the completed sagas' durations, sorted.
	Latencies []time.Duration
}

// Completed is how many sagas completed.
func (r runResult) Completed() int { return r.Outcomes["completed"] }

// Rate is completed sagas per second.
func (r runResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Completed()) / r.Elapsed.Seconds()
}

// Total is how many sagas ran, whatever their outcome.
func (r runResult) Total() int {
	n := r.Errors
	for _, v := range r.Outcomes {
		n += v
	}
	return n
}

// Percentile is the q-quantile (0..1) of the completed sagas' latencies,
// nearest rank; zero without any.
func (r runResult) Percentile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q*float64(len(r.Latencies))+0.5) - 1
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

// drive runs inFlight workers, each running one saga after the other with
// fn, starting new ones for d or until max sagas started (no bound when
// max is 0); sagas started in time run to their end.
func drive(ctx context.Context, inFlight int, d time.Duration, maxSagas int, fn sagaFunc) runResult {
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
		if maxSagas > 0 && started >= maxSagas {
			return 0, false
		}
		started++
		return started, true
	}
	begin := time.Now()
	deadline := begin.Add(d)
	var wg sync.WaitGroup
	for w := range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
		}()
	}
	wg.Wait()
	res := runResult{Elapsed: time.Since(begin), Outcomes: map[string]int{}}
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
