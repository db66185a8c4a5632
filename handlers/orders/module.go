package orders

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/partitions"
	"github.com/eventline/eventline/platform/module"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/sagamodel"
)

// Role is the EVENTLINE_ROLES role whose processes run the saga's
// reactors and resume its running sagas.
const Role = "saga"

// Config is the order saga module's configuration.
type Config struct {
	// Policy is the order saga's step policy (EVENTLINE_SAGA_*); zero
	// fields take saga.DefaultPolicy's.
	Policy saga.Policy
	// Reactor is how the saga's reactors consume and retry (the reactor
	// package's defaults when zero).
	Reactor reactor.Policy
	// Partitions is the number of saga partitions (EVENTLINE_PARTITIONS,
	// DefaultPartitions when 0); every process must use the same.
	Partitions int
	// Ownership tunes how partitions change hands (partitions' defaults
	// when zero: a tick every 500 ms, a dead owner's pin handed on 3 s
	// after its last pull).
	Tick, PinnedTTL time.Duration
}

// Module is the order saga as a domain module: the SAGAS, ORDERS,
// ORDERS_CMD and SAGA_TIMERS streams, the saga's and participants' events,
// the sagas and orders read models, and the reactors (participants,
// confirmation, timers) on saga processes, which drive the sagas they
// decide and resume every running saga at start; on api processes, the
// orders API.
func Module(cfg Config) module.Module {
	return module.Module{
		Name:        "orders",
		Streams:     Streams(),
		Events:      Events(),
		Projections: []projections.Spec{sagamodel.SagasSpec(), sagamodel.OrdersSpec()},
		Reactors: func(d module.Deps) []reactor.Reactor {
			if d.Store == nil {
				return (*Runner)(nil).Reactors(cfg.Reactor) // declarations: validated and listed
			}
			// The operator CLI's: a runner over its connections that hands
			// what it decides to the saga processes.
			r, err := NewRunner(d.Store, HandOver(), WithLogger(d.Log))
			if err != nil {
				return failing((*Runner)(nil).Reactors(cfg.Reactor), err)
			}
			return r.Reactors(cfg.Reactor)
		},
		ReactorRole: Role,
		Start:       func(h *module.Host) error { return start(h, cfg) },
	}
}

// failing gives each of rs a handler that fails with err (a runner that
// could not be built).
func failing(rs []reactor.Reactor, err error) []reactor.Reactor {
	for i := range rs {
		rs[i].Handler = func(context.Context, reactor.Event, *reactor.Effects) error { return err }
	}
	return rs
}

