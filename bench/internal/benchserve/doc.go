// Package benchserve runs a real `eventline serve` for the benchmarks under
// bench/: a child process on free loopback ports with its data in a
// directory of its own, ready when it prints its listening line, stopped
// with SIGTERM (then SIGKILL, then its PostgreSQL cluster if left up). It
// also reads the CPU time and peak RSS of a process, and makes the
// keep-alive HTTP clients that talk to it. The command line the benchmarks
// share is bench/internal/benchcmd.
package benchserve
