package module

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections"
)

// Module is one business area: logs, orders and their saga, workflow sync.
type Module struct {
	// Name identifies the module in logs and errors.
	Name string
	// Streams are the event streams the module appends to; serve creates
	// them at start.
	Streams []eventstore.StreamSpec
	// Events is the module's decode table: each versioned event type with
	// the function that decodes its payload.
	Events map[string]func(data []byte) (any, error)
	// Projections are the read models the module owns.
	Projections []projections.Spec
	// Reactors returns the module's per-message handlers (process managers,
	// participants, workers) built over d: declarations only when d has no
	// store (Validate); the operator CLI's, to list them and retry what
	// they parked; serve's when Start hands none (Set.Start). It must only
	// capture d.
	Reactors func(d Deps) []reactor.Reactor
	// ReactorRole is the EVENTLINE_ROLES role whose processes run the
	// reactors (e.g. "saga").
	ReactorRole string
	// Start wires the module into a running serve, once: it builds the
	// module's parts over h's connections, mounts HTTP routes, starts
	// workers and hands its reactors (Host.AddReactors), according to h's
	// roles. Nil when the module has nothing to run.
	Start func(h *Host) error
}

// Set is the modules a binary is built with.
type Set []Module

// Validate reports every clash between modules at once: two modules with
// one name, stream, event type, projection or reactor.
func (s Set) Validate() error {
	var errs []error
	seen := map[string]string{}
	claim := func(kind, name, owner string) {
		key := kind + " " + name
		if prev, ok := seen[key]; ok {
			errs = append(errs, fmt.Errorf("%s %q is claimed by modules %s and %s", kind, name, prev, owner))
			return
		}
		seen[key] = owner
	}
	for _, m := range s {
		if m.Name == "" {
			errs = append(errs, errors.New("a module has no name"))
		}
		claim("module", m.Name, m.Name)
		for _, st := range m.Streams {
			claim("stream", st.Name, m.Name)
		}
		for t := range m.Events {
			claim("event type", t, m.Name)
		}
		for _, p := range m.Projections {
			claim("projection", p.Name, m.Name)
			if !slices.ContainsFunc(s.Streams(), func(st eventstore.StreamSpec) bool { return st.Name == p.Stream }) {
				errs = append(errs, fmt.Errorf("projection %q of module %s reads stream %q, which no module creates", p.Name, m.Name, p.Stream))
			}
		}
		if m.Reactors != nil {
			for _, r := range m.Reactors(Deps{}) {
				claim("reactor", r.Name, m.Name)
				if err := r.Validate(); err != nil {
					errs = append(errs, fmt.Errorf("module %s: %w", m.Name, err))
				}
			}
			if m.ReactorRole == "" {
				errs = append(errs, fmt.Errorf("module %s has reactors but no ReactorRole", m.Name))
			}
		}
	}
	return errors.Join(errs...)
}

// Streams returns every module's streams.
func (s Set) Streams() []eventstore.StreamSpec {
	var out []eventstore.StreamSpec
	for _, m := range s {
		out = append(out, m.Streams...)
	}
	return out
}

// Events returns the decode table joined from every module's.
func (s Set) Events() *eventstore.Registry {
	r := eventstore.NewRegistry()
	for _, m := range s {
		r.RegisterAll(m.Events)
	}
	return r
}

// Projections returns the registry of every module's projections.
func (s Set) Projections() *projections.Registry {
	var specs []projections.Spec
	for _, m := range s {
		specs = append(specs, m.Projections...)
	}
	return projections.NewRegistry(specs...)
}

// Deps are the connections reactors are built over.
type Deps struct {
	Store *eventstore.Store
	Pool  *pgxpool.Pool
	Log   *slog.Logger
	// Serve is true in a serve process, whose reactors may start
	// background work (drive sagas); the operator CLI runs a reactor's
	// handler once and starts nothing that outlives it.
	Serve bool
}

// Started is what Set.Start returns: the reactors of every module over the
// host's connections.
type Started struct {
	// Reactors holds every module's reactors (what the ops API retries
	// parked messages with).
	Reactors *reactor.Registry
	// Run are those of the modules whose ReactorRole the host has: what
	// this process runs.
	Run []reactor.Reactor
}

// Start starts every module on h, in order, and gathers their reactors:
// those a module's Start handed (Host.AddReactors), else its Reactors
// built over h's connections.
func (s Set) Start(h *Host) (Started, error) {
	out := Started{Reactors: reactor.NewRegistry()}
	for _, m := range s {
		var handed []reactor.Reactor
		mh := *h
		mh.reactors = &handed
		if m.Start != nil {
			if err := m.Start(&mh); err != nil {
				return Started{}, fmt.Errorf("start module %s: %w", m.Name, err)
			}
		}
		if len(handed) == 0 && m.Reactors != nil {
			handed = m.Reactors(Deps{Store: h.Store, Pool: h.Pool, Log: h.Log, Serve: true})
		}
		for _, r := range handed {
			if err := out.Reactors.Add(r); err != nil {
				return Started{}, fmt.Errorf("module %s: %w", m.Name, err)
			}
		}
		if h.HasRole(m.ReactorRole) {
			out.Run = append(out.Run, handed...)
		}
	}
	return out, nil
}

// Reactors returns the reactors of every module built over d, in a
// registry: the operator CLI's.
func (s Set) Reactors(d Deps) (*reactor.Registry, error) {
	reg := reactor.NewRegistry()
	for _, m := range s {
		if m.Reactors == nil {
			continue
		}
		for _, r := range m.Reactors(d) {
			if err := reg.Add(r); err != nil {
				return nil, fmt.Errorf("module %s: %w", m.Name, err)
			}
		}
	}
	return reg, nil
}

// StreamOf returns the stream that holds events of eventType: that of the
// module whose decode table has it, when the module has one stream.
func (s Set) StreamOf(eventType string) (string, bool) {
	for _, m := range s {
		if _, ok := m.Events[eventType]; ok && len(m.Streams) == 1 {
			return m.Streams[0].Name, true
		}
	}
	return "", false
}
