// Package testenv starts the real servers integration tests run against: an
// in-process JetStream server on a random port with its store in a temp dir,
// requiring credentials as in production; a three-node JetStream cluster
// (Cluster) for replicated streams; and a PostgreSQL cluster (one per test
// binary, run by internal/pgcluster) handing each test a fresh database.
package testenv
