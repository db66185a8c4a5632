// Command hostile measures what hostile clients can do to a real `eventline
// serve` (embedded JetStream, managed PostgreSQL, every role, in a
// temporary directory), each figure beside its baseline from the same run:
//
//   - memory: the server's peak RSS (VmHWM) while 24 clients send 16 MiB
//     batches at once, over and over, beside the peak with one such client;
//   - lookups: the single-POST ingest rate while 8 clients look up made-up
//     ids of the last seconds as fast as they can, beside the rate without
//     them, alternated over rounds;
//   - outage: serve's RSS after 1,000,000 entries were accepted while its
//     PostgreSQL was down, beside its RSS before the outage, then the stats'
//     pending count and the drain once PostgreSQL is back.
//
// See docs/BENCHMARKS.md.
//
//	go run ./bench/hostile [--duration 10s] [--rounds 2] [--json]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/eventline/eventline/bench/internal/benchserve"
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

func main() {
	benchserve.Main("bench/hostile", run)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := benchserve.NewFlagSet("hostile", stderr)
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each measured load")
	fs.IntVar(&o.Rounds, "rounds", 2, "alternate the lookup measurement with its baseline this many times")
	fs.IntVar(&o.Conns, "conns", 32, "concurrent single-POST ingest clients")
	fs.IntVar(&o.Lookups, "lookups", 8, "concurrent clients looking up made-up ids")
	fs.IntVar(&o.BigClients, "big-clients", 24, "concurrent clients sending 16 MiB batches")
	fs.DurationVar(&o.LookupWindow, "lookup-window", 10*time.Second, "made-up ids carry a time up to this far back")
	fs.StringVar(&o.Bin, "bin", "", "the eventline binary (built into the temp dir when empty)")
	fs.BoolVar(&o.JSON, "json", false, "print the results as JSON")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory")
	fs.StringVar(&o.Only, "only", "", "run only this measurement: memory, lookups or outage")
	fs.Int64Var(&o.OutageEntries, "outage-entries", 1_000_000, "entries accepted while PostgreSQL is down")
	fs.IntVar(&o.OutageBatch, "outage-batch", 10, "entries per batch request during the outage")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Duration < time.Second || o.Rounds < 1 || o.Conns < 1 || o.Lookups < 1 || o.BigClients < 1 {
		return errors.New("need --duration >= 1s and --rounds, --conns, --lookups, --big-clients >= 1")
	}
	logf := benchserve.Logger(stderr, "bench/hostile")
	logf("GOMAXPROCS %d, %s/%s", runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	dir, err := benchserve.TempDir("eventline-bench-hostile-*")
	if err != nil {
		return err
	}
	if !o.Keep {
		defer os.RemoveAll(dir)
	}
	bin, err := benchserve.Binary(ctx, o.Bin, dir, logf)
	if err != nil {
		return err
	}
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
