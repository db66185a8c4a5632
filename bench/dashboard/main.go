// Command dashboard benchmarks the dashboard's pages (issue 14) against a
// real `eventline serve` (embedded NATS, managed PostgreSQL) whose read
// models hold 1,000,000 log entries, 100,000 sagas (with 500,000 steps) and
// 10,000 workflows of 100 customers (with their sync runs), seeded straight
// into PostgreSQL with INSERT ... SELECT generate_series, then ANALYZEd.
//
// For each page (/, /logs, /sagas, /sagas/{id}, /customers,
// /customers/{id}, /streams) it measures:
//
//  1. first byte over HTTP: p50 and p99 of --gets sequential keep-alive
//     GETs (target ≤ 50 ms);
//  2. full render in headless Chromium (chromedp, the browser tests'
//     flags): navigation start → the load event and every htmx fragment
//     settled (no "Loading…" left, no request in flight), p50 of --loads
//     loads (target ≤ 500 ms).
//
// Baselines of the same run, on the same server: the first byte of
// GET /healthz (a bare handler) and the render of the dashboard's 404 page
// (the layout with its CSS and scripts, no fragment). A page that does not
// exist on this build is reported as "not found (404)", not measured.
//
//	go run ./bench/dashboard [--bin bin/eventline] [--gets 50] [--loads 10] [--token T] [--keep]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/bench/internal/benchserve"
)

// options are the benchmark's flags.
type options struct {
	Bin   string
	Gets  int
	Loads int
	Token string
	Keep  bool
	Scale float64
}

func main() { benchserve.Main("bench/dashboard", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := benchserve.NewFlagSet("dashboard", stderr)
	fs.StringVar(&o.Bin, "bin", "", "eventline binary (built from ./cmd/eventline when empty)")
	fs.IntVar(&o.Gets, "gets", 50, "GETs per page for the first-byte figures")
	fs.IntVar(&o.Loads, "loads", 10, "browser loads per page for the render figure")
	fs.StringVar(&o.Token, "token", "", "EVENTLINE_API_TOKEN of the server (requests then carry a session)")
	fs.Float64Var(&o.Scale, "scale", 1, "fraction of the seeded volumes (1 = the issue's 1,000,000 / 100,000 / 10,000)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the data directory and the serve log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Gets < 2 || o.Loads < 1 || o.Scale <= 0 || o.Scale > 10 {
		return errors.New("--gets must be ≥ 2, --loads ≥ 1 and --scale in (0, 10]")
	}
	logf := benchserve.Logger(stderr, "bench/dashboard")
	logf("GOMAXPROCS %d, %s/%s; %d GETs and %d loads per page", runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, o.Gets, o.Loads)
	root, bin, cleanup, err := benchserve.Workdir(ctx, "eventline-bench-dashboard-*", o.Bin, o.Keep, logf)
	if err != nil {
		return err
	}
	defer cleanup()
	var env []string
	if o.Token != "" {
		env = append(env, "EVENTLINE_API_TOKEN="+o.Token)
	}
	srv, err := benchserve.Start(ctx, benchserve.Config{Bin: bin, Name: "serve", DataDir: filepath.Join(root, "data"),
		Env: env, StopTimeout: 30 * time.Second})
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
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return fmt.Errorf("connect to serve's postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	seeded, err := seed(ctx, conn, volumesAt(o.Scale), logf)
	if err != nil {
		return fmt.Errorf("seed: %w (serve log: %s)", err, srv.LogTail(5))
	}
	res, err := measure(ctx, o, srv.BaseURL(), seeded, logf)
	if err != nil {
		return fmt.Errorf("%w (serve log: %s)", err, srv.LogTail(5))
	}
	report(stdout, o, seeded, res)
	return nil
}
