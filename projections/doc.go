// Package projections is the runtime that keeps read models in PostgreSQL
// behind the log: durable pull consumers, batches committed in one
// transaction with their checkpoint, ack after commit, retries, parked
// poison events, the stream's identity checked at each checkpoint, and
// zero-downtime rebuilds into shadow tables. It names no business area:
// each read model is a package beside it (logentries, sagamodel,
// syncmodel) whose domain module registers its Spec.
package projections

// Notes for whoever changes it (not the package doc):
//
// Only errors about the data are poison (IsPermanent): a lost connection, a
// missing table or a lock timeout is retried and parks nothing. What a
// poison event does depends on the projection's Kind. An insert-only model
// (log entries) parks it and applies everything after it. A model updated in
// place (InPlaceProjection: sagas, orders) parks it and holds its aggregate:
// the aggregate's later events are parked behind it, unapplied, while other
// aggregates flow on, until Retrier.Retry applies them in stream order or an
// operator skips the bad one. Rebuild parity compares a hash of every column
// a projection owns, row by row.
