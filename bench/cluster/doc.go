// Command cluster benchmarks several `eventline serve` processes on a
// replicated NATS cluster (issue 23's targets): three nats-servers in this
// process (a JetStream cluster routed over loopback, stores in a temporary
// directory, replicas-3 streams), one PostgreSQL, and two serve processes
// (p1: api,projector,saga,sync; p2: api,saga). Beside each figure it
// prints a same-run baseline.
//
//  1. throughput: sagas/s and p50/p99 (POST /api/orders, then
//     GET /api/sagas/{id}?wait=10s until terminal, tok_ok, orders spread
//     over --products products) with p1 alone, then with p1 and p2 (the
//     clients split over both APIs), same --in-flight and --duration,
//     alternated --pairs times (p2 stopped with SIGTERM in between); the
//     ratio two/one (target >= 0.9) and each party's CPU per saga (serve
//     processes, the nats-servers = this process, PostgreSQL, the load
//     generator, which runs in a child process of its own). Baseline: raw
//     JetStream on the same cluster, ten awaited publishes per "saga" on a
//     replicas-3 stream of its own.
//
//  2. hot product: the same with every order on one product: sagas that
//     did not complete and "too many concurrent changes" in the serve logs
//     (target: none), p99 two/one (target <= 2).
//
//  3. logs: POST /api/logs (one entry) with one process and with two;
//     baseline: one awaited raw publish per entry.
//
//  4. takeover: under a steady load of orders (tok_ok, tok_flaky,
//     tok_slow; first --steady without faults, the safety-net sweep's
//     firings counted) kill -9 one process, time the survivor's resume of its
//     partitions (from its slog lines), restart it and wait until it has
//     its share back, --rounds times; p50/p99/max (target p99 <= 10 s).
//
//  5. faults: the SAGAS stream leader's node killed, then PostgreSQL
//     stopped, each for a few seconds under the same load; afterwards
//     every saga placed must be terminal, none needs_attention or failed.
//
//     go run ./bench/cluster --bin bin/eventline [--duration 10s] [--rounds 5] [--phases throughput,hot,logs,takeover,faults]
package main
