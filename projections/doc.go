// Package projections is the runtime that keeps read models in PostgreSQL
// behind the log. It names no business area: each read model lives in a
// package of its own beside it (projections/logentries) and its domain
// module registers its Spec. The runtime provides durable pull consumers;
// batches of up to N events or T milliseconds committed in one transaction
// together with the projection's checkpoint; acknowledgement only after
// commit; retries with capped exponential backoff while PostgreSQL is away;
// parking of poison events; the stream's identity checked against each
// checkpoint; and zero-downtime rebuilds into shadow tables with a parity
// check.
package projections
