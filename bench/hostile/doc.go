// Command hostile measures what hostile clients can do to a real `eventline
// serve` (embedded JetStream, managed PostgreSQL, every role, in a
// temporary directory), each figure beside its baseline from the same run:
//
//   - memory: the server's peak RSS (VmHWM) while 24 clients send 16 MiB
//     batches at once, over and over, beside the peak with one such client;
//   - lookups: the single-POST ingest rate while 8 clients look up made-up
//     ids of the last seconds as fast as they can, beside the rate without
//     them, alternated over rounds;
//   - outage: serve's RSS after 1,000,000 entries were accepted while its
//     PostgreSQL was down, beside its RSS before the outage, then the stats'
//     pending count and the drain once PostgreSQL is back.
//
// See docs/BENCHMARKS.md.
//
//	go run ./bench/hostile [--duration 10s] [--rounds 2] [--json]
package main
