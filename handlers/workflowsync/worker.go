package workflowsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/internal/promreg"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections/syncmodel"
	"github.com/eventline/eventline/zuora"
)

// ReactorName is the name of the reactor that runs the syncs; its durable
// consumer is "react_workflow_sync".
const ReactorName = "workflow_sync"

// Reasons a sync fails for without listing anything wrong upstream.
const (
	// ReasonInterrupted ends a sync whose worker stopped before finishing it.
	ReasonInterrupted = "interrupted (process stopped mid-sync); nothing was deleted"
	// ReasonReadModelBehind ends a sync whose read model did not catch up in time.
	ReasonReadModelBehind = "read model behind"
	// ReasonNeverBegun ends a sync no process began within WaitBound.
	ReasonNeverBegun = "never began"
)

// Errors of the worker.
var (
	// ErrReadModelBehind means the read model did not reach a sync's start
	// within WorkerConfig.ReadModelWait.
	ErrReadModelBehind = errors.New("workflowsync: read model behind")
	// ErrBadConfig means a WorkerConfig or SchedulerConfig is not usable.
	ErrBadConfig = errors.New("workflowsync: bad config")
)

// Customers is the command loop of the customer aggregate, shared by the
// API, the worker and the scheduler.
type Customers = aggregate.Handler[workflows.Customer, any]

// CustomerDefinition is the customer aggregate as the command loop runs it:
// workflows.Decide and workflows.Evolve on subject customer.<id> of stream
// WORKFLOWS.
func CustomerDefinition() aggregate.Definition[workflows.Customer, any] {
	return aggregate.Definition[workflows.Customer, any]{
		Stream:  workflows.Stream,
		Subject: workflows.Subject,
		Initial: func() workflows.Customer { return workflows.Customer{} },
		Evolve: func(s workflows.Customer, ev aggregate.Recorded) workflows.Customer {
			return workflows.Evolve(s, ev.Type, ev.Data)
		},
		Decide: func(s workflows.Customer, cmd any) ([]aggregate.Event, error) {
			evs, err := workflows.Decide(s, cmd)
			if err != nil {
				return nil, err
			}
			out := make([]aggregate.Event, len(evs))
			for i, e := range evs {
				out[i] = aggregate.Event{Type: e.Type, Data: e.Data}
			}
			return out, nil
		},
		Snapshot: &aggregate.Snapshot[workflows.Customer]{
			Version: workflows.CustomerSnapshotVersion,
			Write:   workflows.WriteCustomerSnapshot,
			Read:    workflows.ReadCustomerSnapshot,
		},
	}
}

// NewCustomers returns the command loop of the customer aggregate over
// store, decoding through reg (which must hold workflows.Events()). A
// customer's history grows with every sync that changes a workflow while
// its state stays small: with snaps (none when nil; a CLI command passes
// none, so as to create nothing on the server), a process that has not
// cached a customer loads it from its latest stored snapshot.
func NewCustomers(store aggregate.Store, reg *eventstore.Registry, snaps aggregate.SnapshotStore) (*Customers, error) {
	h, err := aggregate.New(store, reg, CustomerDefinition(), aggregate.Options{Snapshots: snaps})
	if err != nil {
		return nil, fmt.Errorf("customers: %w", err)
	}
	return h, nil
}

// syncAckWait is how long a sync's message stays with a process that
// stopped marking it in progress (killed mid-sync) before it is redelivered.
const syncAckWait = 10 * time.Second

// CredentialsFunc returns the Zuora connection of a customer: base URL,
// client id and secret (the worker fills PageLength and Logger when zero).
type CredentialsFunc func(ctx context.Context, customerID string) (zuora.Config, error)

