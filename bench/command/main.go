// Command command benchmarks the command loop (eventstore/aggregate: load by
// direct get, fold, decide, append with the expected subject sequence)
// against raw expected-sequence publishes at the same concurrency, measured
// in the same run on the same in-process JetStream server: W workers each
// drive their own aggregates, one at a time, with ~E commands per aggregate.
// It also measures decisions of two events, appended as one atomic batch,
// beside raw two-event atomic batches.
//
//	go run ./bench/command [--workers 64] [--aggregates 3200] [--batch-aggregates 128] [--events 10] [--sync | --cluster] [--json]
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"

	"github.com/eventline/eventline/bench/internal/benchserve"
)

// options are the benchmark's flags.
type options struct {
	Workers    int `json:"workers"`
	Aggregates int `json:"aggregates"`
	Events     int `json:"events_per_aggregate"`
	// BatchAggregates is Aggregates for the atomic batch measurements: on a
	// single-replica file stream each batch is staged in a file store of its
	// own, so they run far slower.
	BatchAggregates int    `json:"batch_aggregates"`
	Only            string `json:"only,omitempty"`
	SyncAlways      bool   `json:"sync_always"`
	Cluster         bool   `json:"cluster_r3"`
	JSON            bool   `json:"-"`
}

func main() {
	benchserve.Main("bench/command", run)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := benchserve.NewFlagSet("command", stderr)
	fs.IntVar(&o.Workers, "workers", 64, "concurrent aggregates (one worker each)")
	fs.IntVar(&o.Aggregates, "aggregates", 3200, "aggregates per measurement, shared out among the workers")
	fs.IntVar(&o.Events, "events", 10, "commands (events) per aggregate")
	fs.IntVar(&o.BatchAggregates, "batch-aggregates", 128, "aggregates for the atomic batch measurements")
	fs.StringVar(&o.Only, "only", "", "run only the measurements whose name contains this")
	fs.BoolVar(&o.SyncAlways, "sync", false, "fsync every write (EVENTLINE_NATS_SYNC=always)")
	fs.BoolVar(&o.Cluster, "cluster", false, "run on a 3-node in-process cluster with a replicas-3 stream")
	fs.BoolVar(&o.JSON, "json", false, "print the results as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Workers < 1 || o.Aggregates < o.Workers || o.BatchAggregates < o.Workers || o.Events < 1 {
		return errors.New("--workers and --events must be positive and --aggregates and --batch-aggregates at least --workers")
	}
	logf := benchserve.Logger(stderr, "bench/command")
	logf("%d workers, %d aggregates x %d events, GOMAXPROCS %d, %s/%s", o.Workers, o.Aggregates, o.Events,
		runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	dir, err := os.MkdirTemp("", "eventline-bench-command-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env, err := start(ctx, dir, o)
	if err != nil {
		return err
	}
	defer env.close()
	res, err := measure(ctx, env, o, logf)
	if err != nil {
		return err
	}
	return report(stdout, o, res)
}
