// Package natsserver owns the in-process nats-server with JetStream that
// serve runs by default: starting it (Start, Config), the credentials file in
// its store directory that every client must authenticate with
// (ReadCredentials), and the DiskGuard that refuses appends before its
// filesystem fills up and restarts its JetStream after a failed write. It is
// the only package that links github.com/nats-io/nats-server/v2 outside
// tests; package eventstore holds the client side (Store, Credentials,
// WriteGuard), so domain packages importing it link no server.
package natsserver
