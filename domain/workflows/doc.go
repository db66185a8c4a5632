// Package workflows is the pure part of workflow sync: the customer
// aggregate (its profile, the one sync it may run at a time, the schedule
// slots already started), its events and decode table, and the decisions of
// a sync — which listed workflows are created, updated or unchanged, and
// what a complete listing may delete. It does no I/O; handlers/workflowsync
// runs it and projections/syncmodel reads its events.
package workflows

// Notes for whoever changes it (not the package doc):
//
// Every event of a customer is on one subject, customer.<id>, so that the
// command loop's expected sequence serialises everything done to it.
// Deletion is mark-and-sweep: workflow.deleted.v1 events are appended only
// after a complete, error-free listing, in batches that end with
// sync.completed.v1, and take effect only with it; a sync that fails
// deletes nothing.
