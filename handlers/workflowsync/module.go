package workflowsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/module"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/syncmodel"
	"github.com/eventline/eventline/zuora"
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
	// SecretKey returns the AES-256 key of the stored client secrets. Start
	// calls it once on api and sync processes; a reactor built by Reactors
	// (the operator CLI) calls it at each credentials lookup.
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

// parts are workflow sync's running parts in one serve process, built
// once by the module's Start: the secrets store (its key checked) and the
// customers command loop on api and sync processes; the worker (whose
// reactor serve runs) and the scheduler on sync processes. Nothing is
// built later or on demand.
type parts struct {
	cfg       Config
	secrets   *Secrets
	customers *Customers
	worker    *Worker
	sched     *Scheduler
}

// newParts builds the parts h's roles need; an error (a key that does not
// open the stored secrets, a worker or scheduler that cannot be built)
// fails serve's start.
func newParts(cfg Config, h *module.Host) (*parts, error) {
	p := &parts{cfg: cfg}
	api, syncs := h.HasRole("api"), h.HasRole(Role)
	if !api && !syncs {
		return p, nil
	}
	var err error
	if p.secrets, err = cfg.Secrets(h.Pool); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), keyCheckTimeout)
	defer cancel()
	if err := p.secrets.Check(ctx); errors.Is(err, ErrWrongKey) {
		return nil, err
	} else if err != nil {
		// PostgreSQL may be down at start; the first sync will tell.
		h.Log.Warn("workflow sync: secret key not checked", "err", err)
	}
	if p.customers, err = NewCustomers(h.Store, Registry(), eventstore.NewSnapshots(h.Store)); err != nil {
		return nil, err
	}
	if !syncs {
		return p, nil
	}
	if p.worker, err = newWorker(cfg, h.Store, h.Pool, p.customers, h.Log, h.Metrics, h.ProcessID, p.secrets.Load); err != nil {
		return nil, err
	}
	p.sched, err = NewScheduler(SchedulerConfig{Customers: p.customers, Pool: h.Pool, Interval: cfg.Interval,
		DailyAt: cfg.DailyAt, Location: time.Local, Logger: h.Log, Spread: cfg.Interval})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Module is workflow sync as a domain module: the WORKFLOWS stream, its
// events, the syncmodel read model, the customers API on api processes and
// the worker, scheduler and sweep on sync processes. Start builds the
// process's parts once and hands serve the worker's reactor; Reactors is
// the operator CLI's (and serve's on a process without the sync role): a
// worker built over the connections it is given.
func Module(cfg Config) module.Module {
	return module.Module{
		Name: "workflowsync",
		Streams: []eventstore.StreamSpec{{Name: workflows.Stream, Subjects: []string{workflows.Subjects},
			AllowAtomicPublish: true, Description: "workflow sync from Zuora: customers and their syncs"}},
		Events:      workflows.Events(),
		Projections: []projections.Spec{syncmodel.Spec()},
		Reactors: func(d module.Deps) []reactor.Reactor {
			if d.Store == nil { // declaration only (validation)
				return []reactor.Reactor{(*Worker)(nil).Reactor()}
			}
			return []reactor.Reactor{operatorReactor(cfg, d)}
		},
		ReactorRole: Role,
		Start: func(h *module.Host) error {
			p, err := newParts(cfg, h)
			if err != nil {
				return fmt.Errorf("workflow sync: %w", err)
			}
			p.start(h)
			return nil
		},
	}
}

// operatorReactor is the sync reactor over d's connections for a process
// whose Start built no worker (the operator CLI, an api process retrying
// a parked event): its secrets are opened with the configured key at each
// credentials lookup. A worker that cannot be built fails each event as
// transient, saying why.
func operatorReactor(cfg Config, d module.Deps) reactor.Reactor {
	secret := func(ctx context.Context, customerID string) (string, error) {
		s, err := cfg.Secrets(d.Pool)
		if err != nil {
			return "", err
		}
		return s.Load(ctx, customerID)
	}
	w, err := newWorker(cfg, d.Store, d.Pool, nil, d.Log, nil, "", secret)
	if err == nil {
		return w.Reactor()
	}
	r := (*Worker)(nil).Reactor()
	r.Handler = func(context.Context, reactor.Event, *reactor.Effects) error {
		return reactor.Transient(fmt.Errorf("workflow sync worker: %w", err))
	}
	return r
}

// start mounts the customers API on api processes, and starts the worker,
// the scheduler and the sweep on sync processes, handing serve the
// worker's reactor.
func (p *parts) start(h *module.Host) {
	if h.HasRole("api") {
		writes := NewWrites(p.customers, p.secrets, h.Idempotency, h.Log)
		writes.Mount(h.Server)
		logReads := h.Reads
		if logReads == nil {
			logReads = h.Store
		}
		sched := Schedule{Interval: p.cfg.Interval, DailyAt: p.cfg.DailyAt}
		NewReads(h.ReadPool).WithLog(logReads).WithSchedule(sched).Mount(h.Server)
		if h.Dashboard != nil {
			mountDashboard(h.Dashboard, h.ReadPool, writes, sched, h.Log)
		}
	}
	if p.worker != nil {
		h.Go(p.worker.Run) // the sweep of interrupted syncs; fails those in flight at shutdown
		h.Go(p.sched.Run)
		h.AddReactors(p.worker.Reactor())
	}
}

// newWorker builds the sync worker over the given connections (customers
// built over store when nil), reading a customer's client secret with secret.
func newWorker(cfg Config, store *eventstore.Store, pool *pgxpool.Pool, customers *Customers, log *slog.Logger,
	metrics prometheus.Registerer, runner string, secret func(ctx context.Context, customerID string) (string, error)) (*Worker, error) {
	if customers == nil {
		var err error
		if customers, err = NewCustomers(store, Registry(), eventstore.NewSnapshots(store)); err != nil {
			return nil, err
		}
	}
	creds := func(ctx context.Context, customerID string) (zuora.Config, error) {
		state, _, err := customers.Load(ctx, customerID)
		if err != nil {
			return zuora.Config{}, err
		}
		if !state.Exists {
			return zuora.Config{}, workflows.ErrNoCustomer
		}
		s, err := secret(ctx, customerID)
		if err != nil {
			return zuora.Config{}, err
		}
		return zuora.Config{BaseURL: state.BaseURL, ClientID: state.ClientID, ClientSecret: s}, nil
	}
	return NewWorker(WorkerConfig{Store: store, Pool: pool, Registry: Registry(), Customers: customers,
		Credentials: creds, Projection: syncmodel.Name, PageLength: cfg.PageLength,
		RetryAttempts: cfg.RetryAttempts, RetryDelay: cfg.RetryDelay, Logger: log, Metrics: metrics, Runner: runner})
}
