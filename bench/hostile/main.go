package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/eventline/eventline/bench/internal/benchcmd"
)

// options are the benchmark's flags.
type options struct {
	Duration      time.Duration `json:"duration_ns"`
	Rounds        int           `json:"rounds"`
	Conns         int           `json:"ingest_conns"`
	Lookups       int           `json:"lookup_clients"`
	BigClients    int           `json:"big_batch_clients"`
	Bin           string        `json:"-"`
	JSON          bool          `json:"-"`
	Keep          bool          `json:"-"`
	LookupWindow  time.Duration `json:"lookup_window_ns"`
	Only          string        `json:"only,omitempty"`
	OutageEntries int64         `json:"outage_entries"`
	OutageBatch   int           `json:"outage_batch"`
}

func main() { benchcmd.Main("bench/hostile", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	c := benchcmd.New("hostile", stderr, benchcmd.Shared{Bin: &o.Bin, JSON: &o.JSON, Keep: &o.Keep})
	c.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each measured load")
	c.IntVar(&o.Rounds, "rounds", 2, "alternate the lookup measurement with its baseline this many times")
	c.IntVar(&o.Conns, "conns", 32, "concurrent single-POST ingest clients")
	c.IntVar(&o.Lookups, "lookups", 8, "concurrent clients looking up made-up ids")
	c.IntVar(&o.BigClients, "big-clients", 24, "concurrent clients sending 16 MiB batches")
	c.DurationVar(&o.LookupWindow, "lookup-window", 10*time.Second, "made-up ids carry a time up to this far back")
	c.StringVar(&o.Only, "only", "", "run only this measurement: memory, lookups or outage")
	c.Int64Var(&o.OutageEntries, "outage-entries", 1_000_000, "entries accepted while PostgreSQL is down")
	c.IntVar(&o.OutageBatch, "outage-batch", 10, "entries per batch request during the outage")
	if err := c.Parse(args, func() error {
		if o.Duration < time.Second || o.Rounds < 1 || o.Conns < 1 || o.Lookups < 1 || o.BigClients < 1 {
			return errors.New("need --duration >= 1s and --rounds, --conns, --lookups, --big-clients >= 1")
		}
		return nil
	}); err != nil {
		return err
	}
	logf := c.Logf
	dir, bin, cleanup, err := c.Workdir(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	var res results
	start := time.Now()
	if o.Only == "" || o.Only == "memory" {
		if res.Memory, err = measureMemory(ctx, bin, dir, o, logf); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
	}
	if o.Only == "" || o.Only == "lookups" {
		if res.Lookups, err = measureLookups(ctx, bin, dir, o, logf); err != nil {
			return fmt.Errorf("lookups: %w", err)
		}
	}
	if o.Only == "" || o.Only == "outage" {
		if res.Outage, err = measureOutage(ctx, bin, dir, o, logf); err != nil {
			return fmt.Errorf("outage: %w", err)
		}
	}
	res.Wall = time.Since(start)
	return report(stdout, o, res)
}
