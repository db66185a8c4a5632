package orders

import (
	"context"
	"fmt"

	"github.com/eventline/eventline/handlers/reactor"
	"github.com/eventline/eventline/internal/module"
)

// Role is the EVENTLINE_ROLES role whose processes run the saga's
// reactors and resume its running sagas.
const Role = "saga"

// Config is the order saga module's configuration.
type Config struct {
	// Reactor is how the saga's reactors consume and retry (the reactor
	// package's defaults when zero).
	Reactor reactor.Policy
}

// Module is the order saga as a domain module: the SAGAS, ORDERS,
// ORDERS_CMD and SAGA_TIMERS streams, the saga's and participants' events,
// and the reactors (participants, confirmation, timers) on saga processes,
// which resume every running saga at start. It mounts no HTTP routes yet.
func Module(cfg Config) module.Module {
	return module.Module{
		Name:        "orders",
		Streams:     Streams(),
		Events:      Events(),
		Reactors:    func(d module.Deps) []reactor.Reactor { return NewRunner(d.Store).Reactors(cfg.Reactor) },
		ReactorRole: Role,
		Start:       start,
	}
}

// start resumes every running saga on a process with the saga role.
func start(h *module.Host) error {
	if !h.HasRole(Role) {
		return nil
	}
	h.Go(func(ctx context.Context) error {
		m, err := NewManager(h.Store, nil)
		if err != nil {
			return err
		}
		n, err := m.Resume(ctx)
		if err != nil {
			return fmt.Errorf("orders: %w", err)
		}
		h.Log.Info("sagas resumed", "count", n)
		return nil
	})
	return nil
}
