package main

import (
	"context"
	"errors"
	"io"

	"github.com/eventline/eventline/bench/internal/benchcmd"
)

// options are the benchmark's flags.
type options struct {
	Events  int    `json:"events"`
	Entries int    `json:"entries_per_event"`
	Batch   int    `json:"batch"`
	Bin     string `json:"-"`
	JSON    bool   `json:"-"`
	Keep    bool   `json:"-"`
	// SettleDedupe waits for the fill's message ids to expire.
	SettleDedupe bool `json:"settle_dedupe"`
}

func main() { benchcmd.Main("bench/ops", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	c := benchcmd.New("ops", stderr, benchcmd.Shared{Bin: &o.Bin, JSON: &o.JSON, Keep: &o.Keep})
	c.IntVar(&o.Events, "events", 1_000_000, "log events in the stream")
	c.IntVar(&o.Entries, "entries", 1, "log entries per event (rows per event)")
	c.IntVar(&o.Batch, "batch", 20000, "events per rebuild transaction (rows per baseline COPY)")
	c.BoolVar(&o.SettleDedupe, "settle", true, "before reading, wait until the fill's message ids leave JetStream's duplicate window (2 min)")
	if err := c.Parse(args, func() error {
		if o.Events < 1 || o.Entries < 1 || o.Batch < 1 {
			return errors.New("--events, --entries and --batch must be positive")
		}
		return nil
	}); err != nil {
		return err
	}
	c.Logf("%d events x %d entries", o.Events, o.Entries)
	root, bin, cleanup, err := c.Workdir(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	env, err := start(ctx, root, bin, c.Logf)
	if err != nil {
		return err
	}
	defer env.close()
	res, err := measure(ctx, env, o, c.Logf)
	if err != nil {
		return err
	}
	return report(stdout, o, res)
}
