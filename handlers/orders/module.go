package orders

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
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
	var shared sharedRunner
	return module.Module{
		Name:        "orders",
		Streams:     Streams(),
		Events:      Events(),
		Projections: []projections.Spec{sagamodel.SagasSpec(), sagamodel.OrdersSpec()},
		Reactors: func(d module.Deps) []reactor.Reactor {
			if d.Store == nil {
				return NewRunner(nil).Reactors(cfg.Reactor) // listed by the CLI
			}
			return shared.get(d.Store, d.Serve, nil, d.Log).Reactors(cfg.Reactor)
		},
		ReactorRole: Role,
		Start:       func(h *module.Host) error { return start(h, cfg, &shared) },
	}
}

// sharedRunner is the one Runner of a process, shared by the API, the
// reactors and the resume.
type sharedRunner struct {
	mu sync.Mutex
	r  *Runner
}

// get returns the process's runner, made on first use: one that drives
// sagas when the process has the saga role, else one that hands commands
// over to the saga processes.
func (s *sharedRunner) get(store *eventstore.Store, drive bool, reg prometheus.Registerer, log *slog.Logger) *Runner {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r == nil {
		opts := []RunnerOption{WithMetrics(reg)}
		if log != nil {
			opts = append(opts, WithLogger(log))
		}
		if !drive {
			opts = append(opts, HandOver())
		}
		s.r = NewRunner(store, opts...)
	}
	return s.r
}

// start mounts the API on a process with the api role. On one with the
// saga role it takes part in the saga partitions (ownership.go): it drives
// the sagas of the partitions it owns and resumes those of each partition
// it takes over; it stops the drivers at the end.
func start(h *module.Host, cfg Config, shared *sharedRunner) error {
	r := shared.get(h.Store, h.HasRole(Role), h.Metrics, h.Log)
	m, err := r.Manager()
	if err != nil {
		return err
	}
	// Until the owner (or the router) runs, this process owns no saga and
	// hands what it decides to the reactors.
	m.SetPartitions(nil, nil)
	if h.Metrics != nil {
		if err := h.Metrics.Register(timersPending(h.Store)); err != nil {
			return fmt.Errorf("orders metrics: %w", err)
		}
	}
	if h.HasRole("api") {
		parts, err := r.Participants()
		if err != nil {
			return err
		}
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
		parts, err := r.Participants()
		if err != nil {
			return err
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
