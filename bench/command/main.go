package main

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/eventline/eventline/bench/internal/benchcmd"
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

func main() { benchcmd.Main("bench/command", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	c := benchcmd.New("command", stderr, benchcmd.Shared{JSON: &o.JSON})
	c.IntVar(&o.Workers, "workers", 64, "concurrent aggregates (one worker each)")
	c.IntVar(&o.Aggregates, "aggregates", 3200, "aggregates per measurement, shared out among the workers")
	c.IntVar(&o.Events, "events", 10, "commands (events) per aggregate")
	c.IntVar(&o.BatchAggregates, "batch-aggregates", 128, "aggregates for the atomic batch measurements")
	c.StringVar(&o.Only, "only", "", "run only the measurements whose name contains this")
	c.BoolVar(&o.SyncAlways, "sync", false, "fsync every write (EVENTLINE_NATS_SYNC=always)")
	c.BoolVar(&o.Cluster, "cluster", false, "run on a 3-node in-process cluster with a replicas-3 stream")
	if err := c.Parse(args, func() error {
		if o.Workers < 1 || o.Aggregates < o.Workers || o.BatchAggregates < o.Workers || o.Events < 1 {
			return errors.New("--workers and --events must be positive and --aggregates and --batch-aggregates at least --workers")
		}
		return nil
	}); err != nil {
		return err
	}
	logf := c.Logf
	logf("%d workers, %d aggregates x %d events", o.Workers, o.Aggregates, o.Events)
	dir, err := benchcmd.TempDir("eventline-bench-command-*")
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
