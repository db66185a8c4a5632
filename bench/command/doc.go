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
