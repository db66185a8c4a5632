// Package eventstore owns Eventline's durable log: the JetStream streams, the
// versioned event envelope and its decode table, appends with per-aggregate
// optimistic concurrency and publish dedupe, bulk async appends, aggregate
// loads without consumers. The embedded nats-server used by default lives in
// eventstore/natsserver, so that importing eventstore links no server.
package eventstore
