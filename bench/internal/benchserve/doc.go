// Package benchserve runs a real `eventline serve` for the benchmarks under
// bench/: a child process on free loopback ports with its data in a
// directory of its own, ready when it prints its listening line, stopped
// with SIGTERM (then SIGKILL, then its PostgreSQL cluster if left up). It
// also reads and resets the process's peak RSS, and holds the small
// command-line scaffolding the benchmark mains share.
package benchserve
