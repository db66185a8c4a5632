package main

import (
	"context"
	"time"

	"github.com/eventline/eventline/bench/internal/loadloop"
)

// opFunc runs one operation (a saga to its end, a log entry, a raw
// "saga") and returns its outcome: a terminal saga status, or "completed".
type opFunc = loadloop.Op

// runResult is one measured load (loadloop.Result).
type runResult = loadloop.Result

// drive runs inFlight workers, each running one operation after the other
// with fn, starting new ones for d; those started in time run to their end.
func drive(ctx context.Context, inFlight int, d time.Duration, fn opFunc) runResult {
	return loadloop.Drive(ctx, inFlight, d, 0, fn)
}
