package workflowsync_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/syncmodel"
	"github.com/eventline/eventline/zuora"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// The read model in these tests is the real projections/syncmodel, run by
// the projections runtime.

// workflowsStream is the stream the module creates.
var workflowsStream = eventstore.StreamSpec{Name: workflows.Stream, Subjects: []string{workflows.Subjects}, AllowAtomicPublish: true}

const simSecret = "s3cret-value"

// simBase is the timestamp base of generated workflows.
var simBase = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// syncEnv is a store, a database kept by the stand-in read model, an
// in-process Zuora sim and a worker with its reactor running.
type syncEnv struct {
	store     *eventstore.Store
	pool      *pgxpool.Pool
	sim       *zuorasim.Server
	srv       *httptest.Server
	worker    *workflowsync.Worker
	customers *workflowsync.Customers
	reg       *eventstore.Registry

	mu      sync.Mutex
	clients map[string]string // customer id → sim client id
	secrets map[string]string // client id → secret the customer uses
	now     time.Time         // the worker's clock, moved by tests
	// stopWorker ends the worker's Run (as a process shutting down would),
	// leaving the reactor running.
	stopWorker context.CancelFunc
	// wrap, when set, wraps the sim's handler (set before newSyncEnv returns).
	hook func(w http.ResponseWriter, r *http.Request) bool
}

type envOptions struct {
	noReactor bool
	// natsURL is the server or cluster to use (a fresh testenv.NATS when
	// empty), for tests that stop and restart servers; replicas is the
	// WORKFLOWS stream's replica count on it.
	natsURL  string
	replicas int
	worker   func(*workflowsync.WorkerConfig)
	sim      zuorasim.Options
}

func newSyncEnv(t *testing.T, o envOptions) *syncEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Registered last below (cleanups run last first): the goroutines
	// stop before the store, NATS and the pool close under them.
	defer t.Cleanup(func() { cancel(); wg.Wait() })
	if o.natsURL == "" {
		o.natsURL = testenv.NATS(t).ClientURL()
	}
	store, err := eventstore.Connect(ctx, eventstore.Options{URL: o.natsURL, Name: t.Name(), Replicas: o.replicas})
	require.NoError(t, err)
	t.Cleanup(store.Close)
	// A cluster may still be electing the stream's leader.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := store.EnsureStreams(ctx, []eventstore.StreamSpec{workflowsStream})
		if err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "streams not created: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
	pool := testenv.Pool(t, testenv.Postgres(t))
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = projections.NewRunner(syncmodel.Spec().Live(), store.JetStream(), pool, projections.Config{BatchWait: 5 * time.Millisecond}, nil, nil).Run(ctx)
	}()

	e := &syncEnv{store: store, pool: pool, clients: map[string]string{}, secrets: map[string]string{}, now: time.Now()}
	e.sim, err = zuorasim.New(o.sim, nil)
	require.NoError(t, err)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		hook := e.hook
		e.mu.Unlock()
		if hook != nil && hook(w, r) {
			return
		}
		e.sim.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.reg = eventstore.NewRegistry()
	e.reg.RegisterAll(workflows.Events())
	cfg := workflowsync.WorkerConfig{
		Store: store, Pool: pool, Registry: e.reg, Projection: syncmodel.Name,
		Credentials: e.credentials, RetryAttempts: 3, RetryDelay: time.Millisecond,
		ReadModelWait: 20 * time.Second, Now: e.clock,
	}
	if o.worker != nil {
		o.worker(&cfg)
	}
	e.worker, err = workflowsync.NewWorker(cfg)
	require.NoError(t, err)
	e.customers = e.worker.Customers()
	if !o.noReactor {
		rt, err := reactor.NewRuntime(store, pool, []reactor.Reactor{e.worker.Reactor()}, reactor.Config{CloseTimeout: 5 * time.Second})
		require.NoError(t, err)
		wg.Add(2)
		go func() { defer wg.Done(); _ = rt.Run(ctx) }()
		wctx, stop := context.WithCancel(ctx)
		e.stopWorker = stop
		go func() { defer wg.Done(); _ = e.worker.Run(wctx) }()
	}
	return e
}

func (e *syncEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *syncEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func (e *syncEnv) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hook = h
}

