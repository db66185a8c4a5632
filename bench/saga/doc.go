// Command saga benchmarks the order saga (issue 12) end to end over HTTP
// against a real `eventline serve` (embedded NATS, managed PostgreSQL),
// once per EVENTLINE_NATS_SYNC mode (interval, then always):
//
//  1. throughput: --in-flight clients, each looping POST /api/orders then
//     GET /api/sagas/{id}?wait=10s until the saga is terminal, for
//     --duration after --warmup; sagas/s completed and the p50/p99 of
//     POST+wait (targets >= 2,000 sagas/s and p99 <= 150 ms with interval,
//     >= 700 sagas/s with always);
//  2. the peak RSS of the serve process during that run (target <= 300 MiB);
//  3. a single saga at a time (--single sagas, at most --single-max): p50
//     (target <= 2 ms) and p99.
//
// Beside each figure it prints the same-run baselines: raw JetStream on the
// serve process's own embedded nats-server (a stream of its own with the
// event streams' settings), ten sequential awaited publishes per "saga",
// at the same in-flight count and at 1 in flight; the same ten appends
// through the event store's group commit; raw atomic batches of 100
// messages (messages/s); and ten sequential single-row commits per saga on
// serve's PostgreSQL with synchronous_commit=on (issue 27). Every saga's
// outcome is counted: all must be completed.
//
//	go run ./bench/saga [--duration 10s] [--warmup 3s] [--in-flight 200] [--single 500] [--modes interval,always]
package main
