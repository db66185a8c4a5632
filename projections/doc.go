// Package projections owns the read models in PostgreSQL and the runtime
// that keeps them behind the log: durable pull consumers, batches of up to N
// events or T milliseconds committed in one transaction together with the
// projection's checkpoint, acknowledgement only after commit, retries with
// capped exponential backoff while PostgreSQL is away, and parking of poison
// events.
package projections
