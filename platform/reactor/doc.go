// Package reactor runs per-message handlers — process managers, saga
// participants, workers — on a watermill Router fed by JetStream durable
// pull consumers. It owns the runtime (Runtime, Subscriber), the middleware
// every reactor gets (panic recovery, metrics, retry with redelivery backoff,
// parking of messages that keep failing), the way a handler's effects are
// appended (Effects: deterministic ids, correlation and causation), and the
// operator's view of parked messages (ListParked, Retrier).
package reactor

// Notes for whoever changes it (not the package doc):
//
// A message is acknowledged only after the handler returned, that is after
// its effects are stored in JetStream; a redelivery re-runs the handler and
// its appends are deduplicated by their deterministic message ids, so it
// changes nothing.
