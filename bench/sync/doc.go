// Command sync benchmarks the workflow sync end to end: the sync worker's
// reactor lists a customer's workflows from an in-process zuora-sim, appends
// the created workflows page by page through the customer command loop
// (atomic batches on stream WORKFLOWS), and the read model writes them to
// PostgreSQL; a sync is done when sync.completed is stored and the read model
// holds every event. Beside each sync it prints the bare listing (the Zuora
// client alone against the same sim, same run) as the baseline.
//
//  1. 10,000 workflows (200 pages of 50) for one customer, no added latency
//     (target ≤ 5 s);
//  2. the same with 20 ms added per page (target ≤ 1.15 × 200 × 20 ms);
//  3. 100 customers × 500 workflows with bounded concurrency: wall time and
//     the peak RSS of this process (NATS server, sim and PostgreSQL client
//     included; PostgreSQL itself is another process) (target ≤ 200 MiB).
//
// The read model is projections/syncmodel run by the projections runtime:
// a sync is measured until the read model holds its result.
//
//	go run ./bench/sync [--workflows 10000] [--customers 100] [--per-customer 500] [--concurrency 8] [--latency 20ms]
package main
