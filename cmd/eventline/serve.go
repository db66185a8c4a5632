package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/internal/pgcluster"
	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/platform/module"
	"github.com/eventline/eventline/platform/opsapi"
	"github.com/eventline/eventline/platform/opsdash"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections"
)

// serve runs the roles of cfg until ctx ends, then shuts down in order: the
// HTTP server finishes its requests, the ingester its appends, the projector
// its batch; then the connections, the embedded NATS server and the managed
// PostgreSQL cluster stop.
// defaultMemoryLimit is the Go runtime's soft memory limit for serve.
//
// Why 192 MiB: the embedded NATS server holds what each stream was written
// in its last ~10 s (block caches, in use, not garbage): ~55 MiB at 600
// sagas/s. Under 144 MiB that left the collector ~20 MiB of headroom, and
// it ran ~14 times a second: a third of serve's CPU per saga. At 192 MiB
// the saga bench gains ~35 % (interval: 825 against ~600 sagas/s) with a
// peak RSS of ~220 MiB; bench/logsearch's peak at 50,000 entries/s is 270-295
// MiB (297 MiB at 224 MiB, too near its 300 MiB bound). docs/BENCHMARKS.md.
const defaultMemoryLimit = 192 << 20

// defaultGCPercent is the collector's GOGC for serve: the heap may grow by
// half of what is in use before a collection, instead of doubling.
//
// Why 50: under the memory limit alone, a process whose live heap is well
// below it still runs up to it (a projector draining a backlog: ~75 MiB in
// use, the heap goal at the limit, RSS ~215 MiB). At 50 the same drain
// peaks at 176-186 MiB, under issue 2's 200 MiB, at the same rate (62,111
// against 62,432-63,620 rows/s). Where the limit binds (sagas: ~115 MiB in use) the goal is
// the same either way and so is the rate (interval, alternated: 740 / 831
// against 742 / 864 sagas/s). docs/BENCHMARKS.md.
const defaultGCPercent = 50

