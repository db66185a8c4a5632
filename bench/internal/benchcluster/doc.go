// Package benchcluster runs a JetStream cluster of three nats-servers
// inside a benchmark's process, routed to each other over loopback, each
// with a store of its own in a temporary directory and the embedded
// server's max_payload, so that replicas-3 streams can be measured (and a
// node killed and started again) without any nats-server installed.
package benchcluster
