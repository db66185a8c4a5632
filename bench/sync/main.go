package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/bench/internal/benchcmd"
	"github.com/eventline/eventline/bench/internal/benchserve"
	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/internal/pgcluster"
	"github.com/eventline/eventline/migrations"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/syncmodel"
	"github.com/eventline/eventline/zuora"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// options are the benchmark's flags.
type options struct {
	Workflows   int
	Customers   int
	PerCustomer int
	Concurrency int
	Latency     time.Duration
}

func main() { benchcmd.Main("bench/sync", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	c := benchcmd.New("sync", stderr, benchcmd.Shared{})
	c.IntVar(&o.Workflows, "workflows", 10_000, "workflows of the single-customer syncs")
	c.IntVar(&o.Customers, "customers", 100, "customers of the many-customer sync")
	c.IntVar(&o.PerCustomer, "per-customer", 500, "workflows per customer of the many-customer sync")
	c.IntVar(&o.Concurrency, "concurrency", 8, "syncs run at once by the worker")
	c.DurationVar(&o.Latency, "latency", 20*time.Millisecond, "latency added per page in the second measurement")
	if err := c.Parse(args, func() error {
		if o.Workflows < 1 || o.Customers < 1 || o.PerCustomer < 1 || o.Concurrency < 1 {
			return errors.New("every count must be positive")
		}
		return nil
	}); err != nil {
		return err
	}
	c.Logf("%d workflows; %d customers x %d at concurrency %d", o.Workflows, o.Customers, o.PerCustomer, o.Concurrency)
	env, err := start(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer env.close()

	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	big := zuorasim.GenerateWorkflows(o.Workflows, base)
	pages := (o.Workflows + zuora.MaxPageLength - 1) / zuora.MaxPageLength
	for _, m := range []struct {
		name    string
		sim     *simServer
		ideal   time.Duration
		target  string
		targetD time.Duration
	}{
		{"no latency", env.fast, 0, "<= 5s", 5 * time.Second},
		{fmt.Sprintf("%s per page", o.Latency), env.slow, time.Duration(pages) * o.Latency, "", 0},
	} {
		clientID := "big-" + uuid.NewString()[:8]
		if err := m.sim.sim.PutTenant(clientID, zuorasim.Tenant{ClientSecret: secret, Workflows: big}); err != nil {
			return err
		}
		listing, err := bareListing(ctx, m.sim.url, clientID)
		if err != nil {
			return err
		}
		id, err := env.addCustomer(ctx, m.sim.url, clientID)
		if err != nil {
			return err
		}
		took, err := env.syncAll(ctx, []string{id})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sync %d workflows (%d pages), %s: %s end to end (events stored, read model caught up); bare listing %s",
			o.Workflows, pages, m.name, took.Round(time.Millisecond), listing.Round(time.Millisecond))
		if m.ideal > 0 {
			fmt.Fprintf(stdout, "; ideal %d x %s = %s; sync/ideal %.3fx (target <= 1.15x); listing/ideal %.3fx\n", pages, o.Latency,
				m.ideal, float64(took)/float64(m.ideal), float64(listing)/float64(m.ideal))
		} else {
			fmt.Fprintf(stdout, "; target %s: %s\n", m.target, verdict(took <= m.targetD))
		}
	}

	benchserve.ResetPeakRSS(os.Getpid())
	var ids []string
	for i := range o.Customers {
		clientID := fmt.Sprintf("many-%d", i)
		if err := env.fast.sim.PutTenant(clientID, zuorasim.Tenant{ClientSecret: secret,
			Workflows: zuorasim.GenerateWorkflows(o.PerCustomer, base)}); err != nil {
			return err
		}
		id, err := env.addCustomer(ctx, env.fast.url, clientID)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	runtime.GC()
	benchserve.ResetPeakRSS(os.Getpid())
	took, err := env.syncAll(ctx, ids)
	if err != nil {
		return err
	}
	peak, err := benchserve.PeakRSS(os.Getpid())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sync %d customers x %d workflows at concurrency %d: %s wall (%.0f workflows/s); peak RSS of the bench process %.1f MiB (target <= 200 MiB: %s)\n",
		o.Customers, o.PerCustomer, o.Concurrency, took.Round(time.Millisecond),
		float64(o.Customers*o.PerCustomer)/took.Seconds(), float64(peak)/(1<<20), verdict(peak <= 200<<20))
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

const secret = "bench-secret"

// simServer is a zuora-sim served over HTTP.
type simServer struct {
	sim *zuorasim.Server
	srv *httptest.Server
	url string
}

func newSim(latency time.Duration) (*simServer, error) {
	sim, err := zuorasim.New(zuorasim.Options{Latency: latency}, nil)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(sim)
	return &simServer{sim: sim, srv: srv, url: srv.URL}, nil
}

// bareListing lists clientID's workflows with the Zuora client alone.
func bareListing(ctx context.Context, url, clientID string) (time.Duration, error) {
	c := zuora.New(zuora.Config{BaseURL: url, ClientID: clientID, ClientSecret: secret})
	began := time.Now()
	n := 0
	listing, err := c.ListWorkflows(ctx, func(p zuora.Page) error { n += len(p.Workflows); return nil })
	if err != nil || !listing.Complete {
		return 0, fmt.Errorf("bare listing: complete %v: %w", listing.Complete, err)
	}
	return time.Since(began), nil
}

// env is the servers and the worker of the benchmark.
type env struct {
	dir, pgDir string
	nats       *natsserver.Server
	pg         *pgcluster.Cluster
	store      *eventstore.Store
	pool       *pgxpool.Pool
	fast, slow *simServer
	worker     *workflowsync.Worker
	customers  *workflowsync.Customers
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	mu    sync.Mutex
	creds map[string]zuora.Config
}

func start(ctx context.Context, o options, stderr io.Writer) (_ *env, err error) {
	e := &env{creds: map[string]zuora.Config{}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "eventline-bench-sync-*"); err != nil {
		return nil, err
	}
	if e.nats, err = natsserver.Start(natsserver.Config{StoreDir: e.dir + "/nats", Listen: "127.0.0.1:0"}); err != nil {
		return nil, fmt.Errorf("start nats: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if e.store, err = eventstore.Connect(ctx, eventstore.Options{URL: e.nats.ClientURL(), Name: "bench-sync", FailFast: true, Logger: log}); err != nil {
		return nil, err
	}
	if err := e.store.EnsureStreams(ctx, []eventstore.StreamSpec{{Name: workflows.Stream, Subjects: []string{workflows.Subjects},
		AllowAtomicPublish: true, Description: "workflow sync"}}); err != nil {
		return nil, err
	}
	// The postgres user must reach the cluster's directory: one of its own.
	if e.pgDir, err = os.MkdirTemp("", "eventline-bench-sync-pg-*"); err != nil {
		return nil, err
	}
	if e.pg, err = pgcluster.Start(ctx, e.pgDir, pgcluster.Options{}); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if e.pool, err = pgxpool.New(ctx, e.pg.URL("eventline")); err != nil {
		return nil, err
	}
	if _, err := migrations.Up(ctx, e.pool); err != nil {
		return nil, err
	}
	if e.fast, err = newSim(0); err != nil {
		return nil, err
	}
	if e.slow, err = newSim(o.Latency); err != nil {
		return nil, err
	}
	reg := eventstore.NewRegistry()
	reg.RegisterAll(workflows.Events())
	e.worker, err = workflowsync.NewWorker(workflowsync.WorkerConfig{Store: e.store, Pool: e.pool, Registry: reg,
		Projection: syncmodel.Name, Credentials: e.credentials, Concurrency: o.Concurrency, Logger: log})
	if err != nil {
		return nil, err
	}
	e.customers = e.worker.Customers()
	rt, err := reactor.NewRuntime(e.store, e.pool, []reactor.Reactor{e.worker.Reactor()}, reactor.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	e.cancel = cancel
	e.wg.Add(3)
	go func() { defer e.wg.Done(); _ = rt.Run(runCtx) }()
	go func() { defer e.wg.Done(); _ = e.worker.Run(runCtx) }()
	go func() {
		defer e.wg.Done()
		_ = projections.NewRunner(syncmodel.Spec().Live(), e.store.JetStream(), e.pool, projections.Config{BatchWait: 5 * time.Millisecond}, nil, nil).Run(runCtx)
	}()
	return e, nil
}

func (e *env) close() {
	if e.cancel != nil {
		e.cancel()
		e.wg.Wait()
	}
	for _, s := range []*simServer{e.fast, e.slow} {
		if s != nil {
			s.srv.Close()
		}
	}
	if e.pool != nil {
		e.pool.Close()
	}
	if e.store != nil {
		e.store.Close()
	}
	if e.pg != nil {
		_ = e.pg.Stop()
	}
	if e.nats != nil {
		e.nats.Shutdown()
	}
	for _, d := range []string{e.dir, e.pgDir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
}

func (e *env) credentials(_ context.Context, customerID string) (zuora.Config, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.creds[customerID]
	if !ok {
		return c, errors.New("no such customer")
	}
	return c, nil
}

// addCustomer creates a customer on sim tenant clientID and waits until
// the read model holds it.
func (e *env) addCustomer(ctx context.Context, url, clientID string) (string, error) {
	id := uuid.NewString()
	e.mu.Lock()
	e.creds[id] = zuora.Config{BaseURL: url, ClientID: clientID, ClientSecret: secret}
	e.mu.Unlock()
	res, err := e.customers.Handle(ctx, id, workflows.Create{CustomerID: id, Name: clientID, BaseURL: url, ClientID: clientID,
		Now: time.Now()}, aggregate.Meta{})
	if err != nil {
		return "", err
	}
	return id, syncmodel.WaitCaughtUp(ctx, e.pool, res.Seq, time.Minute)
}

// syncAll starts a sync of every customer of ids and returns the time until
// all completed and the read model caught up with the stream.
func (e *env) syncAll(ctx context.Context, ids []string) (time.Duration, error) {
	began := time.Now()
	syncIDs := make([]string, len(ids))
	for i, id := range ids {
		syncIDs[i] = uuid.NewString()
		if _, err := e.customers.Handle(ctx, id, workflows.Start{SyncID: syncIDs[i], Trigger: workflows.TriggerCLI, Now: time.Now()},
			aggregate.Meta{}); err != nil {
			return 0, err
		}
	}
	deadline := time.Now().Add(10 * time.Minute)
	for _, syncID := range syncIDs {
		for {
			var status string
			err := e.pool.QueryRow(ctx, `SELECT status FROM sync_runs WHERE sync_id = $1`, syncID).Scan(&status)
			if err == nil && status == "completed" {
				break
			}
			if status == "failed" {
				return 0, fmt.Errorf("sync %s failed", syncID)
			}
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("sync %s not done in time (status %q, err %v)", syncID, status, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	last, err := e.store.LastSeq(ctx, workflows.Stream)
	if err != nil {
		return 0, err
	}
	if err := syncmodel.WaitCaughtUp(ctx, e.pool, last, time.Minute); err != nil {
		return 0, err
	}
	return time.Since(began), nil
}
