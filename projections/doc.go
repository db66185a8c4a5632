// Package projections is the runtime that keeps read models in PostgreSQL
// behind the log. It names no business area: each read model lives in a
// package of its own beside it (projections/logentries) and its domain
// module registers its Spec. The runtime provides durable pull consumers;
// batches of up to N events or T milliseconds committed in one transaction
// together with the projection's checkpoint; acknowledgement only after
// commit; retries with capped exponential backoff while PostgreSQL is away;
// parking of poison events; the stream's identity checked against each
// checkpoint; and zero-downtime rebuilds into shadow tables.
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
package projections
