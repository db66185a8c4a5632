package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/eventline/eventline/bench/internal/benchcluster"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/eventstore/natsserver"
)

// stream is the benchmark's aggregate stream.
var stream = eventstore.StreamSpec{Name: "BENCH", Subjects: []string{"bench.>"}, AllowAtomicPublish: true}

const eventType = "bench.counter_incremented.v1"

// incremented is the benchmark's event payload.
type incremented struct {
	By int `json:"by"`
}

// counter is the benchmark aggregate's state.
type counter struct{ Value, Events int }

// env is the server (or cluster) and the client the measurements share.
type env struct {
	srv     *natsserver.Server
	cluster *benchcluster.Cluster
	store   *eventstore.Store
	reg     *eventstore.Registry
}

func start(ctx context.Context, dir string, o options) (*env, error) {
	e := &env{}
	url, replicas := "", 1
	if o.Cluster {
		c, err := benchcluster.Start(ctx, dir)
		if err != nil {
			return nil, err
		}
		e.cluster, url, replicas = c, c.URL(), 3
	} else {
		srv, err := natsserver.Start(natsserver.Config{StoreDir: dir, Listen: "127.0.0.1:0", SyncAlways: o.SyncAlways})
		if err != nil {
			return nil, err
		}
		e.srv, url = srv, srv.ClientURL()
	}
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: url, Name: "bench-command", Replicas: replicas})
	if err != nil {
		e.close()
		return nil, err
	}
	e.store = st
	if err := st.EnsureStreams(ctx, []eventstore.StreamSpec{stream}); err != nil {
		e.close()
		return nil, err
	}
	e.reg = eventstore.NewRegistry()
	e.reg.Register(eventType, eventstore.JSON[incremented]())
	return e, nil
}

func (e *env) close() {
	if e.store != nil {
		e.store.Close()
	}
	if e.srv != nil {
		e.srv.Shutdown()
	}
	if e.cluster != nil {
		e.cluster.Shutdown()
	}
}

// rate is one measurement: commands (or raw appends) and events in seconds.
type rate struct {
	Ops       int     `json:"ops"`
	Events    int     `json:"events"`
	Seconds   float64 `json:"seconds"`
	Conflicts int64   `json:"conflicts,omitempty"`
}

func (r rate) opsPerSec() float64    { return float64(r.Ops) / r.Seconds }
func (r rate) eventsPerSec() float64 { return float64(r.Events) / r.Seconds }

// results are every measurement of a run.
type results struct {
	RawPublish   rate `json:"raw_expected_seq_publish"`
	Loop         rate `json:"command_loop"`
	LoopNoCache  rate `json:"command_loop_no_cache"`
	RawBatch     rate `json:"raw_atomic_batch_2"`
	LoopBatch    rate `json:"command_loop_batch_2"`
	WarmupEvents int  `json:"warmup_events"`
}

// work runs fn for every (aggregate, command) pair: the workers share the
// aggregates out and each drives one aggregate at a time through all its
// commands, so o.Workers aggregates are in flight at once.
func work(ctx context.Context, o options, aggregates int, fn func(ctx context.Context, agg string, i int) error) (float64, error) {
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	begin := time.Now()
	for range o.Workers {
		g.Go(func() error {
			for {
				a := int(next.Add(1)) - 1
				if a >= aggregates {
					return nil
				}
				agg := fmt.Sprintf("a%d", a)
				for i := range o.Events {
					if err := fn(ctx, agg, i); err != nil {
						return fmt.Errorf("aggregate %s command %d: %w", agg, i, err)
					}
				}
			}
		})
	}
	err := g.Wait()
	return time.Since(begin).Seconds(), err
}

// rawPublish appends one event per command with the expected subject
// sequence each worker tracks itself: no load, no decision.
func rawPublish(ctx context.Context, e *env, o options, prefix string, perOp int) (rate, error) {
	if perOp > 1 {
		o.Aggregates = o.BatchAggregates
	}
	last := make([]atomic.Int64, o.Aggregates) // per aggregate, touched by one worker at a time
	secs, err := work(ctx, o, o.Aggregates, func(ctx context.Context, agg string, _ int) error {
		var idx int
		fmt.Sscanf(agg, "a%d", &idx)
		envs := make([]eventstore.Envelope, perOp)
		for i := range envs {
			env, err := eventstore.NewEnvelope(eventType, incremented{By: 1})
			if err != nil {
				return err
			}
			envs[i] = env
		}
		acks, err := e.store.AppendBatch(ctx, prefix+agg, last[idx].Load(), envs)
		if err != nil {
			return err
		}
		last[idx].Store(int64(acks[len(acks)-1].Seq))
		return nil
	})
	ops := o.Aggregates * o.Events
	return rate{Ops: ops, Events: ops * perOp, Seconds: secs}, err
}

