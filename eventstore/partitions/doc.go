// Package partitions gives each of a fixed number of partitions one live
// owner among the processes that take part, through JetStream's consumer
// priority groups with the pinned-client policy (ADR-42): the pinned puller
// owns a partition while it keeps pulling, and the server hands the pin on
// PinnedTTL after it stops. It also routes notes to a partition's owner
// (Router.Notify) and spreads partitions over the live processes (bucket
// EVENTLINE_PROCESSES). No lock table of our own; handlers/orders uses it.
package partitions

// Notes for whoever changes it (not the package doc):
//
// The stream PARTITIONS (in memory, the streams' replica count) carries two
// kinds of message per partition p of group g:
//
//   - partition.<g>.<p>.tick: a heartbeat every Tick, published by the
//     owner and by the processes competing for p. A pin is only handed out
//     with a delivered message, and a tick received with our pin id is how
//     a process knows it still owns p.
//   - partition.<g>.<p>.note.<key>: a note for the owner of p about key (a
//     saga to drive), published by any process (Router.Notify). One per
//     key is kept: a newer note replaces an older one.
//
// Ownership is a matter of speed and liveness, never of correctness: what a
// partition's owner writes is still guarded by each aggregate's expected
// sequence, so two processes that both believe they own p for a moment
// (the old owner learns that its pin was handed on only at its next pull,
// which the server answers with a 423) make conflicts, not double effects.
// A process also gives a partition up when no tick came for Lease, longer
// than a consumer's leader election, so that a NATS node's death does not
// make every process compete for the partitions again.
//
// Spreading: processes announce themselves in the key-value bucket
// EVENTLINE_PROCESSES (their id, roles and the partitions they own, every
// Tick). A process competes for the partitions nobody announces while it
// owns fewer than its fair share (the count over the live processes,
// rounded up), and releases (unpins) what it owns beyond it, so partitions
// move to a process that joins and back when one leaves.
