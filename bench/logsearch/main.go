// Command logsearch benchmarks issue 24's logs features against a real
// `eventline serve` (embedded NATS, managed PostgreSQL), each figure beside
// its baseline from the same run:
//
// The phases run in this order: seed, 3, 2, 1, 4 (the search runs on the
// seeded week before the ingest phases add their entries; every entry the
// bench posts looks like a seeded one to a search).
//
//  1. OTLP ingest: POST /v1/logs of 100-record protobuf requests against
//     POST /api/logs/batch of 100 entries, the same clients and seconds
//     each, durable 2xx only (target: OTLP ≥ 0.5 of batch entries/s);
//
//  2. search: --rows entries (10,000,000) seeded straight into log_entries
//     over the last 7 days, then the first page (51 rows, newest first) of
//     a q= word search and of an attr. context filter, p50/p95 over
//     --queries requests through the API, against the same SQL with the
//     GIN indexes unusable (enable_bitmapscan off: the unindexed ILIKE and
//     containment scans that answered before), target p95 ≤ 100 ms;
//
//  3. the projector's rate (entries persisted/s) with the search indexes
//     and without them (dropped for the phase, then made again), target
//     ≥ 0.8;
//
//  4. dropping the oldest day (about rows/7 entries) by retention while
//     clients keep ingesting: the drop's time (target ≤ 1 s) and the
//     ingest answers that were not 2xx (target 0);
//
//  5. serve's peak RSS over the whole run (target ≤ 300 MiB).
//
//     go run ./bench/logsearch [--bin bin/eventline] [--rows 10000000] [--queries 50] [--seconds 10] [--keep]
package main

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/bench/internal/benchserve"
)

// options are the benchmark's flags.
type options struct {
	Bin     string
	Rows    int64
	Queries int
	Seconds int
	Clients int
	Keep    bool
	// Indexes names the search indexes made for phases 2 and 3 ("message",
	// "context" or both, comma-separated), to tell their costs apart.
	Indexes string
}

func main() { benchserve.Main("bench/logsearch", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := benchserve.NewFlagSet("logsearch", stderr)
	fs.StringVar(&o.Bin, "bin", "", "eventline binary (built from ./cmd/eventline when empty)")
	fs.Int64Var(&o.Rows, "rows", 10_000_000, "entries seeded into the read model, spread over 7 days")
	fs.IntVar(&o.Queries, "queries", 50, "requests per search figure")
	fs.IntVar(&o.Seconds, "seconds", 10, "seconds per ingest phase")
	fs.IntVar(&o.Clients, "clients", 8, "concurrent ingest clients")
	fs.BoolVar(&o.Keep, "keep", false, "keep the data directory and the serve log")
	fs.StringVar(&o.Indexes, "indexes", "message,context", "search indexes made for phases 2 and 3: message (trigram), context (jsonb), words (a full-text index the API does not use, to weigh its cost)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Rows < 70_000 || o.Queries < 5 || o.Seconds < 1 || o.Clients < 1 {
		return errors.New("--rows must be ≥ 70000, --queries ≥ 5, --seconds ≥ 1, --clients ≥ 1")
	}
	logf := benchserve.Logger(stderr, "bench/logsearch")
	logf("GOMAXPROCS %d, %s/%s; %d rows, %d queries, %ds x %d clients per ingest phase",
		runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, o.Rows, o.Queries, o.Seconds, o.Clients)
	root, bin, cleanup, err := benchserve.Workdir(ctx, "eventline-bench-logsearch-*", o.Bin, o.Keep, logf)
	if err != nil {
		return err
	}
	defer cleanup()
	// The seeded week must outlive the run: retention 8 days, dropped by
	// the bench itself in phase 4.
	srv, err := benchserve.Start(ctx, benchserve.Config{Bin: bin, Name: "serve", DataDir: filepath.Join(root, "data"),
		Env: []string{"EVENTLINE_LOGS_RETENTION=8d"}, StopTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			logf("stop: %v", err)
		}
	}()
	if err := srv.WaitReady(ctx); err != nil {
		return err
	}
	pgURL, err := srv.PostgresURL()
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	b := &bench{o: o, base: srv.BaseURL(), pool: pool, logf: logf, client: benchserve.NewClient(o.Clients*2, 30*time.Second)}
	var r result
	if err := b.seed(ctx); err != nil {
		return withLog(err, srv)
	}
	if r.Projector, err = b.projector(ctx); err != nil {
		return withLog(err, srv)
	}
	if r.Search, err = b.search(ctx); err != nil {
		return withLog(err, srv)
	}
	if err := b.searchAPI(ctx, r.Search); err != nil {
		return withLog(err, srv)
	}
	if r.Histogram, err = b.histogram(ctx); err != nil {
		return withLog(err, srv)
	}
	if r.Ingest, err = b.ingest(ctx); err != nil {
		return withLog(err, srv)
	}
	if r.Drop, err = b.dropDay(ctx); err != nil {
		return withLog(err, srv)
	}
	if r.PeakRSS, err = srv.PeakRSS(); err != nil {
		return err
	}
	report(stdout, o, r)
	return nil
}

func withLog(err error, srv *benchserve.Server) error {
	return errors.Join(err, errors.New("serve log: "+srv.LogTail(5)))
}