// WorkerConfig configures a Worker. Zero durations and counts take defaults.
type WorkerConfig struct {
	// Store appends and loads the customer events.
	Store *eventstore.Store
	// Pool reads the read model (workflows, sync_runs, projection checkpoints).
	Pool *pgxpool.Pool
	// Registry decodes events; it must hold workflows.Events().
	Registry *eventstore.Registry
	// Customers is the command loop to use (built from Store and Registry when nil).
	Customers *Customers
	// Credentials gives a customer's Zuora connection (required).
	Credentials CredentialsFunc
	// Projection is the name of the read model keeping the workflows table;
	// a sync waits until its checkpoint reaches the sync's start (required).
	Projection string
	// PageLength is the Zuora page length (50).
	PageLength int
	// RetryAttempts is how many listings a sync tries, the first included (3).
	RetryAttempts int
	// RetryDelay is the wait before the second attempt, doubled after (60s).
	RetryDelay time.Duration
	// Concurrency bounds the syncs this process runs at once (4).
	Concurrency int
	// MaxWorkflows bounds one listing (200,000): a tenant listing more
	// fails the sync with ErrOverLimit. A customer's own bound
	// (workflows.Limits) replaces it.
	MaxWorkflows int
	// MaxBytes bounds the bytes of pages one listing reads (256 MiB): a
	// tenant serving more fails the sync with ErrOverLimit. A customer's
	// own bound replaces it.
	MaxBytes int64
	// Runner names this process in the syncs it begins (the host name and
	// process id when empty).
	Runner string
	// SyncTimeout bounds one sync; it is the reactor's time limit (30m).
	// While a sync runs its message is kept in progress; a process that
	// dies mid-sync has its message redelivered after syncAckWait, and the
	// process that gets it fails the sync as interrupted.
	SyncTimeout time.Duration
	// ReadModelWait bounds the wait for the read model at a sync's start (30s).
	ReadModelWait time.Duration
	// StaleAfter is how old the last event of a running sync that this
	// process is not running must be for the sweep to fail it; it must exceed
	// SyncTimeout, so that no process can still be running it (SyncTimeout + 5m).
	StaleAfter time.Duration
	// SweepEvery is the period of the sweep in Run (1m).
	SweepEvery time.Duration
	// WaitBound is how long a started sync may wait for a process to
	// begin it (a free slot) before the sweep fails it (6h). A waiting
	// sync is not interrupted: it waits across redeliveries of its
	// sync.started.
	WaitBound time.Duration
	// Logger receives a line per sync (slog.Default when nil).
	Logger *slog.Logger
	// Metrics receives the sync metrics (none when nil).
	Metrics prometheus.Registerer
	// Now is the clock (time.Now).
	Now func() time.Time
	// HTTPClient sends every sync's requests to Zuora (NewZuoraHTTPClient
	// when nil): one client, so that syncs share a bounded pool of
	// connections instead of each leaving its own behind.
	HTTPClient *http.Client
}

// Default bounds of one sync, for a customer without its own.
const (
	DefaultMaxWorkflows = 200_000
	DefaultMaxBytes     = 256 << 20
)

// limits are the bounds of a sync of a customer with own (zero fields:
// the worker's).
func (w *Worker) limits(own workflows.Limits) workflows.Limits {
	if own.MaxWorkflows <= 0 {
		own.MaxWorkflows = w.cfg.MaxWorkflows
	}
	if own.MaxBytes <= 0 {
		own.MaxBytes = w.cfg.MaxBytes
	}
	return own
}

