package syncmodel_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/syncmodel"
)

// importThree runs a first sync of c that creates workflows 1, 2 and 3.
func importThree(t *testing.T, e *env, c uuid.UUID) {
	t.Helper()
	e.created(t, c, "acme")
	e.started(t, c, "s1", 1)
	e.changed(t, c, "s1", workflows.WorkflowCreatedV1, 2, wf(1, "one", "Active", 0), wf(2, "two", "Active", 0),
		wf(3, "three", "Inactive", 0))
	e.completed(t, c, "s1", 3, workflows.Stats{Created: 3, Total: 3}, 1)
}

func TestFirstImportThenUpdates(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	c := uuid.New()
	importThree(t, e, c)
	e.wait(t)

	require.Equal(t, []workflowRow{
		{1, "one", "Active", ptr(at(3)), nil},
		{2, "two", "Active", ptr(at(3)), nil},
		{3, "three", "Inactive", ptr(at(3)), nil},
	}, workflowRows(t, e.pool, c), "a completed sync stamps every row it listed")
	require.Equal(t, syncRun{Status: "completed", Created: 3, Total: 3, Errors: "[]", Pages: 1}, syncRunRow(t, e.pool, "s1"))
	var name, lastID, lastStatus string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT name, last_sync_id, last_sync_status FROM customers
		WHERE id = $1`, c).Scan(&name, &lastID, &lastStatus))
	require.Equal(t, []string{"acme", "s1", "completed"}, []string{name, lastID, lastStatus})

	// An upstream edit: one update, the others unchanged. While the sync
	// runs, its row counts what was applied.
	e.started(t, c, "s2", 10)
	e.changed(t, c, "s2", workflows.WorkflowUpdatedV1, 11, wf(2, "two bis", "Inactive", 11))
	e.wait(t)
	require.Equal(t, syncRun{Status: "running", Updated: 1, Errors: "[]"}, syncRunRow(t, e.pool, "s2"))
	require.Equal(t, workflowRow{2, "two bis", "Inactive", ptr(at(11)), nil}, workflowRows(t, e.pool, c)[1])

	e.completed(t, c, "s2", 12, workflows.Stats{Updated: 1, Unchanged: 2, Total: 3}, 1)
	e.wait(t)
	require.Equal(t, syncRun{Status: "completed", Updated: 1, Unchanged: 2, Total: 3, Errors: "[]", Pages: 1},
		syncRunRow(t, e.pool, "s2"))
	for _, w := range workflowRows(t, e.pool, c) {
		require.Equal(t, at(12), *w.LastSyncedAt)
	}
}

func TestFailedSyncDeletesNothing(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	c := uuid.New()
	importThree(t, e, c)
	e.started(t, c, "s2", 10)
	e.deleted(t, c, "s2", 11, 1, 3)
	e.wait(t)

	rows := workflowRows(t, e.pool, c)
	require.Len(t, rows, 3, "a deletion waits for its sync to complete")
	require.Equal(t, ptr("s2"), rows[0].DeletingSync)
	require.Nil(t, rows[1].DeletingSync)
	require.Equal(t, ptr("s2"), rows[2].DeletingSync)

	e.failed(t, c, "s2", 12, "page 3: 500 Internal Server Error", workflows.Stats{Total: 100,
		Errors: []string{"page 3: 500 Internal Server Error"}})
	e.wait(t)
	require.Equal(t, []workflowRow{
		{1, "one", "Active", ptr(at(3)), nil},
		{2, "two", "Active", ptr(at(3)), nil},
		{3, "three", "Inactive", ptr(at(3)), nil},
	}, workflowRows(t, e.pool, c), "nothing deleted, marks cleared, not stamped synced")
	require.Equal(t, syncRun{Status: "failed", Total: 100, Errors: `["page 3: 500 Internal Server Error"]`, Pages: 1,
		Reason: "page 3: 500 Internal Server Error"}, syncRunRow(t, e.pool, "s2"))
	var lastStatus string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT last_sync_status FROM customers WHERE id = $1`, c).Scan(&lastStatus))
	require.Equal(t, "failed", lastStatus)
}

