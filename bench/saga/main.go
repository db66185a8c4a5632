// Command saga benchmarks the order saga (issue 12) end to end over HTTP
// against a real `eventline serve` (embedded NATS, managed PostgreSQL),
// once per EVENTLINE_NATS_SYNC mode (interval, then always):
//
//  1. throughput: --in-flight clients, each looping POST /api/orders then
//     GET /api/sagas/{id}?wait=10s until the saga is terminal, for
//     --duration after --warmup; sagas/s completed and the p50/p99 of
//     POST+wait (targets >= 2,000 sagas/s and p99 <= 150 ms with interval,
//     >= 700 sagas/s with always);
//  2. the peak RSS of the serve process during that run (target <= 300 MiB);
//  3. a single saga at a time (--single sagas, at most --single-max): p50
//     (target <= 2 ms) and p99.
//
// Beside each figure it prints the same-run baselines: raw JetStream on the
// serve process's own embedded nats-server (a stream of its own with the
// event streams' settings), ten sequential awaited publishes per "saga",
// at the same in-flight count and at 1 in flight; the same ten appends
// through the event store's group commit; raw atomic batches of 100
// messages (messages/s); and ten sequential single-row commits per saga on
// serve's PostgreSQL with synchronous_commit=on (issue 27). Every saga's
// outcome is counted: all must be completed.
//
//	go run ./bench/saga [--duration 10s] [--warmup 3s] [--in-flight 200] [--single 500] [--modes interval,always]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/eventline/eventline/bench/internal/benchserve"
)

// options are the benchmark's flags.
type options struct {
	Bin         string
	Modes       []string
	Duration    time.Duration
	Warmup      time.Duration
	InFlight    int
	Single      int
	SingleMax   time.Duration
	RawDuration time.Duration
	Users       int
	Products    int
	Keep        bool
}

