// Package aggregate is the one way to handle a command against an
// event-sourced aggregate: load its events by direct get (no consumer), fold
// them into state, decide (a pure function: state + command → events or a
// domain error), append with the expected subject sequence (several events
// atomically), and on eventstore.ErrConflict load what is new and decide
// again, a bounded number of times with jittered backoff.
//
// A Definition names the aggregate's stream and subjects and holds its pure
// functions; a Handler runs commands against it. The Handler keeps a bounded
// cache of folded state per subject, keyed by the subject's last sequence:
// the log is immutable, so a cached state is a valid prefix forever and a
// warm command costs one direct get (nothing newer) and one publish.
package aggregate