func serve(ctx context.Context, cfg Config, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.bindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("process", cfg.ProcessID)
	if getenv("GOMEMLIMIT") == "" {
		// A soft limit keeps the collector ahead of bursts (a projector
		// draining a backlog of large events) instead of letting the heap
		// double; GOMEMLIMIT overrides it.
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}

	in, err := openInfra(ctx, cfg, infraNeeds{nats: true, postgres: true, serve: true}, log)
	if err != nil {
		return err
	}
	defer in.close()

	// Every metric carries the process id (a constant label), so that the
	// series of several processes stay apart wherever they are scraped.
	reg := prometheus.NewRegistry()
	labeled := prometheus.WrapRegistererWith(prometheus.Labels{"process": cfg.ProcessID}, reg)
	labeled.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newGroupCommitCollector(in.store))
	pmetrics := projections.NewMetrics(labeled)

	var idem *httpapi.Idempotency
	if cfg.hasRole("api") {
		if idem, err = openIdempotency(ctx, cfg, in); err != nil {
			return err
		}
	}
	// Listen before starting anything, so that a taken port fails fast.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()

	g, gctx := errgroup.WithContext(ctx)
	// Every process serves /healthz, /readyz and /metrics; the api role adds /api/.
	var dash *dashboard.Dashboard
	hosts := cfg.allowedHosts() // DNS rebinding: other Host names are refused
	scfg := httpapi.ServerConfig{Token: cfg.APIToken, Registry: reg, Registerer: labeled, Logger: log, AllowedHosts: hosts}
	if cfg.hasRole("api") {
		sessions, err := openSessions(ctx, cfg, in) // shared by the processes: a sign-out ends a session everywhere
		if err != nil {
			return err
		}
		if dash, err = dashboard.New(dashboard.Config{Token: cfg.APIToken, Log: log, AllowedHosts: hosts, Sessions: sessions}); err != nil {
			return err
		}
		scfg.Session = dash.APIAuthorized
	}
	srv := httpapi.NewServer(scfg)
	srv.AddCheck(httpapi.Check{Name: "jetstream", Fn: in.store.Ping})
	// PostgreSQL holds read models only: while it is down a process that
	// accepts writes is degraded, not unready.
	srv.AddCheck(httpapi.Check{Name: "postgres", Fn: func(ctx context.Context) error { return in.readPool.Ping(ctx) }, Degrades: cfg.hasRole("api")})
	if in.cluster != nil && in.stopCluster {
		sup := pgcluster.NewSupervisor(in.cluster, pgcluster.SupervisorConfig{}, log)
		g.Go(func() error { return sup.Run(gctx) })
	}
	if in.embedded != nil {
		// Refuse appends before the store's filesystem fills, and recover
		// the embedded server once space is freed.
		guard := natsserver.NewDiskGuard(natsserver.DiskGuardConfig{Dir: cfg.natsDir(), Server: in.embedded, Logger: log})
		in.store.SetWriteGuard(guard)
		srv.AddCheck(httpapi.Check{Name: "log_storage", Fn: guard.Check})
		g.Go(func() error { return guard.Run(gctx) })
	}
	mods := modules(cfg)
	if err := mods.Validate(); err != nil {
		return fmt.Errorf("modules: %w", err)
	}
	projs := mods.Projections()
	runners := map[string]*projections.Runner{}
	if cfg.hasRole("projector") {
		for _, spec := range projs.Specs() {
			r := projections.NewRunner(spec.Live(), in.store.JetStream(), in.pool,
				projections.Config{BatchSize: cfg.ProjectionBatch, BatchWait: cfg.ProjectionWait, InPlaceWait: cfg.ProjectionWaitInPlace}, pmetrics, log)
			runners[spec.Name] = r
			g.Go(func() error { return r.Run(gctx) })
		}
	}
	// Work that HTTP requests wait on (the log ingester) outlives the HTTP
	// server, so that requests in flight at shutdown still get their answers.
	drainCtx, stopDrained := context.WithCancel(context.WithoutCancel(gctx))
	defer stopDrained()
	host := &module.Host{
		Store: in.store, Reads: in.reads, Pool: in.pool, ReadPool: in.readPool, Server: srv,
		Idempotency: idem, Dashboard: dash, Metrics: labeled, Log: log, ProcessID: cfg.ProcessID, EmbeddedNATS: in.embedded != nil,
		HasRole: cfg.hasRole, Runners: runners,
		Go:        func(fn func(context.Context) error) { g.Go(func() error { return fn(gctx) }) },
		GoDrained: func(fn func(context.Context) error) { g.Go(func() error { return fn(drainCtx) }) },
	}
	// Each module is built once here, over the host's connections: its
	// routes, workers and reactors share its parts. Reactors run on the
	// processes whose roles their modules name.
	started, err := mods.Start(host)
	if err != nil {
		return err
	}
	if len(started.Run) > 0 {
		rt, err := reactor.NewRuntime(in.store, in.pool, started.Run, reactor.Config{Logger: log, Registerer: labeled})
		if err != nil {
			return err
		}
		g.Go(func() error { return rt.Run(gctx) })
	}
	if cfg.hasRole("api") {
		ops := opsapi.NewInspector(in.store.JetStream(), in.readPool, projs)
		// Parked items are retried and skipped here as the CLI does: over
		// the write pool, with every module's reactors built above, the
		// handlers this process runs (the projection's lock keeps a retry
		// and the projector of another process apart).
		parked := opsapi.NewParked(in.store, in.pool, projs, started.Reactors)
		opsapi.NewHandler(ops).WithParked(parked).Mount(srv)
		opsdash.MountWithParked(dash, ops, parked) // the api role always has the dashboard
		srv.AddCheck(httpapi.Check{Name: "projections", Fn: ops.StatusReader().ReadyCheck(projs), Degrades: true})
		// A projection stopped on a recreated stream needs an operator: a
		// process that runs it cannot do its work and is not ready.
		srv.AddCheck(httpapi.Check{Name: "projection_streams", Fn: ops.StatusReader().StreamCheck(projs),
			Degrades: !cfg.hasRole("projector")})
	}
	if dash != nil {
		dash.Mount(srv)
	}
	fmt.Fprintf(stdout, "eventline: listening on http://%s\n", ln.Addr())
	log.Info("http listening", "addr", ln.Addr().String(), "roles", cfg.Roles)
	g.Go(func() error {
		defer stopDrained()
		return srv.Run(gctx, ln)
	})
	g.Go(func() error { announceReady(gctx, ln.Addr(), dash != nil, stdout); return nil })
	start := time.Now()
	err = g.Wait()
	log.Info("eventline stopped", "uptime", time.Since(start).Round(time.Second).String())
	return err
}
