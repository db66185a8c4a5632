package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/reactor"
)

// results are the figures of one run, each beside its raw baseline.
type results struct {
	ReactorHopsPerSec float64 `json:"reactor_hops_per_sec"`
	RawHopsPerSec     float64 `json:"raw_hops_per_sec"`
	// CPU per hop (user + system of the whole process, the embedded
	// server included), less sensitive than rates to a busy machine.
	ReactorCPUPerHop time.Duration `json:"reactor_cpu_per_hop_ns"`
	RawCPUPerHop     time.Duration `json:"raw_cpu_per_hop_ns"`
	ReactorLatency   latency       `json:"reactor_latency"`
	RawLatency       latency       `json:"raw_latency"`
}

// latency summarises hop latencies in milliseconds.
type latency struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

// hop is the payload a chain carries: which hop this is of how many, and
// when its first publish started (unix nanoseconds) for the paced runs.
type hop struct {
	N   int   `json:"n"`
	Max int   `json:"max"`
	T0  int64 `json:"t0"`
}

func measure(ctx context.Context, store *eventstore.Store, o options, logf func(string, ...any), stderr io.Writer) (results, error) {
	var res results
	var err error
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Warm up both paths (consumers, connections, allocations).
	if _, err = rawThroughput(ctx, store, o.Chains, o.Chains*5, "w"); err != nil {
		return res, err
	}
	if _, err = reactorThroughput(ctx, store, o.Chains, o.Chains*5, "w", log); err != nil {
		return res, err
	}
	// Two rounds in alternating order, so that neither path gains from
	// going second (a warmer server, a longer stream); the figure is their mean.
	for round := range 2 {
		var raw, rea float64
		tag := "t" + strconv.Itoa(round)
		measureRaw := func() error {
			c0 := cpuTime()
			raw, err = rawThroughput(ctx, store, o.Chains, o.Hops, tag)
			res.RawCPUPerHop += (cpuTime() - c0) / time.Duration(2*o.Hops)
			return err
		}
		measureReactor := func() error {
			c0 := cpuTime()
			rea, err = reactorThroughput(ctx, store, o.Chains, o.Hops, tag, log)
			res.ReactorCPUPerHop += (cpuTime() - c0) / time.Duration(2*o.Hops)
			return err
		}
		order := []func() error{measureRaw, measureReactor}
		if round == 1 {
			order = []func() error{measureReactor, measureRaw}
		}
		for _, m := range order {
			if err := m(); err != nil {
				return res, err
			}
		}
		logf("round %d: reactor %.0f hops/s, raw publish+consume %.0f hops/s", round+1, rea, raw)
		res.ReactorHopsPerSec += rea / 2
		res.RawHopsPerSec += raw / 2
	}
	if res.RawLatency, err = rawPaced(ctx, store, o.Rate, o.Paced); err != nil {
		return res, err
	}
	logf("raw paced: p50 %.3f ms p99 %.3f ms", res.RawLatency.P50, res.RawLatency.P99)
	if res.ReactorLatency, err = reactorPaced(ctx, store, o.Rate, o.Paced, log); err != nil {
		return res, err
	}
	logf("reactor paced: p50 %.3f ms p99 %.3f ms", res.ReactorLatency.P50, res.ReactorLatency.P99)
	return res, nil
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startRuntime runs r until the returned stop is called.
func startRuntime(store *eventstore.Store, r reactor.Reactor, log *slog.Logger) (func() error, error) {
	rt, err := reactor.NewRuntime(store, nil, []reactor.Reactor{r}, reactor.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	stop := func() error { cancel(); return <-done }
	// Measure from when the consumer is pulling, not from while it is
	// being created (which would count its set-up in the first hops).
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := store.JetStream().Consumer(ctx, r.Stream, r.Consumer())
		if err == nil {
			if ci, err := c.Info(ctx); err == nil && ci.NumWaiting > 0 {
				return stop, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("reactor %s: consumer not pulling after 30s", r.Name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// benchPolicy keeps every chain in flight.
var benchPolicy = reactor.Policy{MaxAckPending: 2048, AckWait: 30 * time.Second}

// reactorThroughput runs chains chains of hops/chains hops each through a
// reactor and returns hops per second.
func reactorThroughput(ctx context.Context, store *eventstore.Store, chains, hops int, tag string, log *slog.Logger) (float64, error) {
	perChain := hops / chains
	var done atomic.Int64
	finished := make(chan struct{})
	total := int64(perChain * chains)
	h := func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
		var p hop
		if err := json.Unmarshal(ev.Envelope.Data, &p); err != nil {
			return reactor.Permanent(err)
		}
		if p.N >= p.Max {
			return nil
		}
		if _, err := fx.Append(ctx, ev.Subject, eventstore.NoExpectation, "bench.hop.v1", hop{N: p.N + 1, Max: p.Max}); err != nil {
			return err
		}
		if done.Add(1) == total {
			close(finished)
		}
		return nil
	}
	r := reactor.Reactor{Name: "bench_" + tag, Stream: benchStream, Subjects: []string{"hop." + tag + ".>"}, Handler: h, Policy: benchPolicy}
	stop, err := startRuntime(store, r, log)
	if err != nil {
		return 0, err
	}
	defer stop()
	start := time.Now()
	for c := range chains {
		env, err := eventstore.NewEnvelope("bench.hop.v1", hop{N: 0, Max: perChain})
		if err != nil {
			return 0, err
		}
		if _, err := store.Append(ctx, "hop."+tag+"."+strconv.Itoa(c), eventstore.NoExpectation, env); err != nil {
			return 0, err
		}
	}
	if err := wait(ctx, finished, &done, total); err != nil {
		return 0, fmt.Errorf("reactor throughput: %w", err)
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

// reactorPaced starts one single-hop chain every 1/rate seconds for d and
// returns the latency from the source's publish to its effect stored.
func reactorPaced(ctx context.Context, store *eventstore.Store, rate int, d time.Duration, log *slog.Logger) (latency, error) {
	var rec recorder
	h := func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
		var p hop
		if err := json.Unmarshal(ev.Envelope.Data, &p); err != nil {
			return reactor.Permanent(err)
		}
		if _, err := fx.Append(ctx, "done.l", eventstore.NoExpectation, "bench.hop.v1", hop{N: 1, Max: 1}); err != nil {
			return err
		}
		rec.add(time.Since(time.Unix(0, p.T0)))
		return nil
	}
	r := reactor.Reactor{Name: "bench_paced", Stream: benchStream, Subjects: []string{"hop.l"}, Handler: h, Policy: benchPolicy}
	stop, err := startRuntime(store, r, log)
	if err != nil {
		return latency{}, err
	}
	defer stop()
	n := pace(ctx, rate, d, func() error {
		env, err := eventstore.NewEnvelope("bench.hop.v1", hop{T0: time.Now().UnixNano()})
		if err != nil {
			return err
		}
		_, err = store.Append(ctx, "hop.l", eventstore.NoExpectation, env)
		return err
	})
	return rec.summary(ctx, n)
}

// pace calls publish rate times a second for d, each in its own goroutine
// so that a slow publish does not delay the next, and returns how many.
func pace(ctx context.Context, rate int, d time.Duration, publish func() error) int {
	interval := time.Second / time.Duration(rate)
	n := int(d / interval)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		if ctx.Err() != nil {
			return i
		}
		wg.Go(func() { _ = publish() })
	}
	wg.Wait()
	return n
}

// recorder collects latencies.
type recorder struct {
	mu sync.Mutex
	d  []time.Duration
}

func (r *recorder) add(d time.Duration) {
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
}

// summary waits (bounded) for n samples and summarises them.
func (r *recorder) summary(ctx context.Context, n int) (latency, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		got := len(r.d)
		r.mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return latency{}, fmt.Errorf("paced run: %d of %d hops completed", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := slices.Clone(r.d)
	slices.Sort(s)
	ms := func(q float64) float64 { return float64(s[int(q*float64(len(s)-1))]) / float64(time.Millisecond) }
	return latency{Samples: len(s), P50: ms(0.50), P99: ms(0.99), Max: ms(1)}, nil
}

// wait blocks until finished closes, bounded.
func wait(ctx context.Context, finished <-chan struct{}, done *atomic.Int64, total int64) error {
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("%d of %d hops after 5 minutes", done.Load(), total)
	}
}
