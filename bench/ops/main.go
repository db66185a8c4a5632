// Command ops benchmarks the operator tools against baselines measured in
// the same run on the same machine: a rebuild of the logs projection
// (events/s and rows/s) beside the raw stream read rate (eventstore.Read, no
// processing) and the raw pgx CopyFrom rate into the same PostgreSQL; and
// `eventline replay --json` to /dev/null beside the same raw read. It runs
// them against a real `eventline serve` (embedded JetStream, managed
// PostgreSQL, the live projector; what `make run` runs) in a temporary
// directory.
// See docs/bench-ops.md.
//
//	go run ./bench/ops [--events 1000000] [--entries 1] [--json]
package main

import (
	"context"
	"errors"
	"io"
	"runtime"

	"github.com/eventline/eventline/bench/internal/benchserve"
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

func main() {
	benchserve.Main("bench/ops", run)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := benchserve.NewFlagSet("ops", stderr)
	fs.IntVar(&o.Events, "events", 1_000_000, "log events in the stream")
	fs.IntVar(&o.Entries, "entries", 1, "log entries per event (rows per event)")
	fs.IntVar(&o.Batch, "batch", 20000, "events per rebuild transaction (rows per baseline COPY)")
	fs.StringVar(&o.Bin, "bin", "", "the eventline binary for the replay measurement (built into the temp dir when empty)")
	fs.BoolVar(&o.JSON, "json", false, "print the results as JSON")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory")
	fs.BoolVar(&o.SettleDedupe, "settle", true, "before reading, wait until the fill's message ids leave JetStream's duplicate window (2 min)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Events < 1 || o.Entries < 1 || o.Batch < 1 {
		return errors.New("--events, --entries and --batch must be positive")
	}
	logf := benchserve.Logger(stderr, "bench/ops")
	logf("%d events x %d entries, GOMAXPROCS %d, %s/%s", o.Events, o.Entries, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	env, err := start(ctx, o, logf)
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
