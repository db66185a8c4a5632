// Package logentries is the log_entries read model of write-behind logging:
// an insert-only projection of log.entries_received.v1 events, written with
// binary COPY, one row per entry keyed by its id. A bad entry is parked on
// its own (the rest of its event is applied). Spec describes it to the
// projections runtime and the operator tools.
package logentries
