package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/eventline/eventline/bench/internal/benchcmd"
)

// options are the benchmark's flags.
type options struct {
	Duration      time.Duration `json:"duration_ns"`
	Rounds        int           `json:"rounds"`
	Conns         int           `json:"conns"`
	BatchSize     int           `json:"batch_size"`
	BatchClients  int           `json:"batch_clients"`
	InFlight      int           `json:"raw_in_flight"`
	BatchInFlight int           `json:"raw_batch_in_flight"`
	Bin           string        `json:"-"`
	JSON          bool          `json:"-"`
	ProfileDir    string        `json:"-"`
	Keep          bool          `json:"-"`
	Phases        string        `json:"phases"`
}

func main() { benchcmd.Main("bench/ingest", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	c := benchcmd.New("ingest", stderr, benchcmd.Shared{Bin: &o.Bin, JSON: &o.JSON, Keep: &o.Keep})
	c.DurationVar(&o.Duration, "duration", 8*time.Second, "length of each measured load (the whole run takes about 18x this plus start-ups)")
	c.IntVar(&o.Rounds, "rounds", 2, "alternate each measurement with its baseline this many times (evens out drift)")
	c.IntVar(&o.Conns, "conns", 64, "concurrent keep-alive connections for single POSTs and /healthz")
	c.IntVar(&o.BatchSize, "batch-size", 1000, "entries per POST /api/logs/batch")
	c.IntVar(&o.BatchClients, "batch-clients", 4, "concurrent batch clients")
	c.IntVar(&o.InFlight, "raw-in-flight", 4096, "raw JetStream baseline: async publishes awaiting their ack")
	c.IntVar(&o.BatchInFlight, "raw-batch-in-flight", 32, "raw JetStream baseline with whole batches per message: publishes awaiting their ack (the server's ingester allows 32 appends in flight)")
	c.StringVar(&o.ProfileDir, "profile", "", "build a pprof-enabled server (go build -overlay, nothing written to the repo) and save CPU profiles of each phase here")
	c.StringVar(&o.Phases, "phases", "ABCD", "which phases to run: A full server (a,d), B interval ingest (b,f), C drain (c; needs B), D always ingest (f)")
	if err := c.Parse(args, func() error {
		if o.Duration < time.Second || o.Rounds < 1 || o.Conns < 1 || o.BatchClients < 1 ||
			o.BatchSize < 1 || o.BatchSize > 10000 || o.InFlight < 1 || o.BatchInFlight < 1 {
			return errors.New("need --duration >= 1s, --rounds/--conns/--batch-clients/--raw-in-flight >= 1, --batch-size 1..10000")
		}
		return nil
	}); err != nil {
		return err
	}
	logf := c.Logf
	base, bin, cleanup, err := c.Workdir(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	if o.ProfileDir != "" {
		if err := os.MkdirAll(o.ProfileDir, 0o755); err != nil {
			return err
		}
		if bin, err = buildProfilingBinary(ctx, base); err != nil {
			return err
		}
	}
	p, err := newPayloads(4096, 16, o.BatchSize)
	if err != nil {
		return err
	}
	b := &bench{o: o, p: p, bin: bin, base: base, logf: logf}
	res := &results{Options: o, Machine: machineInfo(), RSS: map[string]int64{}, AvgEntryBytes: p.avgEntryBytes()}
	started := time.Now()
	var errs []error
	step := func(name string, fn func(context.Context, *results) error) {
		if ctx.Err() != nil || !strings.Contains(o.Phases, name[:1]) {
			return
		}
		logf("%s", name)
		if err := fn(ctx, res); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			logf("%s failed: %v", name, err)
		}
	}
	step("A: interval sync, all roles: single POST vs /healthz, then paced end-to-end lag", b.fullServer)
	var backlog backlogInfo
	step("B: interval sync, api role: batch vs raw JetStream, single POST vs /healthz", func(ctx context.Context, r *results) error {
		m, bl, err := b.ingestServer(ctx, r, "B-interval-api", "interval")
		r.Interval = m
		backlog = bl
		return err
	})
	step("C: projector drains B's backlog, then raw CopyFrom", func(ctx context.Context, r *results) error {
		return b.drainServer(ctx, r, backlog)
	})
	{
		step("D: always sync, api role: batch vs raw JetStream, single POST vs /healthz", func(ctx context.Context, r *results) error {
			m, _, err := b.ingestServer(ctx, r, "D-always-api", "always")
			r.Always = m
			return err
		})
	}
	res.Wall = time.Since(started)
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	for _, err := range errs {
		res.Errors = append(res.Errors, err.Error())
	}
	if o.JSON {
		if err := writeJSON(stdout, res); err != nil {
			return err
		}
	} else {
		writeTable(stdout, res)
	}
	return errors.Join(errs...)
}

// machine is where the run happened.
type machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

func machineInfo() machine {
	return machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
}
