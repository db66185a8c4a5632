// Command synchostile measures what hostile Zuora tenants can make a real
// `eventline serve` (embedded JetStream, managed PostgreSQL, every role,
// in a temporary directory) hold in memory (issue 25 item 5), each figure
// beside its baseline from the same run and the same process:
//
//   - baseline: four ordinary tenants (pages of 50 workflows with short
//     descriptions) syncing at once;
//   - hostile: four tenants serving pages of 50 new ids with 150 KB
//     descriptions without end, syncing at once (each stops at the
//     default byte bound; every description is refused at the door);
//   - stored: four tenants serving 15 KB descriptions (under the field
//     bound, so stored) without end, each customer limited to --big-bytes
//     of pages, then synced a second time: the comparison of a listing with
//     thousands of stored descriptions, which used to load them all.
//
// The figure is serve's peak RSS (VmHWM, the embedded NATS server
// included) during each phase; the target is ≤ 300 MiB. See
// docs/BENCHMARKS.md.
//
//	go run ./bench/synchostile [--bin bin/eventline] [--tenants 4] [--json]
package main