// start builds the process's one Runner, shared by the API, the reactors
// and the resume: it drives sagas when the process has the saga role, else
// it hands commands over to the saga processes. It mounts the API on a
// process with the api role and hands serve the reactors. On one with the
// saga role it takes part in the saga partitions (ownership.go): it drives
// the sagas of the partitions it owns and resumes those of each partition
// it takes over; it stops the drivers at the end.
func start(h *module.Host, cfg Config) error {
	opts := []RunnerOption{WithMetrics(h.Metrics), WithLogger(h.Log)}
	if !h.HasRole(Role) {
		opts = append(opts, HandOver())
	}
	r, err := NewRunner(h.Store, opts...)
	if err != nil {
		return err
	}
	h.AddReactors(r.Reactors(cfg.Reactor)...)
	m, parts := r.Manager(), r.Participants()
	// Until the owner (or the router) runs, this process owns no saga and
	// hands what it decides to the reactors.
	m.SetPartitions(nil, nil)
	if h.Metrics != nil {
		if err := h.Metrics.Register(timersPending(h.Store)); err != nil {
			return fmt.Errorf("orders metrics: %w", err)
		}
	}
	if h.HasRole("api") {
		api := NewAPI(m, parts, h.Idempotency, cfg.Policy.Or(saga.DefaultPolicy()), ReadSide{Events: h.Reads, Pool: h.ReadPool})
		api.Mount(h.Server)
		if h.Dashboard != nil {
			api.MountDashboard(h.Dashboard)
		}
	}
	count := cmp.Or(cfg.Partitions, DefaultPartitions)
	if !h.HasRole(Role) {
		// Starts sagas (the API) but drives none: notes them to their owners.
		h.Go(func(ctx context.Context) error {
			router, err := untilReady(ctx, h.Log, "saga partitions", func() (*partitions.Router, error) {
				return partitions.NewRouter(ctx, h.Store.JetStream(), PartitionGroup, count, h.Store.Replicas())
			})
			if err == nil {
				m.SetPartitions(nil, router)
			}
			return nil
		})
		return nil
	}
	h.Go(func(ctx context.Context) error {
		defer r.Close()
		host, _ := os.Hostname()
		var roles []string
		for _, role := range []string{"api", "projector", Role, "sync"} {
			if h.HasRole(role) {
				roles = append(roles, role)
			}
		}
		// Products are written here until the owner runs.
		var own atomic.Pointer[partitions.Owner]
		serveProducts, stopProducts := parts.RouteProducts(h.Store.Conn(),
			func(id string) bool { o := own.Load(); return o == nil || o.OwnsKey(id) },
			func(id string) int { return own.Load().Of(id) }, h.Log.Warn)
		owner, err := untilReady(ctx, h.Log, "saga partitions", func() (*partitions.Owner, error) {
			return partitions.New(ctx, h.Store.JetStream(), partitions.Config{
				Group: PartitionGroup, Count: count, ProcessID: cmp.Or(h.ProcessID, "eventline"), Host: host, PID: os.Getpid(),
				Roles: roles, Replicas: h.Store.Replicas(), Tick: cfg.Tick, PinnedTTL: cfg.PinnedTTL, Log: h.Log,
				Gained: func(ctx context.Context, parts []int) {
					serveProducts(parts)
					m.ResumePartitions(ctx, h.Pool, parts)
				},
				Lost: stopProducts,
				Note: m.Noted,
			})
		})
		if err != nil {
			return nil // stopping
		}
		own.Store(owner)
		m.SetPartitions(owner, nil)
		done := make(chan struct{})
		go func() {
			defer close(done)
			sweep(ctx, h, m, cfg.Policy.Or(saga.DefaultPolicy()).AttemptTimeout)
		}()
		err = owner.Run(ctx)
		<-done
		return err
	})
	return nil
}

// untilReady calls open until it succeeds or ctx ends, waiting longer each
// time (JetStream may be electing its leaders at start).
func untilReady[T any](ctx context.Context, log *slog.Logger, what string, open func() (T, error)) (T, error) {
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		v, err := open()
		if err == nil {
			return v, nil
		}
		log.Warn(what+" not ready (JetStream unreachable or electing); retrying", "err", err, "in", delay.String())
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// sweep re-issues, every sweepEvery, the sagas idle longer than a step's
// timeout (Manager.Sweep), until ctx ends.
func sweep(ctx context.Context, h *module.Host, m *Manager, idle time.Duration) {
	if h.Pool == nil {
		<-ctx.Done()
		return
	}
	every := min(idle, sweepEvery)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := m.Sweep(ctx, h.Pool, idle)
		switch {
		case err != nil && ctx.Err() == nil:
			h.Log.Warn("sweeping idle sagas failed", "err", err)
		case n > 0:
			h.Log.Warn("safety-net sweep re-issued sagas idle past a step's timeout (their owner lost them)", "count", n)
		}
	}
}

// sweepEvery is how often idle sagas are looked for (at most).
const sweepEvery = 30 * time.Second

// timersPending is the gauge of the messages SAGA_TIMERS holds: timers
// scheduled and not fired yet, and fired ones of sagas still running
// (an ended saga's are purged). Read from the stream at each scrape.
func timersPending(store *eventstore.Store) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "eventline_saga_timers_pending",
		Help: "Timer messages held in SAGA_TIMERS: scheduled and not fired, or fired for a saga still running (-1 when unreadable).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := store.JetStream().Stream(ctx, TimerStream)
		if err != nil {
			return -1
		}
		return float64(st.CachedInfo().State.Msgs)
	})
}
