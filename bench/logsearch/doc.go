// Command logsearch benchmarks issue 24's logs features against a real
// `eventline serve` (embedded NATS, managed PostgreSQL), each figure beside
// its baseline from the same run:
//
// The phases run in this order: seed, 3, 2, 1, 4 (the search runs on the
// seeded week before the ingest phases add their entries; every entry the
// bench posts looks like a seeded one to a search).
//
//  1. OTLP ingest: POST /v1/logs of 100-record protobuf requests against
//     POST /api/logs/batch of 100 entries, the same clients and seconds
//     each, each phase from a caught-up projector, durable 2xx only
//     (target: OTLP ≥ 0.5 of batch entries/s);
//
//  2. search: --rows entries (10,000,000) seeded straight into log_entries
//     over the last 7 days (marked as search blocks nobody indexed, then
//     indexed in phase 3, timed), then the first page (51 rows, newest
//     first) of a q= word search and of an attr. context filter, p50/p95
//     over --queries requests through the API, against the unindexed SQL
//     (the ILIKE and containment scans that answered before any index),
//     target p95 ≤ 100 ms;
//
//  3. the projector's rate (entries persisted/s) with the search index
//     (EVENTLINE_LOGS_SEARCH_INDEX=on) and without it (off), two rounds of
//     each alternated, serve restarted between them, target ≥ 0.8 for the
//     ratio of their means;
//
//  4. dropping the oldest day (about rows/7 entries) by retention while
//     clients keep ingesting: the drop's time (target ≤ 1 s) and the
//     ingest answers that were not 2xx (target 0);
//
//  5. serve's peak RSS over the whole run (target ≤ 300 MiB).
//
//     go run ./bench/logsearch [--bin bin/eventline] [--rows 10000000] [--queries 50] [--seconds 10] [--keep]
package main
