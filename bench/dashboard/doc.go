// Command dashboard benchmarks the dashboard's pages (issue 14) against a
// real `eventline serve` (embedded NATS, managed PostgreSQL) whose read
// models hold 1,000,000 log entries, 100,000 sagas (with 500,000 steps) and
// 10,000 workflows of 100 customers (with their sync runs), seeded straight
// into PostgreSQL with INSERT ... SELECT generate_series, then ANALYZEd.
//
// For each page (/, /logs, /sagas, /sagas/{id}, /customers,
// /customers/{id}, /streams) it measures:
//
//  1. first byte over HTTP: p50 and p99 of --gets sequential keep-alive
//     GETs (target ≤ 50 ms);
//  2. full render in headless Chromium (chromedp, the browser tests'
//     flags): navigation start → the load event and every htmx fragment
//     settled (no "Loading…" left, no request in flight), p50 of --loads
//     loads (target ≤ 500 ms).
//
// Baselines of the same run, on the same server: the first byte of
// GET /healthz (a bare handler) and the render of the dashboard's 404 page
// (the layout with its CSS and scripts, no fragment). A page that does not
// exist on this build is reported as "not found (404)", not measured.
//
//	go run ./bench/dashboard [--bin bin/eventline] [--gets 50] [--loads 10] [--token T] [--keep]
package main
