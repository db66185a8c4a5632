// Package pgcluster runs a PostgreSQL cluster from the machine's PostgreSQL
// binaries in a directory of Eventline's own: it finds the binaries,
// initialises the cluster once, starts it (as the postgres system user when
// running as root), reuses one that is still running from an earlier process,
// and stops it. The cluster is closed to other local users: only generated
// passwords (SCRAM, kept 0600 in the directory) get in, the Unix socket is in
// the 0700 directory, and the application connects as a role that is no
// superuser and owns only its database's schema.
package pgcluster
