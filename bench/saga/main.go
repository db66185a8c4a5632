package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/eventline/eventline/bench/internal/benchcmd"
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

func main() { benchcmd.Main("bench/saga", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	var modes string
	c := benchcmd.New("saga", stderr, benchcmd.Shared{Bin: &o.Bin, Keep: &o.Keep})
	c.StringVar(&modes, "modes", "interval,always", "EVENTLINE_NATS_SYNC modes to measure, comma-separated")
	c.DurationVar(&o.Duration, "duration", 10*time.Second, "measured throughput run per mode")
	c.DurationVar(&o.Warmup, "warmup", 3*time.Second, "unmeasured load before the throughput run")
	c.IntVar(&o.InFlight, "in-flight", 200, "sagas in flight (concurrent keep-alive clients) in the throughput runs")
	c.IntVar(&o.Single, "single", 500, "sagas of the single-saga (1 in flight) run")
	c.DurationVar(&o.SingleMax, "single-max", 10*time.Second, "the single-saga run stops after this long, even short of --single")
	c.DurationVar(&o.RawDuration, "raw-duration", 5*time.Second, "the raw JetStream baseline's throughput run")
	c.IntVar(&o.Users, "users", 100, "users the orders are spread over")
	c.IntVar(&o.Products, "products", 50, "products (huge stock) the orders are spread over")
	if err := c.Parse(args, func() (err error) {
		if o.Modes, err = benchcmd.List("modes", modes, []string{"interval", "always"}); err != nil {
			return err
		}
		if o.InFlight < 1 || o.Single < 1 || o.Users < 1 || o.Products < 1 || o.Duration <= 0 || o.RawDuration <= 0 ||
			o.SingleMax <= 0 || o.Warmup < 0 {
			return errors.New("every count and duration must be positive")
		}
		return nil
	}); err != nil {
		return err
	}
	logf := c.Logf
	logf("%d in flight for %s after %s warm-up; single %d (max %s); modes %v", o.InFlight,
		o.Duration, o.Warmup, o.Single, o.SingleMax, o.Modes)
	root, bin, cleanup, err := c.Workdir(ctx)
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
	srv, err := benchserve.StartReady(ctx, benchserve.Config{Bin: bin, Name: "serve-" + mode, DataDir: dataDir,
		Env: []string{"EVENTLINE_NATS_SYNC=" + mode}, StopTimeout: 30 * time.Second})
	if err != nil {
		return res, err
	}
	defer func() {
		if stopErr := srv.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	pid, err := childPID(bin)
	if err != nil {
		return res, err
	}
	meter := cpuMeter{serve: pid, pgDir: filepath.Join(srv.DataDir(), "pg")}
	c := newClient(srv.BaseURL(), o.InFlight)
	defer c.Close()
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
	res.EmptyWaits, res.TimeoutWaits = c.EmptyWaits.Load(), c.TimeoutWaits.Load()
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
	res.GroupThroughput, res.GroupSingle = baseline(ctx, o, g.saga)
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
	res.PGThroughput, res.PGSingle = baseline(ctx, o, p.saga)
	return ctx.Err()
}
