package syncmodel_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/syncmodel"
)

// TestMain stops the package's shared PostgreSQL cluster after the tests.
func TestMain(m *testing.M) { testenv.Main(m) }

// base is the time the test events start at (whole microseconds, as
// PostgreSQL stores them).
var base = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

// env is a JetStream server with the WORKFLOWS stream and a migrated
// PostgreSQL database.
type env struct {
	st   *eventstore.Store
	pool *pgxpool.Pool
	last uint64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, _ := testenv.Store(t)
	require.NoError(t, st.EnsureStreams(context.Background(), []eventstore.StreamSpec{
		{Name: workflows.Stream, Subjects: []string{workflows.Subjects}, Description: "workflow sync"}}))
	return &env{st: st, pool: testenv.Pool(t, testenv.Postgres(t))}
}

// emit appends one event of customer c, occurring at base plus minute
// minutes, and returns its sequence.
func (e *env) emit(t *testing.T, c uuid.UUID, typ string, minute int, data any) uint64 {
	t.Helper()
	raw, err := json.Marshal(data)
	require.NoError(t, err)
	env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: typ, OccurredAt: at(minute), Data: raw}
	ack, err := e.st.Append(context.Background(), workflows.Subject(c.String()), eventstore.NoExpectation, env)
	require.NoError(t, err)
	e.last = ack.Seq
	return ack.Seq
}

func at(minute int) time.Time { return base.Add(time.Duration(minute) * time.Minute) }

// wf is Zuora workflow id with a name and status, dated by minute.
func wf(id int64, name, status string, minute int) workflows.Workflow {
	return workflows.Workflow{ZuoraID: id, Name: name, Description: "about " + name, Status: status,
		CreatedAt: base.Add(-time.Hour), UpdatedAt: at(minute)}
}

// The events of a customer's life.
func (e *env) created(t *testing.T, c uuid.UUID, name string) uint64 {
	return e.emit(t, c, workflows.CustomerCreatedV1, 0, workflows.CustomerCreated{CustomerID: c.String(), Name: name,
		BaseURL: "https://zuora.test/" + name, ClientID: "client-" + name, CreatedAt: at(0)})
}

func (e *env) started(t *testing.T, c uuid.UUID, sync string, minute int) uint64 {
	return e.emit(t, c, workflows.SyncStartedV1, minute, workflows.SyncStarted{SyncID: sync, Trigger: workflows.TriggerManual,
		StartedAt: at(minute)})
}

func (e *env) changed(t *testing.T, c uuid.UUID, sync, typ string, minute int, ws ...workflows.Workflow) uint64 {
	var seq uint64
	for _, w := range ws {
		seq = e.emit(t, c, typ, minute, workflows.WorkflowChanged{SyncID: sync, Workflow: w})
	}
	return seq
}

func (e *env) deleted(t *testing.T, c uuid.UUID, sync string, minute int, ids ...int64) uint64 {
	var seq uint64
	for _, id := range ids {
		seq = e.emit(t, c, workflows.WorkflowDeletedV1, minute, workflows.WorkflowDeleted{SyncID: sync, ZuoraID: id})
	}
	return seq
}

func (e *env) completed(t *testing.T, c uuid.UUID, sync string, minute int, st workflows.Stats, pages int) uint64 {
	return e.emit(t, c, workflows.SyncCompletedV1, minute, workflows.SyncCompleted{SyncID: sync, Stats: st, Pages: pages,
		FinishedAt: at(minute)})
}

func (e *env) failed(t *testing.T, c uuid.UUID, sync string, minute int, reason string, st workflows.Stats) uint64 {
	return e.emit(t, c, workflows.SyncFailedV1, minute, workflows.SyncFailed{SyncID: sync, Reason: reason, Stats: st,
		Pages: 1, FinishedAt: at(minute)})
}

// run runs the live projector until the returned stop or the test's end.
func (e *env) run(t *testing.T) (stop func()) {
	t.Helper()
	r := projections.NewRunner(syncmodel.Spec().Live(), e.st.JetStream(), e.pool,
		projections.Config{BatchWait: 5 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var stopped atomic.Bool
	stop = func() {
		if stopped.CompareAndSwap(false, true) {
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(stop)
	return stop
}

// wait polls until the projection has applied every event emitted so far.
func (e *env) wait(t *testing.T) {
	t.Helper()
	seq := e.last
	require.Eventually(t, func() bool {
		cp, err := projections.LoadCheckpoint(context.Background(), e.pool, syncmodel.Name)
		return err == nil && cp.LastSeq >= seq
	}, 20*time.Second, 5*time.Millisecond, "checkpoint reaches #%d", seq)
}

// dump returns every row of the model's tables as text, by key.
func dump(t *testing.T, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT 'c ' || c::text FROM customers c ORDER BY id`,
		`SELECT 'w ' || w::text FROM workflows w ORDER BY id`,
		`SELECT 's ' || s::text FROM sync_runs s ORDER BY sync_id`,
	} {
		rows, err := db.Query(context.Background(), q)
		require.NoError(t, err)
		defer rows.Close()
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		out = append(out, got...)
	}
	return out
}

// workflowRow is a workflows row as the tests check it.
type workflowRow struct {
	ZuoraID      int64
	Name         string
	Status       string
	LastSyncedAt *time.Time
	DeletingSync *string
}

// workflowRows returns customer c's workflows by Zuora id.
func workflowRows(t *testing.T, pool *pgxpool.Pool, c uuid.UUID) []workflowRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT zuora_id, name, status, last_synced_at, deleting_sync
		FROM workflows WHERE customer_id = $1 ORDER BY zuora_id`, c)
	require.NoError(t, err)
	defer rows.Close()
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (workflowRow, error) {
		var w workflowRow
		err := r.Scan(&w.ZuoraID, &w.Name, &w.Status, &w.LastSyncedAt, &w.DeletingSync)
		if w.LastSyncedAt != nil {
			u := w.LastSyncedAt.UTC()
			w.LastSyncedAt = &u
		}
		return w, err
	})
	require.NoError(t, err)
	return out
}

// syncRun is a sync_runs row as the tests check it.
type syncRun struct {
	Status                                      string
	Created, Updated, Deleted, Unchanged, Total int
	Errors                                      string
	Pages                                       int
	Reason                                      string
}

func syncRunRow(t *testing.T, pool *pgxpool.Pool, sync string) syncRun {
	t.Helper()
	var s syncRun
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT status, created, updated, deleted, unchanged, total,
		errors::text, pages, reason FROM sync_runs WHERE sync_id = $1`, sync).Scan(&s.Status, &s.Created, &s.Updated,
		&s.Deleted, &s.Unchanged, &s.Total, &s.Errors, &s.Pages, &s.Reason))
	return s
}

func ptr[T any](v T) *T { return &v }