func main() { benchserve.Main("bench/saga", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	var modes string
	fs := benchserve.NewFlagSet("saga", stderr)
	fs.StringVar(&o.Bin, "bin", "", "eventline binary (built from ./cmd/eventline when empty)")
	fs.StringVar(&modes, "modes", "interval,always", "EVENTLINE_NATS_SYNC modes to measure, comma-separated")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured throughput run per mode")
	fs.DurationVar(&o.Warmup, "warmup", 3*time.Second, "unmeasured load before the throughput run")
	fs.IntVar(&o.InFlight, "in-flight", 200, "sagas in flight (concurrent keep-alive clients) in the throughput runs")
	fs.IntVar(&o.Single, "single", 500, "sagas of the single-saga (1 in flight) run")
	fs.DurationVar(&o.SingleMax, "single-max", 10*time.Second, "the single-saga run stops after this long, even short of --single")
	fs.DurationVar(&o.RawDuration, "raw-duration", 5*time.Second, "the raw JetStream baseline's throughput run")
	fs.IntVar(&o.Users, "users", 100, "users the orders are spread over")
	fs.IntVar(&o.Products, "products", 50, "products (huge stock) the orders are spread over")
	fs.BoolVar(&o.Keep, "keep", false, "keep the data directories and serve logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, m := range strings.Split(modes, ",") {
		if m = strings.TrimSpace(m); m != "interval" && m != "always" {
			return fmt.Errorf("--modes: %q is neither interval nor always", m)
		}
		o.Modes = append(o.Modes, strings.TrimSpace(m))
	}
	if o.InFlight < 1 || o.Single < 1 || o.Users < 1 || o.Products < 1 || o.Duration <= 0 || o.RawDuration <= 0 ||
		o.SingleMax <= 0 || o.Warmup < 0 {
		return errors.New("every count and duration must be positive")
	}
	logf := benchserve.Logger(stderr, "bench/saga")
	logf("%d in flight for %s after %s warm-up; single %d (max %s); modes %v; GOMAXPROCS %d, %s/%s", o.InFlight,
		o.Duration, o.Warmup, o.Single, o.SingleMax, o.Modes, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	root, bin, cleanup, err := benchserve.Workdir(ctx, "eventline-bench-saga-*", o.Bin, o.Keep, logf)
	if err != nil {
		return err
	}
	defer cleanup()
	var all []modeResult
	for _, mode := range o.Modes {
		res, err := measureMode(ctx, o, bin, filepath.Join(root, mode), mode, logf)
		if err != nil {
			return fmt.Errorf("sync %s: %w", mode, err)
		}
		all = append(all, res)
	}
	return report(stdout, o, all)
}

// measureMode starts serve with EVENTLINE_NATS_SYNC=mode in dataDir, runs
// every measurement of that mode and stops it again.
func measureMode(ctx context.Context, o options, bin, dataDir, mode string, logf func(string, ...any)) (_ modeResult, err error) {
	res := modeResult{Mode: mode}
	logf("%s: starting serve", mode)
	srv, err := benchserve.Start(ctx, benchserve.Config{Bin: bin, Name: "serve-" + mode, DataDir: dataDir,
		Env: []string{"EVENTLINE_NATS_SYNC=" + mode}, StopTimeout: 30 * time.Second})
	if err != nil {
		return res, err
	}
	defer func() {
		if stopErr := srv.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	if err := srv.WaitReady(ctx); err != nil {
		return res, err
	}
	pid, err := childPID(bin)
	if err != nil {
		return res, err
	}
	meter := cpuMeter{serve: pid, pgDir: filepath.Join(srv.DataDir(), "pg")}
	c := newClient(srv.BaseURL(), o.InFlight)
	defer c.close()
	if err := c.setup(ctx, o.Users, o.Products); err != nil {
		return res, fmt.Errorf("%w (serve log: %s)", err, srv.LogTail(5))
	}
	// The baseline first, on the quiet server, so that no saga backlog of
	// serve shares its figures.
	if _, err := waitQuiet(ctx, pid); err != nil {
		return res, err
	}
	if err := measureRaw(ctx, o, srv, meter, &res, logf); err != nil {
		return res, err
	}
	if _, err := waitQuiet(ctx, pid); err != nil {
		return res, err
	}
	if o.Warmup > 0 {
		logf("%s: warm-up %s, %d in flight", mode, o.Warmup, o.InFlight)
		if w := drive(ctx, o.InFlight, o.Warmup, 0, c.saga); w.Errors > 0 {
			logf("%s: warm-up: %d errors, first: %s", mode, w.Errors, w.FirstErr)
		}
	}
	srv.ResetPeakRSS()
	logf("%s: throughput %s, %d in flight", mode, o.Duration, o.InFlight)
	before, err := meter.sample()
	if err != nil {
		return res, err
	}
	res.Throughput = drive(ctx, o.InFlight, o.Duration, 0, c.saga)
	if res.PeakRSS, err = srv.PeakRSS(); err != nil {
		return res, err
	}
	// The CPU of a run counts until serve is quiet: the read models'
	// catching up is part of what the sagas cost.
	if res.Settle, err = waitQuiet(ctx, pid); err != nil {
		return res, err
	}
	after, err := meter.sample()
	if err != nil {
		return res, err
	}
	res.CPU = after.since(before)
	logf("%s: single saga, up to %d (serve quiet %.1f s after the throughput run)", mode, o.Single, res.Settle.Seconds())
	res.Single = drive(ctx, 1, o.SingleMax, o.Single, c.saga)
	res.EmptyWaits, res.TimeoutWaits = c.emptyWaits.Load(), c.timeoutWaits.Load()
	return res, ctx.Err()
}

// measureRaw runs the raw JetStream baseline on srv's embedded nats-server.
func measureRaw(ctx context.Context, o options, srv *benchserve.Server, meter cpuMeter, res *modeResult, logf func(string, ...any)) error {
	logf("%s: raw JetStream baseline on the embedded nats-server", res.Mode)
	creds, err := srv.NATSCredentials()
	if err != nil {
		return err
	}
	raw, err := newRawSagas(ctx, srv.NATSURL(), creds)
	if err != nil {
		return err
	}
	defer raw.close(context.WithoutCancel(ctx))
	drive(ctx, o.InFlight, time.Second, 0, raw.saga) // warm-up
	before, err := meter.sample()
	if err != nil {
		return err
	}
	res.RawThroughput = drive(ctx, o.InFlight, o.RawDuration, 0, raw.saga)
	after, err := meter.sample()
	if err != nil {
		return err
	}
	res.RawCPU = after.since(before)
	res.RawSingle = drive(ctx, 1, o.SingleMax, o.Single, raw.saga)
	if err := measureGroup(ctx, o, srv, raw.payload, res, logf); err != nil {
		return err
	}
	return measurePostgres(ctx, o, srv, raw.payload, res, logf)
}

// measureGroup runs the group commit and atomic batch baselines (issue 27)
// on srv's embedded nats-server.
func measureGroup(ctx context.Context, o options, srv *benchserve.Server, payload []byte, res *modeResult, logf func(string, ...any)) error {
	logf("%s: group commit and atomic batch baselines on the embedded nats-server", res.Mode)
	creds, err := srv.NATSCredentials()
	if err != nil {
		return err
	}
	g, err := newGroupSagas(ctx, srv.NATSURL(), creds, payload)
	if err != nil {
		return err
	}
	defer g.close(context.WithoutCancel(ctx))
	drive(ctx, o.InFlight, time.Second, 0, g.saga) // warm-up
	res.GroupThroughput = drive(ctx, o.InFlight, o.RawDuration, 0, g.saga)
	res.GroupSingle = drive(ctx, 1, o.SingleMax, o.Single, g.saga)
	if res.BatchRate, err = g.batches(ctx, o.RawDuration); err != nil {
		return err
	}
	return ctx.Err()
}

// measurePostgres runs the PostgreSQL baseline on srv's managed cluster.
func measurePostgres(ctx context.Context, o options, srv *benchserve.Server, payload []byte, res *modeResult, logf func(string, ...any)) error {
	logf("%s: PostgreSQL baseline (synchronous_commit=on) on the managed cluster", res.Mode)
	url, err := srv.PostgresURL()
	if err != nil {
		return err
	}
	p, err := newPGSagas(ctx, url, o.InFlight, payload)
	if err != nil {
		return err
	}
	defer p.close(context.WithoutCancel(ctx))
	drive(ctx, o.InFlight, time.Second, 0, p.saga) // warm-up
	res.PGThroughput = drive(ctx, o.InFlight, o.RawDuration, 0, p.saga)
	res.PGSingle = drive(ctx, 1, o.SingleMax, o.Single, p.saga)
	return ctx.Err()
}
