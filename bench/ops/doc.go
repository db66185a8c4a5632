// Command ops benchmarks the operator tools against baselines measured in
// the same run on the same machine: a rebuild of the logs projection
// (events/s and rows/s) beside the raw stream read rate (eventstore.Read, no
// processing) and the raw pgx CopyFrom rate into the same PostgreSQL; and
// `eventline replay --json` to /dev/null beside the same raw read. It runs
// them against a real `eventline serve` (embedded JetStream, managed
// PostgreSQL, the live projector; what `make run` runs) in a temporary
// directory, and waits before reading until the fill's message ids have
// left JetStream's 2-minute duplicate window (a million ids held in the
// server's heap is a state no running system is in; --settle=false skips
// the wait). Figures: docs/BENCHMARKS.md.
//
//	go run ./bench/ops [--events 1000000] [--entries 1] [--json]
package main
