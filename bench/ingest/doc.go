// Command ingest benchmarks Eventline's log ingest against baselines
// measured in the same run on the same machine: the bare /healthz handler of
// the same server, raw JetStream async publish to the same NATS server, and
// raw pgx CopyFrom into the same PostgreSQL. It starts `bin/eventline serve`
// as separate processes on free loopback ports with data in a temporary
// directory, and stops them with SIGTERM. See docs/BENCHMARKS.md.
//
//	go run ./bench/ingest [--duration 8s] [--json] [--profile DIR]
package main
