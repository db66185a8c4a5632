// Package pgcluster runs a PostgreSQL cluster from the machine's PostgreSQL
// binaries in a directory of Eventline's own: it finds the binaries,
// initialises the cluster once, starts it (as the postgres system user when
// running as root), reuses one that is still running from an earlier process,
// and stops it.
package pgcluster
