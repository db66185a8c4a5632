// Package aggregate is the one way to handle a command against an
// event-sourced aggregate: load its events (direct get, no consumer), fold,
// decide (pure), append with the expected subject sequence, and on
// eventstore.ErrConflict decide again, a bounded number of times. It owns
// Definition (an aggregate's stream, subjects and pure functions), Handler
// with its cache of folded state, group commit of a hot aggregate's queued
// commands (Definition.Pack) and loads from stored snapshots
// (Definition.Snapshot). The log itself is package eventstore.
package aggregate

// Notes for whoever changes it (not the package doc):
//
// A Definition names the aggregate's stream and subjects and holds its pure
// functions; a Handler runs commands against it. The Handler keeps a bounded
// cache of folded state per subject, keyed by the subject's last sequence:
// the log is immutable, so a cached state is a valid prefix forever and a
// warm command costs one direct get (nothing newer) and one publish.
