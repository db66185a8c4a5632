package main

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/bench/internal/benchcmd"
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
}

func main() { benchcmd.Main("bench/logsearch", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	c := benchcmd.New("logsearch", stderr, benchcmd.Shared{Bin: &o.Bin, Keep: &o.Keep})
	c.Int64Var(&o.Rows, "rows", 10_000_000, "entries seeded into the read model, spread over 7 days")
	c.IntVar(&o.Queries, "queries", 50, "requests per search figure")
	c.IntVar(&o.Seconds, "seconds", 10, "seconds per ingest phase")
	c.IntVar(&o.Clients, "clients", 8, "concurrent ingest clients")
	if err := c.Parse(args, func() error {
		if o.Rows < 70_000 || o.Queries < 5 || o.Seconds < 1 || o.Clients < 1 {
			return errors.New("--rows must be ≥ 70000, --queries ≥ 5, --seconds ≥ 1, --clients ≥ 1")
		}
		return nil
	}); err != nil {
		return err
	}
	logf := c.Logf
	logf("%d rows, %d queries, %ds x %d clients per ingest phase", o.Rows, o.Queries, o.Seconds, o.Clients)
	root, bin, cleanup, err := c.Workdir(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	// The seeded week must outlive the run: retention 8 days, dropped by
	// the bench itself in phase 4. serve starts with the search index off
	// (phase 3's baseline) and is restarted with it on.
	start := func(ctx context.Context, index string) (*benchserve.Server, *pgxpool.Pool, error) {
		srv, err := benchserve.StartReady(ctx, benchserve.Config{Bin: bin, Name: "serve", DataDir: filepath.Join(root, "data"),
			Env: []string{"EVENTLINE_LOGS_RETENTION=8d", "EVENTLINE_LOGS_SEARCH_INDEX=" + index}, StopTimeout: 30 * time.Second})
		if err != nil {
			return nil, nil, err
		}
		pgURL, err := srv.PostgresURL()
		if err == nil {
			var pool *pgxpool.Pool
			if pool, err = pgxpool.New(ctx, pgURL); err == nil {
				return srv, pool, nil
			}
		}
		srv.StopLogged(logf)
		return nil, nil, err
	}
	srv, pool, err := start(ctx, "off")
	if err != nil {
		return err
	}
	defer func() {
		pool.Close()
		srv.StopLogged(logf)
	}()
	b := &bench{o: o, base: srv.BaseURL(), pool: pool, logf: logf, client: benchserve.NewClient(o.Clients*2, 30*time.Second)}
	var firstPeak int64 // the first process's peak RSS
	restart := func(ctx context.Context, index string) error {
		logf("  restarting serve with the search index %s", index)
		if rss, err := srv.PeakRSS(); err == nil {
			firstPeak = rss
		}
		pool.Close()
		if err := srv.Stop(); err != nil {
			return err
		}
		if srv, pool, err = start(ctx, index); err != nil {
			return err
		}
		b.base, b.pool = srv.BaseURL(), pool
		return nil
	}
	var r result
	// The peak so far after each phase, to tell which one sets it.
	peakSoFar := func(phase string) {
		if rss, err := srv.PeakRSS(); err == nil {
			logf("  serve peak RSS after %s: %.0f MiB", phase, float64(max(rss, firstPeak))/(1<<20))
		}
	}
	if err := b.seed(ctx); err != nil {
		return withLog(err, srv)
	}
	peakSoFar("the seed")
	if r.Projector, err = b.projector(ctx, restart); err != nil {
		return withLog(err, srv)
	}
	peakSoFar("phase 3 (projector)")
	if r.Search, err = b.search(ctx); err != nil {
		return withLog(err, srv)
	}
	if err := b.searchAPI(ctx, r.Search); err != nil {
		return withLog(err, srv)
	}
	if r.Histogram, err = b.histogram(ctx); err != nil {
		return withLog(err, srv)
	}
	peakSoFar("phase 2 (searches)")
	if r.Ingest, err = b.ingest(ctx); err != nil {
		return withLog(err, srv)
	}
	peakSoFar("phase 1 (ingest)")
	if r.Drop, err = b.dropDay(ctx); err != nil {
		return withLog(err, srv)
	}
	if r.PeakRSS, err = srv.PeakRSS(); err != nil {
		return err
	}
	r.PeakRSS = max(r.PeakRSS, firstPeak)
	report(stdout, o, r)
	return nil
}

func withLog(err error, srv *benchserve.Server) error {
	return errors.Join(err, errors.New("serve log: "+srv.LogTail(5)))
}
