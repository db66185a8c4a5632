package main

import (
	"context"
	"time"

	"github.com/eventline/eventline/bench/internal/loadloop"
)

// runResult is one measurement: every saga started, how each ended, and
// the latencies of the completed ones (loadloop.Result).
type runResult = loadloop.Result

// drive runs inFlight workers, each running one saga after the other with
// fn, starting new ones for d or until max sagas started (no bound when
// max is 0); sagas started in time run to their end (loadloop.Drive).
var drive = loadloop.Drive

// baseline runs a baseline's sagas with fn as the sagas are run: a second's
// warm-up, then o.InFlight at once for o.RawDuration (throughput), then
// one at a time (single).
func baseline(ctx context.Context, o options, fn loadloop.Op) (throughput, single runResult) {
	drive(ctx, o.InFlight, time.Second, 0, fn) // warm-up
	throughput = drive(ctx, o.InFlight, o.RawDuration, 0, fn)
	return throughput, drive(ctx, 1, o.SingleMax, o.Single, fn)
}
