// Package opsdash is the dashboard's operator page, /streams: streams,
// consumers, projections (checkpoints, lag) and the parked items of every
// projection and reactor, with their Retry and Skip actions, plus the
// overview's Consumers card and banner checks. It reads through
// platform/opsapi's Inspector, the same views as the CLI; each fragment
// answers within its timeout, a dead NATS or PostgreSQL shown as a message.
package opsdash