// withDefaults fills the zero fields of c.
func (c WorkerConfig) withDefaults() WorkerConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.PageLength <= 0 {
		c.PageLength = zuora.MaxPageLength
	}
	if c.RetryAttempts <= 0 {
		c.RetryAttempts = 3
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.MaxWorkflows <= 0 {
		c.MaxWorkflows = DefaultMaxWorkflows
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Runner == "" {
		host, _ := os.Hostname()
		c.Runner = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	def(&c.RetryDelay, 60*time.Second)
	def(&c.SyncTimeout, 30*time.Minute)
	def(&c.ReadModelWait, 30*time.Second)
	def(&c.StaleAfter, c.SyncTimeout+5*time.Minute)
	def(&c.SweepEvery, time.Minute)
	def(&c.WaitBound, 6*time.Hour)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPClient == nil {
		c.HTTPClient = NewZuoraHTTPClient(c.Concurrency)
	}
	return c
}

// NewZuoraHTTPClient returns the HTTP client the syncs of a worker share.
// A sync sends one request at a time and at most concurrency run at once,
// so concurrency connections per Zuora host suffice (tenants share hosts
// such as rest.zuora.com); at most 2·concurrency stay idle in all, for
// 30 s. The sockets syncs hold stay bounded however many customers there
// are.
func NewZuoraHTTPClient(concurrency int) *http.Client {
	concurrency = max(concurrency, 1)
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxConnsPerHost:       concurrency,
		MaxIdleConnsPerHost:   concurrency,
		MaxIdleConns:          2 * concurrency,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

// Worker runs workflow syncs: the reactor that reacts to sync.started, and
// the sweep that fails syncs interrupted by a stopped process.
type Worker struct {
	cfg       WorkerConfig
	customers *Customers
	log       *slog.Logger
	metrics   *syncMetrics

	slots chan struct{} // one per sync the reactor runs at once, but the reserved one
	// reserved is the slot kept for customers whose last sync did not fail
	// (nil when Concurrency is 1): tenants that keep failing, slow or
	// endless, hold at most Concurrency-1 slots, and a healthy or new
	// customer's sync still starts.
	reserved chan struct{}
	mu       sync.Mutex
	running  map[string]bool // sync ids this process runs
	stop     context.Context // ends when Run's context does
	stopFn   context.CancelFunc
}

// NewWorker returns a worker for cfg.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	cfg = cfg.withDefaults()
	var errs []error
	if cfg.Store == nil || cfg.Pool == nil || cfg.Registry == nil {
		errs = append(errs, errors.New("store, pool and registry are needed"))
	}
	if cfg.Credentials == nil {
		errs = append(errs, errors.New("no credentials func"))
	}
	if cfg.Projection == "" {
		errs = append(errs, errors.New("no read model projection name"))
	}
	if cfg.PageLength > zuora.MaxPageLength {
		errs = append(errs, fmt.Errorf("page length %d: must be 1..%d", cfg.PageLength, zuora.MaxPageLength))
	}
	if cfg.StaleAfter <= cfg.SyncTimeout {
		errs = append(errs, fmt.Errorf("stale bound %s must exceed the sync timeout %s", cfg.StaleAfter, cfg.SyncTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: worker: %w", ErrBadConfig, err)
	}
	customers := cfg.Customers
	if customers == nil {
		var err error
		if customers, err = NewCustomers(cfg.Store, cfg.Registry, eventstore.NewSnapshots(cfg.Store)); err != nil {
			return nil, err
		}
	}
	stop, stopFn := context.WithCancel(context.Background())
	return &Worker{cfg: cfg, customers: customers, log: cfg.Logger.With("component", "workflow-sync"),
		metrics: newSyncMetrics(cfg.Metrics), slots: make(chan struct{}, max(cfg.Concurrency-1, 1)), reserved: reservedSlot(cfg.Concurrency),
		running: map[string]bool{}, stop: stop, stopFn: stopFn}, nil
}

// Customers returns the worker's command loop.
func (w *Worker) Customers() *Customers { return w.customers }

// reactorWindow is the sync reactor's MaxAckPending. The reactor sees
// every event of stream WORKFLOWS (a customer's events share one subject,
// so the server cannot filter out the rest) and acknowledges all but
// sync.started at once: a window as small as Concurrency made it work
// through the workflow events of a large sync a few at a time, and on a
// busy machine the next sync.started waited seconds behind them.
const reactorWindow = 64

// Reactor is the reactor that runs a sync for each sync.started event of
// stream WORKFLOWS, at most Concurrency at once (the others wait for a
// slot, kept in progress, within the sync's time limit); every other event
// is acknowledged as it comes. On a nil *Worker it is the
// declaration alone, whose handler refuses every event: what a module
// returns when asked for its reactors without dependencies (validation).
func (w *Worker) Reactor() reactor.Reactor {
	if w == nil {
		d := WorkerConfig{}.withDefaults()
		return reactor.Reactor{Name: ReactorName, Stream: workflows.Stream, Subjects: []string{workflows.Subjects},
			Handler: func(context.Context, reactor.Event, *reactor.Effects) error {
				return errors.New("workflowsync: no worker behind this reactor")
			},
			Policy: reactor.Policy{AckWait: syncAckWait, TimeLimit: 2 * d.SyncTimeout, MaxAckPending: reactorWindow, MaxAttempts: 10}}
	}
	return reactor.Reactor{
		Name:     ReactorName,
		Stream:   workflows.Stream,
		Subjects: []string{workflows.Subjects},
		Handler:  w.handle,
		Policy: reactor.Policy{
			AckWait:       syncAckWait,
			TimeLimit:     2 * w.cfg.SyncTimeout, // a slot's wait, then the sync's own time
			MaxAckPending: reactorWindow,
			MaxAttempts:   10,
		},
	}
}

// handle runs the sync a sync.started event starts. A sync that is no
// longer running (finished, or failed by the sweep) is left alone; one
// redelivered while still running, and not by this process, is failed as
// interrupted: the delivery that ran it is gone.
func (w *Worker) handle(ctx context.Context, ev reactor.Event, _ *reactor.Effects) error {
	if ev.Envelope.Type != workflows.SyncStartedV1 {
		return nil
	}
	data, err := w.cfg.Registry.Decode(ev.Envelope)
	if err != nil {
		return reactor.Permanent(fmt.Errorf("decode %s: %w", ev.Envelope.Type, err))
	}
	started, ok := data.(*workflows.SyncStarted)
	if !ok {
		return reactor.Permanent(fmt.Errorf("decode %s: unexpected %T", ev.Envelope.Type, data))
	}
	customerID := customerOf(ev.Subject)
	if ev.Attempt > 1 {
		if waiting, err := w.failIfOrphaned(ctx, customerID, started.SyncID); err != nil || !waiting {
			return err
		}
	}
	// The wait for a slot is bounded apart from the sync's own time: a
	// sync that waited its bound is redelivered and waits again (it has
	// not begun), and one that begins has SyncTimeout to run.
	wctx, cancel := context.WithTimeout(ctx, w.cfg.SyncTimeout)
	release, err := w.acquire(wctx, customerID)
	cancel()
	if err != nil {
		return reactor.Transient(fmt.Errorf("sync %s of customer %s: no free slot: %w", started.SyncID, customerID, err))
	}
	defer release()
	_, err = w.RunSync(ctx, customerID, started.SyncID)
	return err
}

// reservedSlot is the reserved slot of a worker running concurrency syncs.
func reservedSlot(concurrency int) chan struct{} {
	if concurrency < 2 {
		return nil
	}
	return make(chan struct{}, 1)
}

// acquire waits for a sync slot for customerID and returns its release.
// A customer whose last sync failed waits for one of the shared slots; any
// other may also take the reserved one.
func (w *Worker) acquire(ctx context.Context, customerID string) (func(), error) {
	general := func() { <-w.slots }
	reserve := w.reserved
	if reserve != nil {
		if state, _, err := w.customers.Load(ctx, customerID); err == nil && state.LastSync == "failed" {
			reserve = nil // a nil channel: never ready
		}
	}
	select {
	case w.slots <- struct{}{}:
		return general, nil
	default:
	}
	select {
	case w.slots <- struct{}{}:
		return general, nil
	case reserve <- struct{}{}:
		return func() { <-w.reserved }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// customerOf returns the customer id of subject customer.<id>.
func customerOf(subject string) string {
	const prefix = "customer."
	if len(subject) > len(prefix) && subject[:len(prefix)] == prefix {
		return subject[len(prefix):]
	}
	return subject
}

// failIfOrphaned looks at a redelivered sync.started: a sync still waiting
// for a process to begin it (no runner) is to be run (waiting); one that
// was begun and that this process does not run is failed as interrupted,
// since the delivery that ran it is gone.
func (w *Worker) failIfOrphaned(ctx context.Context, customerID, syncID string) (waiting bool, err error) {
	if w.isLocal(syncID) {
		return false, nil
	}
	state, _, err := w.customers.Load(ctx, customerID)
	if err != nil {
		return false, reactor.Transient(fmt.Errorf("load customer %s: %w", customerID, err))
	}
	if state.Running == nil || state.Running.SyncID != syncID {
		return false, nil
	}
	if state.Running.Runner == "" {
		return true, nil
	}
	w.log.Warn("sync redelivered while running: failing it as interrupted", "customer", customerID, "sync", syncID,
		"runner", state.Running.Runner)
	return false, w.fail(ctx, customerID, syncID, ReasonInterrupted, workflows.Stats{}, 0)
}

// Run sweeps interrupted syncs at once and every SweepEvery until ctx ends;
// then the syncs this process runs are stopped and failed as interrupted.
func (w *Worker) Run(ctx context.Context) error {
	defer w.stopFn()
	t := time.NewTicker(w.cfg.SweepEvery)
	defer t.Stop()
	for {
		if n, err := w.Sweep(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("sweep of interrupted syncs", "err", err)
		} else if n > 0 {
			w.log.Info("sweep failed interrupted syncs", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// claim marks syncID as run by this process; false when it already is.
func (w *Worker) claim(syncID string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running[syncID] {
		return false
	}
	w.running[syncID] = true
	return true
}

func (w *Worker) release(syncID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.running, syncID)
}

func (w *Worker) isLocal(syncID string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running[syncID]
}

// failure is why a sync failed: its reason, and whether Zuora refused the
// customer's credentials.
type failure struct {
	reason  string
	refused bool
}

// fail ends a sync with reason, on a context of its own when ctx is over
// (a sync cut short must still be recorded). ErrNotRunning is success.
func (w *Worker) fail(ctx context.Context, customerID, syncID, reason string, st workflows.Stats, pages int) error {
	_, err := w.failRecorded(ctx, customerID, syncID, failure{reason: reason}, st, pages)
	return err
}

// failRecorded is fail returning what the command did.
func (w *Worker) failRecorded(ctx context.Context, customerID, syncID string, f failure, st workflows.Stats,
	pages int) (aggregate.Result[workflows.Customer], error) {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
	}
	// A sync cut short by a dead process knows nothing of its listing;
	// the customer's state still counts what it created and updated, and
	// the total is never fewer than those.
	if state, _, lerr := w.customers.Load(ctx, customerID); lerr == nil && state.Running != nil && state.Running.SyncID == syncID {
		st.Total = max(st.Total, state.Running.Created+state.Running.Updated, state.Running.Listed)
		pages = max(pages, state.Running.Pages)
	}
	res, err := w.customers.Handle(ctx, customerID, workflows.Fail{SyncID: syncID, Reason: f.reason, CredentialsRefused: f.refused,
		Stats: st, Pages: pages, Now: w.cfg.Now()}, aggregate.Meta{CausationID: syncID, CorrelationID: syncID})
	if stoppedBy(err) {
		return res, nil
	}
	if err != nil {
		return res, reactor.Transient(fmt.Errorf("fail sync %s: %w", syncID, err))
	}
	w.metrics.failed.Inc()
	return res, nil
}

// waitCustomer waits until the read model has applied customer
// customerID's events up to seq, at most ReadModelWait; it fails at once
// when the read model holds the customer's events back (a parked event),
// since its rows are then stale however far the checkpoint has gone.
func (w *Worker) waitCustomer(ctx context.Context, customerID string, seq uint64) error {
	id, err := uuid.Parse(customerID)
	if err != nil {
		return fmt.Errorf("customer id %q: %w", customerID, err)
	}
	// Polled every 5 ms, backing off to 25 ms, for ReadModelWait at most.
	poll := &backoff.ExponentialBackOff{InitialInterval: 5 * time.Millisecond, Multiplier: 2, MaxInterval: 25 * time.Millisecond}
	_, err = backoff.Retry(ctx, func() (struct{}, error) {
		at, err := syncmodel.CustomerSeq(ctx, w.cfg.Pool, id)
		switch {
		case err != nil:
			return struct{}{}, backoff.Permanent(err)
		case at < seq:
			return struct{}{}, fmt.Errorf("%w: %s has the customer's events up to #%d, the sync began at #%d (waited %s)",
				ErrReadModelBehind, w.cfg.Projection, at, seq, w.cfg.ReadModelWait)
		}
		return struct{}{}, nil
	}, backoff.WithBackOff(poll), backoff.WithMaxElapsedTime(w.cfg.ReadModelWait))
	return err
}

// syncMetrics are the workflow sync's Prometheus series.
type syncMetrics struct {
	started, completed, failed, pages prometheus.Counter
	workflows                         *prometheus.CounterVec
	duration                          prometheus.Histogram
}

func newSyncMetrics(reg prometheus.Registerer) *syncMetrics {
	m := &syncMetrics{
		started:   prometheus.NewCounter(prometheus.CounterOpts{Name: "eventline_sync_started_total", Help: "Workflow syncs this process began running."}),
		completed: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventline_sync_completed_total", Help: "Workflow syncs completed."}),
		failed:    prometheus.NewCounter(prometheus.CounterOpts{Name: "eventline_sync_failed_total", Help: "Workflow syncs failed (nothing deleted)."}),
		pages:     prometheus.NewCounter(prometheus.CounterOpts{Name: "eventline_sync_pages_total", Help: "Zuora workflow pages listed."}),
		workflows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventline_sync_workflows_total",
			Help: "Workflow events a sync appended, by change (created, updated, deleted)."}, []string{"change"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eventline_sync_duration_seconds",
			Help: "Time a sync took, start to its last event.", Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12)}),
	}
	if reg == nil {
		return m
	}
	m.started = promreg.Register(reg, m.started)
	m.completed = promreg.Register(reg, m.completed)
	m.failed = promreg.Register(reg, m.failed)
	m.pages = promreg.Register(reg, m.pages)
	m.workflows = promreg.Register(reg, m.workflows)
	m.duration = promreg.Register(reg, m.duration)
	return m
}
