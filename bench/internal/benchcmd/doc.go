// Package benchcmd is the command line every program under bench/ shares:
// Main (signals, exit status), Command (its own flags beside the shared
// --bin, --json and --keep, the progress log, the work dir with the
// eventline binary) and List for comma-separated flag values. Running a
// real serve is bench/internal/benchserve; a client of its order saga API,
// bench/internal/orderclient.
package benchcmd
