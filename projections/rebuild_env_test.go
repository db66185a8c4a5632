package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/migrations"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// opsEnv is a store with the default streams and a migrated database.
type opsEnv struct {
	store *eventstore.Store
	pool  *pgxpool.Pool
}

func newOpsEnv(t *testing.T) opsEnv {
	t.Helper()
	st, _ := testenv.Store(t)
	pool, err := pgxpool.New(context.Background(), testenv.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(context.Background(), pool)
	require.NoError(t, err)
	return opsEnv{store: st, pool: pool}
}

// appendLogs appends n log events of perEvent entries each and returns the
// entry ids.
func appendLogs(t testing.TB, st *eventstore.Store, n, perEvent int) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	var pending []*eventstore.Pending
	for i := 0; i < n; i++ {
		entries := make([]logs.Entry, perEvent)
		for j := range entries {
			entries[j] = logs.Entry{ID: uuid.Must(uuid.NewV7()), Level: logs.Levels[(i+j)%len(logs.Levels)],
				Message: "message", Source: "test", ReceivedAt: time.Now().UTC()}
			ids = append(ids, entries[j].ID)
		}
		env, err := eventstore.NewEnvelope(logs.EntriesReceivedV1, logs.EntriesReceived{Entries: entries})
		require.NoError(t, err)
		p, err := st.AppendAsync(logs.Subject, env, eventstore.WithCount(perEvent))
		require.NoError(t, err)
		pending = append(pending, p)
	}
	for _, p := range pending {
		_, err := p.Wait(context.Background())
		require.NoError(t, err)
	}
	return ids
}

// runLive starts the live logs projector and returns a stop function.
func runLive(t *testing.T, env opsEnv) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := projections.NewRunner(logentries.New(""), env.store.JetStream(), env.pool, projections.Config{BatchWait: 5 * time.Millisecond}, nil, nil)
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return func() { cancel(); <-done }
}

// projectOnce runs the live projector until it has applied the whole stream,
// then stops it.
func projectOnce(t *testing.T, env opsEnv) {
	t.Helper()
	stop := runLive(t, env)
	waitCheckpoint(t, env)
	stop()
}

// waitCheckpoint polls until the logs checkpoint reaches the stream's end.
func waitCheckpoint(t *testing.T, env opsEnv) uint64 {
	t.Helper()
	ctx := context.Background()
	last, err := env.store.LastSeq(ctx, logs.Stream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		cp, err := projections.LoadCheckpoint(ctx, env.pool, logentries.Name)
		return err == nil && cp.LastSeq >= last
	}, 20*time.Second, 10*time.Millisecond)
	return last
}

// freshDiff projects the whole stream into a fresh table and returns how
// many rows differ between it and log_entries, both ways.
func freshDiff(t *testing.T, env opsEnv) int64 {
	t.Helper()
	ctx := context.Background()
	_, err := env.pool.Exec(ctx, `CREATE TABLE fresh_entries (LIKE log_entries INCLUDING ALL)`)
	require.NoError(t, err)
	tx, err := env.pool.Begin(ctx)
	require.NoError(t, err)
	var batch []projections.Event
	require.NoError(t, env.store.Read(ctx, logs.Stream, eventstore.ReadOptions{}, func(ev eventstore.RawEvent) error {
		e, err := eventstore.UnmarshalEnvelope(ev.Data)
		require.NoError(t, err)
		batch = append(batch, projections.Event{Seq: ev.Seq, Subject: ev.Subject, Envelope: e})
		return nil
	}))
	_, err = logentries.New("fresh_entries").Apply(ctx, tx, batch)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	var diff int64
	cols := `id, seq, level, message, context::text, source, received_at`
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM (SELECT `+cols+` FROM fresh_entries EXCEPT SELECT `+cols+` FROM log_entries) a) +
		(SELECT count(*) FROM (SELECT `+cols+` FROM log_entries EXCEPT SELECT `+cols+` FROM fresh_entries) b)`).Scan(&diff))
	return diff
}

func tableExists(t *testing.T, env opsEnv, name string) bool {
	t.Helper()
	var ok bool
	require.NoError(t, env.pool.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok))
	return ok
}
