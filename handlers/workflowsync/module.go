package workflowsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	// The worker a sync process starts is the one its reactor runs,
	// whichever of Start and Reactors asks first; the operator CLI builds
	// its own over its connections when the reactor first needs it.
	workers := &workerHolder{}
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
			return []reactor.Reactor{workers.reactor(func() (*Worker, error) {
				return newWorker(cfg, d.Store, d.Pool, nil, d.Log, nil, "")
			})}
		},
		ReactorRole: Role,
		Start: func(h *module.Host) error {
			return start(h, cfg, workers)
		},
	}
}

// workerHolder is the worker of a process, built once: by Start on a sync
// process (which fails the start when it cannot be built), else by the
// reactor's first event (the operator CLI), never as a stub.
type workerHolder struct {
	mu sync.Mutex
	w  *Worker
}

// get returns the worker, building it with build the first time.
func (h *workerHolder) get(build func() (*Worker, error)) (*Worker, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w != nil {
		return h.w, nil
	}
	w, err := build()
	if err != nil {
		return nil, err
	}
	h.w = w
	return w, nil
}

// reactor is the sync reactor whose handler runs on the held worker
// (built with build when none is yet): Start and Reactors may come in
// either order. A worker that cannot be built fails the event as
// transient (the CLI reports it); serve never gets there: its Start
// failed first.
func (h *workerHolder) reactor(build func() (*Worker, error)) reactor.Reactor {
	r := (*Worker)(nil).Reactor()
	r.Handler = func(ctx context.Context, ev reactor.Event, eff *reactor.Effects) error {
		w, err := h.get(build)
		if err != nil {
			return reactor.Transient(fmt.Errorf("workflow sync worker: %w", err))
		}
		return w.handle(ctx, ev, eff)
	}
	return r
}

// start mounts the customers API on api processes and starts the worker,
// the scheduler and the sweep on sync processes; a worker that cannot be
// built fails the start.
func start(h *module.Host, cfg Config, workers *workerHolder) error {
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
	customers, err := NewCustomers(h.Store, Registry(), eventstore.NewSnapshots(h.Store))
	if err != nil {
		return fmt.Errorf("workflow sync: %w", err)
	}
	if api {
		writes := NewWrites(customers, secrets, h.Idempotency, h.Log)
		writes.Mount(h.Server)
		logReads := h.Reads
		if logReads == nil {
			logReads = h.Store
		}
		NewReads(h.ReadPool).WithLog(logReads).WithSchedule(Schedule{Interval: cfg.Interval, DailyAt: cfg.DailyAt}).Mount(h.Server)
		if h.Dashboard != nil {
			mountDashboard(h.Dashboard, h.ReadPool, writes, Schedule{Interval: cfg.Interval, DailyAt: cfg.DailyAt}, h.Log)
		}
	}
	if !syncs {
		return nil
	}
	worker, err := workers.get(func() (*Worker, error) {
		return newWorker(cfg, h.Store, h.Pool, customers, h.Log, h.Metrics, h.ProcessID, secrets)
	})
	if err != nil {
		return fmt.Errorf("workflow sync: %w", err)
	}
	sched, err := NewScheduler(SchedulerConfig{Customers: customers, Pool: h.Pool, Interval: cfg.Interval,
		DailyAt: cfg.DailyAt, Location: time.Local, Logger: h.Log, Spread: cfg.Interval})
	if err != nil {
		return fmt.Errorf("workflow sync: %w", err)
	}
	h.Go(worker.Run) // the sweep of interrupted syncs; fails those in flight at shutdown
	h.Go(sched.Run)
	return nil
}

// newWorker builds the sync worker over the given connections; secrets,
// when not given, are opened with the configured key on first use.
func newWorker(cfg Config, store *eventstore.Store, pool *pgxpool.Pool, customers *Customers, log *slog.Logger,
	metrics prometheus.Registerer, runner string, secrets ...*Secrets) (*Worker, error) {
	var once func() (*Secrets, error)
	if len(secrets) > 0 && secrets[0] != nil {
		s := secrets[0]
		once = func() (*Secrets, error) { return s, nil }
	} else {
		once = sync.OnceValues(func() (*Secrets, error) { return cfg.Secrets(pool) })
	}
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
		sec, err := once()
		if err != nil {
			return zuora.Config{}, err
		}
		secret, err := sec.Load(ctx, customerID)
		if err != nil {
			return zuora.Config{}, err
		}
		return zuora.Config{BaseURL: state.BaseURL, ClientID: state.ClientID, ClientSecret: secret}, nil
	}
	return NewWorker(WorkerConfig{Store: store, Pool: pool, Registry: Registry(), Customers: customers,
		Credentials: creds, Projection: syncmodel.Name, PageLength: cfg.PageLength,
		RetryAttempts: cfg.RetryAttempts, RetryDelay: cfg.RetryDelay, Logger: log, Metrics: metrics, Runner: runner})
}