// commandLoop handles one increment command per (aggregate, i) through an
// aggregate.Handler whose decision yields perOp events.
func commandLoop(ctx context.Context, e *env, o options, prefix string, perOp int, cacheSize int) (rate, error) {
	if perOp > 1 {
		o.Aggregates = o.BatchAggregates
	}
	def := aggregate.Definition[counter, int]{
		Stream:  stream.Name,
		Subject: func(id string) string { return prefix + id },
		Initial: func() counter { return counter{} },
		Evolve: func(s counter, ev aggregate.Recorded) counter {
			s.Value += ev.Data.(*incremented).By
			s.Events++
			return s
		},
		Decide: func(s counter, by int) ([]aggregate.Event, error) {
			evs := make([]aggregate.Event, perOp)
			for i := range evs {
				evs[i] = aggregate.Event{Type: eventType, Data: incremented{By: by}}
			}
			return evs, nil
		},
	}
	h, err := aggregate.New(e.store, e.reg, def, aggregate.Options{CacheSize: cacheSize})
	if err != nil {
		return rate{}, err
	}
	var conflicts atomic.Int64
	secs, err := work(ctx, o, o.Aggregates, func(ctx context.Context, agg string, i int) error {
		res, err := h.Handle(ctx, agg, 1, aggregate.Meta{CorrelationID: agg})
		if err != nil {
			return err
		}
		if res.State.Events != (i+1)*perOp {
			return fmt.Errorf("state has %d events after command %d: %w", res.State.Events, i, errLost)
		}
		conflicts.Add(int64(res.Attempts - 1))
		return nil
	})
	ops := o.Aggregates * o.Events
	return rate{Ops: ops, Events: ops * perOp, Seconds: secs, Conflicts: conflicts.Load()}, err
}

var errLost = errors.New("lost update")

func measure(ctx context.Context, e *env, o options, logf func(string, ...any)) (results, error) {
	var r results
	var err error
	// Warm up the server, the connection and the Go runtime.
	warm := o
	warm.Aggregates = o.Workers
	if _, err = rawPublish(ctx, e, warm, "bench.warm.raw.", 1); err != nil {
		return r, fmt.Errorf("warm-up: %w", err)
	}
	if _, err = commandLoop(ctx, e, warm, "bench.warm.loop.", 1, 0); err != nil {
		return r, fmt.Errorf("warm-up: %w", err)
	}
	r.WarmupEvents = 2 * warm.Aggregates * warm.Events
	phases := []struct {
		name string
		dst  *rate
		fn   func() (rate, error)
	}{
		{"raw expected-sequence publish", &r.RawPublish, func() (rate, error) { return rawPublish(ctx, e, o, "bench.raw.", 1) }},
		{"command loop", &r.Loop, func() (rate, error) { return commandLoop(ctx, e, o, "bench.loop.", 1, 0) }},
		{"command loop, no state cache", &r.LoopNoCache, func() (rate, error) { return commandLoop(ctx, e, o, "bench.nocache.", 1, -1) }},
		{"raw atomic batch of 2", &r.RawBatch, func() (rate, error) { return rawPublish(ctx, e, o, "bench.rawbatch.", 2) }},
		{"command loop, 2-event decisions", &r.LoopBatch, func() (rate, error) { return commandLoop(ctx, e, o, "bench.loopbatch.", 2, 0) }},
	}
	for _, p := range phases {
		if !strings.Contains(p.name, o.Only) {
			continue
		}
		logf("measuring %s", p.name)
		if *p.dst, err = p.fn(); err != nil {
			return r, fmt.Errorf("%s: %w", p.name, err)
		}
		logf("%s: %.0f ops/s", p.name, p.dst.opsPerSec())
	}
	return r, nil
}
