// Package syncmodel is the read model of workflow sync: the customers, their
// workflows and the history of their syncs, projected from the WORKFLOWS
// stream into PostgreSQL (tables customers, workflows and sync_runs),
// updated in place one aggregate per customer subject. It is the one place
// that knows these tables: the projection writes them (statements.go) and
// every reader (the customers API, the dashboard, the scheduler, the sweep
// and `eventline sync-workflows`) reads them through read.go's rows.
package syncmodel

// Notes for whoever changes it (not the package doc):
//
// It is updated in place, one aggregate per customer subject. Writes are
// grouped per batch and sent in one round trip (pgx.Batch); a run of
// workflow.created/updated events becomes one INSERT … ON CONFLICT over
// unnest'ed arrays. Every event at or below a customer's seq (the last of
// its events applied) is left out, so applying an event twice changes
// nothing.
//
// Deletion is mark-and-sweep: workflow.deleted.v1 marks a row with the sync
// that found it gone (deleting_sync); sync.completed.v1 of that sync deletes
// the marked rows and stamps last_synced_at on the others; sync.failed.v1
// clears the marks, so a failed or interrupted sync deletes nothing.
