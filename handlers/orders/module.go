package orders

import (
	"context"
	"time"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/handlers/reactor"
	"github.com/eventline/eventline/internal/module"
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
}

// Module is the order saga as a domain module: the SAGAS, ORDERS,
// ORDERS_CMD and SAGA_TIMERS streams, the saga's and participants' events,
// and the reactors (participants, confirmation, timers) on saga processes,
// which resume every running saga at start; on api processes, the orders
// API answered from the command loops (no read models yet).
func Module(cfg Config) module.Module {
	return module.Module{
		Name:        "orders",
		Streams:     Streams(),
		Events:      Events(),
		Projections: []projections.Spec{sagamodel.SagasSpec(), sagamodel.OrdersSpec()},
		Reactors:    func(d module.Deps) []reactor.Reactor { return NewRunner(d.Store).Reactors(cfg.Reactor) },
		ReactorRole: Role,
		Start:       func(h *module.Host) error { return start(h, cfg) },
	}
}

// start mounts the API on a process with the api role and resumes every
// running saga on one with the saga role.
func start(h *module.Host, cfg Config) error {
	if h.HasRole("api") {
		r := NewRunner(h.Store)
		m, err := r.Manager()
		if err != nil {
			return err
		}
		parts, err := r.Participants()
		if err != nil {
			return err
		}
		NewAPI(m, parts, h.Idempotency, cfg.Policy.Or(saga.DefaultPolicy()), ReadSide{Events: h.Reads, Notify: h.Store.Conn(), Pool: h.ReadPool}).Mount(h.Server)
	}
	if !h.HasRole(Role) {
		return nil
	}
	h.Go(func(ctx context.Context) error {
		m, err := NewManager(h.Store, nil)
		if err != nil {
			return err
		}
		// JetStream may be unreachable at start: resuming is retried, with
		// backoff, until it succeeds or the process stops.
		for delay := 500 * time.Millisecond; ; delay = min(2*delay, 30*time.Second) {
			n, err := m.Resume(ctx)
			if err == nil {
				h.Log.Info("sagas resumed", "count", n)
				return nil
			}
			h.Log.Warn("resuming sagas failed; retrying", "err", err, "in", delay.String())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
		}
	})
	return nil
}
