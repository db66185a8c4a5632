package sagamodel_test

import (
	"context"
	json "github.com/go-json-experiment/json/v1"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/sagamodel"
)

// TestMain stops the package's shared PostgreSQL cluster after the tests.
func TestMain(m *testing.M) { testenv.Main(m) }

// base is the time the test events start at (whole microseconds, as
// PostgreSQL stores them).
var base = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

func at(minute int) time.Time { return base.Add(time.Duration(minute) * time.Minute) }

// env is a JetStream server with the SAGAS and ORDERS streams and a
// migrated PostgreSQL database.
type env struct {
	st   *eventstore.Store
	pool *pgxpool.Pool
	last map[string]uint64 // by stream
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, _ := testenv.Store(t)
	require.NoError(t, st.EnsureStreams(context.Background(), []eventstore.StreamSpec{
		{Name: saga.Stream, Subjects: []string{saga.Subjects}, Description: "sagas"},
		{Name: orders.Stream, Subjects: orders.Subjects(), Description: "saga participants"},
	}))
	return &env{st: st, pool: testenv.Pool(t, testenv.Postgres(t)), last: map[string]uint64{}}
}

// emit appends one event to subject of stream and returns its sequence.
func (e *env) emit(t *testing.T, stream, subject, typ string, data any) uint64 {
	t.Helper()
	raw, err := json.Marshal(data)
	require.NoError(t, err)
	env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: typ, OccurredAt: base, Data: raw}
	ack, err := e.st.Append(context.Background(), subject, eventstore.NoExpectation, env)
	require.NoError(t, err)
	e.last[stream] = ack.Seq
	return ack.Seq
}

// run runs the live projectors of both specs until the returned stop or
// the test's end.
func (e *env) run(t *testing.T) (stop func()) {
	t.Helper()
	var stops []func()
	for _, spec := range []projections.Spec{sagamodel.SagasSpec(), sagamodel.OrdersSpec()} {
		r := projections.NewRunner(spec.Live(), e.st.JetStream(), e.pool,
			projections.Config{BatchWait: 5 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, nil, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		var stopped atomic.Bool
		stops = append(stops, func() {
			if stopped.CompareAndSwap(false, true) {
				cancel()
				require.NoError(t, <-done)
			}
		})
	}
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	t.Cleanup(stop)
	return stop
}

// wait polls until both projections have applied every event emitted so
// far.
func (e *env) wait(t *testing.T) {
	t.Helper()
	for stream, name := range map[string]string{saga.Stream: sagamodel.SagasName, orders.Stream: sagamodel.OrdersName} {
		seq := e.last[stream]
		require.Eventually(t, func() bool {
			cp, err := projections.LoadCheckpoint(context.Background(), e.pool, name)
			return err == nil && cp.LastSeq >= seq
		}, 20*time.Second, 5*time.Millisecond, "%s reaches #%d", name, seq)
	}
}

// streamEvents returns every event of stream.
func streamEvents(t *testing.T, e *env, stream string) []projections.Event {
	t.Helper()
	var out []projections.Event
	require.NoError(t, e.st.Read(context.Background(), stream, eventstore.ReadOptions{}, func(ev eventstore.RawEvent) error {
		env, err := eventstore.UnmarshalEnvelope(ev.Data)
		require.NoError(t, err)
		out = append(out, projections.Event{Seq: ev.Seq, Subject: ev.Subject, Envelope: env})
		return nil
	}))
	return out
}

// apply applies events with p in one transaction.
func apply(t *testing.T, e *env, p projections.Projection, events []projections.Event) {
	t.Helper()
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = p.Apply(ctx, tx, events)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
}

// dump returns every row of the read models' tables as text, by key.
func dump(t *testing.T, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT 'saga ' || s::text FROM sagas s ORDER BY id`,
		`SELECT 'step ' || s::text FROM saga_steps s ORDER BY saga_id, position`,
		`SELECT 'user ' || u::text FROM users u ORDER BY id`,
		`SELECT 'product ' || p::text FROM products p ORDER BY id`,
		`SELECT 'order ' || o::text FROM orders o ORDER BY id`,
		`SELECT 'payment ' || p::text FROM payments p ORDER BY order_id, key`,
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
