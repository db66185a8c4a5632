// Package opsapi owns the operator's view of the running system: JetStream
// streams and consumers (next to the PostgreSQL checkpoints of the
// projections they feed), projection status, and the parked items of
// projections and reactors with their retry and skip. The Inspector gathers
// it for the CLI (cmd/eventline); the Handler serves it as /api/ops/* for
// platform/opsdash.
package opsapi