func TestCompletedSyncDeletesTheMarkedRows(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	c := uuid.New()
	importThree(t, e, c)
	e.started(t, c, "s2", 10)
	e.changed(t, c, "s2", workflows.WorkflowCreatedV1, 11, wf(4, "four", "Active", 11))
	e.deleted(t, c, "s2", 12, 1, 3)
	e.completed(t, c, "s2", 13, workflows.Stats{Created: 1, Deleted: 2, Unchanged: 1, Total: 2}, 1)
	e.wait(t)
	require.Equal(t, []workflowRow{
		{2, "two", "Active", ptr(at(13)), nil},
		{4, "four", "Active", ptr(at(13)), nil},
	}, workflowRows(t, e.pool, c))
	require.Equal(t, syncRun{Status: "completed", Created: 1, Deleted: 2, Unchanged: 1, Total: 2, Errors: "[]", Pages: 1},
		syncRunRow(t, e.pool, "s2"))
}

func TestCustomersWithTheSameZuoraIDsStayApart(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	a, b := uuid.New(), uuid.New()
	importThree(t, e, a)
	e.created(t, b, "globex")
	e.started(t, b, "b1", 1)
	e.changed(t, b, "b1", workflows.WorkflowCreatedV1, 2, wf(1, "b-one", "Active", 0), wf(2, "b-two", "Active", 0))
	e.deleted(t, b, "b1", 2, 3) // b never had a 3: nothing to mark
	e.completed(t, b, "b1", 3, workflows.Stats{Created: 2, Total: 2}, 1)
	e.wait(t)

	require.Len(t, workflowRows(t, e.pool, a), 3)
	require.Equal(t, []workflowRow{
		{1, "b-one", "Active", ptr(at(3)), nil},
		{2, "b-two", "Active", ptr(at(3)), nil},
	}, workflowRows(t, e.pool, b))
	require.NotEqual(t, syncmodel.WorkflowID(a, 1), syncmodel.WorkflowID(b, 1))
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM workflows WHERE id = $1 AND customer_id = $2`,
		syncmodel.WorkflowID(b, 2), b).Scan(&n))
	require.Equal(t, 1, n, "a row's id is the UUID v5 of its customer and Zuora id")

	known, err := syncmodel.Fingerprints(context.Background(), e.pool, b, []int64{1, 2, 3})
	require.NoError(t, err)
	require.Len(t, known, 2)
	require.Equal(t, wf(2, "b-two", "Active", 0).Fingerprint(), known[2], "PostgreSQL's hash of the row is the workflow's")
	ids, err := syncmodel.StoredIDs(context.Background(), e.pool, b)
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2}, ids)
}

// streamEvents reads the whole WORKFLOWS stream as the projector sees it.
func streamEvents(t *testing.T, e *env) []projections.Event {
	t.Helper()
	var out []projections.Event
	require.NoError(t, e.st.Read(context.Background(), workflows.Stream, eventstore.ReadOptions{}, func(ev eventstore.RawEvent) error {
		env, err := eventstore.UnmarshalEnvelope(ev.Data)
		require.NoError(t, err)
		out = append(out, projections.Event{Seq: ev.Seq, Subject: ev.Subject, Envelope: env})
		return nil
	}))
	return out
}

// apply applies events in one transaction.
func apply(t *testing.T, e *env, events []projections.Event) {
	t.Helper()
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = syncmodel.New(nil).Apply(ctx, tx, events)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
}

func TestApplyingEventsAgainChangesNothing(t *testing.T) {
	e := newEnv(t)
	a, b := uuid.New(), uuid.New()
	importThree(t, e, a)
	e.created(t, b, "globex")
	e.started(t, a, "s2", 10)
	e.changed(t, a, "s2", workflows.WorkflowUpdatedV1, 11, wf(2, "two bis", "Active", 11))
	e.deleted(t, a, "s2", 12, 1)
	e.completed(t, a, "s2", 13, workflows.Stats{Updated: 1, Deleted: 1, Unchanged: 1, Total: 2}, 1)
	e.started(t, b, "b1", 14)
	e.changed(t, b, "b1", workflows.WorkflowCreatedV1, 15, wf(1, "b-one", "Active", 0))
	e.deleted(t, a, "s3", 16, 2) // a sync that is not running marks nothing it could not sweep
	events := streamEvents(t, e)

	apply(t, e, events)
	want := dump(t, e.pool)
	require.Equal(t, []workflowRow{{2, "two bis", "Active", ptr(at(13)), nil}, {3, "three", "Inactive", ptr(at(13)), nil}},
		workflowRows(t, e.pool, a))
	require.NotEmpty(t, want)
	for name, again := range map[string][]projections.Event{
		"the whole stream":     events,
		"the first import":     events[:7],
		"one event at a time":  events[5:6],
		"the deleted workflow": events[3:4],
		"the last sync's rows": events[len(events)-3:],
	} {
		apply(t, e, again)
		require.Equal(t, want, dump(t, e.pool), name)
	}
}

func TestRebuildMatchesAndFindsACorruptedRow(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	stop := e.run(t)
	a, b := uuid.New(), uuid.New()
	importThree(t, e, a)
	e.created(t, b, "globex")
	e.started(t, b, "b1", 1)
	e.changed(t, b, "b1", workflows.WorkflowCreatedV1, 2, wf(1, "b-one", "Active", 0))
	e.started(t, a, "s2", 10)
	e.deleted(t, a, "s2", 12, 1)
	e.completed(t, a, "s2", 13, workflows.Stats{Deleted: 1, Unchanged: 2, Total: 2}, 1)
	e.wait(t)
	stop()
	before := dump(t, e.pool)

	res, err := projections.NewRebuilder(e.st, e.pool, syncmodel.Spec(), projections.RebuildOptions{}).Run(ctx)
	require.NoError(t, err)
	require.True(t, res.Swapped)
	require.Len(t, res.Compared, 3)
	for _, c := range res.Compared {
		require.True(t, c.Match, c.Table)
	}
	require.Equal(t, before, dump(t, e.pool))

	for _, tc := range []struct {
		name, corrupt, table string
	}{
		{"a workflow", `UPDATE workflows SET name = 'oops' WHERE zuora_id = 2`, "workflows"},
		{"a sync run", `UPDATE sync_runs SET created = 7 WHERE sync_id = 'b1'`, "sync_runs"},
		{"a resurrected workflow", `INSERT INTO workflows SELECT gen_random_uuid(), customer_id, 99, name, description,
			status, created_at, updated_at, last_synced_at, deleting_sync, seq FROM workflows LIMIT 1`, "workflows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.pool.Exec(ctx, tc.corrupt)
			require.NoError(t, err)
			_, err = projections.NewRebuilder(e.st, e.pool, syncmodel.Spec(), projections.RebuildOptions{DryRun: true}).Run(ctx)
			require.ErrorIs(t, err, projections.ErrMismatch)
			require.ErrorContains(t, err, tc.table+": 1 row differs")

			res, err := projections.NewRebuilder(e.st, e.pool, syncmodel.Spec(), projections.RebuildOptions{Force: true}).Run(ctx)
			require.NoError(t, err)
			require.True(t, res.Swapped)
			require.Equal(t, before, dump(t, e.pool), "the forced rebuild puts it right")
		})
	}
}

func TestAnEventThatCannotBeAppliedHoldsItsCustomerOnly(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	a, b := uuid.New(), uuid.New()
	importThree(t, e, a)
	e.created(t, b, "globex")
	e.started(t, a, "s2", 10)
	bad := e.emit(t, a, workflows.WorkflowCreatedV1, 11, map[string]any{"sync_id": "s2", "workflow": "not an object"})
	e.changed(t, a, "s2", workflows.WorkflowCreatedV1, 12, wf(4, "four", "Active", 12))
	e.started(t, b, "b1", 13)
	e.changed(t, b, "b1", workflows.WorkflowCreatedV1, 14, wf(1, "b-one", "Active", 0))
	e.wait(t)

	parked, err := projections.ListParked(context.Background(), e.pool, syncmodel.Name)
	require.NoError(t, err)
	require.Len(t, parked, 2, "the bad event and the one held behind it")
	require.Equal(t, bad, parked[0].Seq)
	require.Equal(t, workflows.Subject(a.String()), parked[0].Aggregate)
	require.Len(t, workflowRows(t, e.pool, a), 3, "a waits behind its bad event")
	require.Len(t, workflowRows(t, e.pool, b), 1, "b flows on")
}
