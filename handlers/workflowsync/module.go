package workflowsync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/module"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/syncmodel"
)

// Role is the EVENTLINE_ROLES role whose processes run the syncs: the
// worker, the scheduler and the sweep.
const Role = "sync"

// keyCheckTimeout bounds the start-up check that the secret key opens the
// stored secrets.
const keyCheckTimeout = 5 * time.Second

// Config is the sync's configuration (EVENTLINE_SYNC_*, EVENTLINE_SECRET_KEY).
type Config struct {
	// Interval is how often every customer is synced.
	Interval time.Duration
	// DailyAt is the local time ("15:04") of the daily full sync.
	DailyAt string
	// PageLength is the Zuora page length, 1..50.
	PageLength int
	// RetryAttempts is how many times a failed sync is retried.
	RetryAttempts int
	// RetryDelay is the first retry's delay; later ones back off.
	RetryDelay time.Duration
	// SecretKey returns the AES-256 key of the stored client secrets. It is
	// called only by processes that need it, at most once.
	SecretKey func() ([]byte, error)
}

// Secrets returns the credentials store over pool with the configured key.
func (c Config) Secrets(pool *pgxpool.Pool) (*Secrets, error) {
	if c.SecretKey == nil {
		return nil, errors.New("workflow sync: no secret key configured")
	}
	key, err := c.SecretKey()
	if err != nil {
		return nil, err
	}
	return NewSecrets(pool, key)
}

// Registry returns a decode table of the workflow-sync events alone, for
// the customer command loop.
func Registry() *eventstore.Registry {
	reg := eventstore.NewRegistry()
	reg.RegisterAll(workflows.Events())
	return reg
}

// Module is workflow sync as a domain module: the WORKFLOWS stream, its
// events, the syncmodel read model, the customers API on api processes and
// the worker, scheduler and sweep on sync processes.
func Module(cfg Config) module.Module {
	if cfg.SecretKey != nil {
		cfg.SecretKey = sync.OnceValues(cfg.SecretKey)
	}
	return module.Module{
		Name: "workflowsync",
		Streams: []eventstore.StreamSpec{{Name: workflows.Stream, Subjects: []string{workflows.Subjects},
			AllowAtomicPublish: true, Description: "workflow sync from Zuora: customers and their syncs"}},
		Events:      workflows.Events(),
		Projections: []projections.Spec{syncmodel.Spec()},
		// WIRING(lead): Reactors: func(d module.Deps) []reactor.Reactor { ... F1's worker reactor over d and cfg ... }.
		Reactors:    nil,
		ReactorRole: Role,
		Start:       func(h *module.Host) error { return start(h, cfg) },
	}
}

// start mounts the customers API on api processes and starts the
// scheduler and the sweep on sync processes.
func start(h *module.Host, cfg Config) error {
	api, syncs := h.HasRole("api"), h.HasRole(Role)
	if !api && !syncs {
		return nil
	}
	secrets, err := cfg.Secrets(h.Pool)
	if err != nil {
		return fmt.Errorf("workflow sync: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), keyCheckTimeout)
	defer cancel()
	if err := secrets.Check(ctx); errors.Is(err, ErrWrongKey) {
		return fmt.Errorf("workflow sync: %w", err)
	} else if err != nil {
		// PostgreSQL may be down at start; the first sync will tell.
		h.Log.Warn("workflow sync: secret key not checked", "err", err)
	}
	customers, err := NewCustomers(h.Store, Registry())
	if err != nil {
		return fmt.Errorf("workflow sync: %w", err)
	}
	if api {
		NewWrites(customers, secrets, h.Idempotency, h.Log).Mount(h.Server)
		NewReads(h.ReadPool).Mount(h.Server)
	}
	if syncs {
		// WIRING(lead): F1's scheduler and sweep, e.g.
		//   h.Go(NewScheduler(customers, h.Pool, cfg, ...).Run)
		//   h.Go(NewSweep(customers, h.Store, ...).Run)
		_ = customers
	}
	return nil
}
