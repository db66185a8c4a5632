package main

import "github.com/eventline/eventline/bench/internal/loadloop"

// runResult is one measurement: every saga started, how each ended, and
// the latencies of the completed ones (loadloop.Result).
type runResult = loadloop.Result

// drive runs inFlight workers, each running one saga after the other with
// fn, starting new ones for d or until max sagas started (no bound when
// max is 0); sagas started in time run to their end (loadloop.Drive).
var drive = loadloop.Drive