// credentials is the worker's CredentialsFunc: the customer's sim tenant,
// with client retries that do not wait.
func (e *syncEnv) credentials(_ context.Context, customerID string) (zuora.Config, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	client := e.clients[customerID]
	return zuora.Config{BaseURL: e.srv.URL, ClientID: client, ClientSecret: e.secrets[client],
		Retry:  zuora.RetryPolicy{Attempts: 2, FirstDelay: time.Millisecond, MaxDelay: time.Millisecond},
		Sleep:  func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		Logger: nil}, nil
}

// putTenant stores the sim tenant clientID with wfs.
func (e *syncEnv) putTenant(t *testing.T, clientID string, wfs []zuorasim.Workflow) {
	t.Helper()
	require.NoError(t, e.sim.PutTenant(clientID, zuorasim.Tenant{ClientSecret: simSecret, Workflows: wfs, TimeFormat: zuorasim.TimeMixed}))
}

// addCustomer creates a customer on sim tenant clientID holding wfs.
func (e *syncEnv) addCustomer(t *testing.T, clientID string, wfs []zuorasim.Workflow) string {
	t.Helper()
	e.putTenant(t, clientID, wfs)
	id := uuid.NewString()
	e.mu.Lock()
	e.clients[id], e.secrets[clientID] = clientID, simSecret
	e.mu.Unlock()
	_, err := e.customers.Handle(context.Background(), id, workflows.Create{CustomerID: id, Name: clientID,
		BaseURL: e.srv.URL, ClientID: clientID, Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	return id
}

// start starts a manual sync of customer id and returns its id.
func (e *syncEnv) start(t *testing.T, id string, allowMassDelete bool) string {
	t.Helper()
	syncID := uuid.NewString()
	_, err := e.customers.Handle(context.Background(), id, workflows.Start{SyncID: syncID, Trigger: workflows.TriggerManual,
		AllowMassDelete: allowMassDelete, Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	return syncID
}

// syncRun is a sync_runs row.
type syncRun struct {
	Status, Reason                            string
	Created, Updated, Deleted, Unchanged, Tot int
	Errors                                    []string
	Pages                                     int
}

// sync starts a sync of customer id and waits until the read model shows it finished.
func (e *syncEnv) sync(t *testing.T, id string, allowMassDelete bool) syncRun {
	t.Helper()
	return e.wait(t, e.start(t, id, allowMassDelete))
}

// wait polls sync_runs until syncID is finished.
func (e *syncEnv) wait(t *testing.T, syncID string) syncRun {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var r syncRun
		err := e.pool.QueryRow(context.Background(), `SELECT status, reason, created, updated, deleted, unchanged, total, errors, pages
			FROM sync_runs WHERE sync_id = $1`, syncID).Scan(&r.Status, &r.Reason, &r.Created, &r.Updated, &r.Deleted,
			&r.Unchanged, &r.Tot, &r.Errors, &r.Pages)
		if err == nil && r.Status != "running" {
			return r
		}
		require.True(t, time.Now().Before(deadline), "sync %s not finished in time (status %q, err %v)", syncID, r.Status, err)
		time.Sleep(10 * time.Millisecond)
	}
}

// rows returns the stored workflows of customer id by Zuora id.
func (e *syncEnv) rows(t *testing.T, id string) map[int64]workflows.Workflow {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT zuora_id, name, description, status, created_at, updated_at
		FROM workflows WHERE customer_id = $1`, id)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int64]workflows.Workflow{}
	for rows.Next() {
		var w workflows.Workflow
		require.NoError(t, rows.Scan(&w.ZuoraID, &w.Name, &w.Description, &w.Status, &w.CreatedAt, &w.UpdatedAt))
		out[w.ZuoraID] = w
	}
	require.NoError(t, rows.Err())
	return out
}

// lastSeq returns the last sequence of customer id's subject.
func (e *syncEnv) lastSeq(t *testing.T, id string) uint64 {
	t.Helper()
	_, seq, err := e.store.Load(context.Background(), workflows.Stream, workflows.Subject(id))
	require.NoError(t, err)
	return uint64(seq)
}

// waitReadModel waits until the stand-in has applied customer id's events.
func (e *syncEnv) waitReadModel(t *testing.T, id string) {
	t.Helper()
	require.NoError(t, syncmodel.WaitCaughtUp(context.Background(), e.pool, e.lastSeq(t, id), 20*time.Second))
}
