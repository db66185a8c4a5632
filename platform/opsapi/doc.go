// Package opsapi owns the operator's view of the running system: JetStream
// streams and consumers (next to the PostgreSQL checkpoints of the
// projections they feed) and projection status. The Inspector gathers it for
// the command line; the Handler serves it as /api/ops/* for the dashboard.
package opsapi
