package projections_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// appendEntries stores one log event holding n entries and returns their ids.
func appendEntries(t *testing.T, st *eventstore.Store, n int) []uuid.UUID {
	t.Helper()
	var encoded [][]byte
	var ids []uuid.UUID
	for i := range n {
		e, fe := logs.DecodeSingle([]byte(fmt.Sprintf(`{"message":"entry %d","context":{"i":%d},"source":"test"}`, i, i)), time.Now())
		require.Nil(t, fe)
		b, err := logs.EncodeEntry(e)
		require.NoError(t, err)
		encoded = append(encoded, b)
		ids = append(ids, e.ID)
	}
	env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1, OccurredAt: time.Now(), Data: logs.AppendPayload(nil, encoded)}
	_, err := st.Append(context.Background(), logs.Subject, eventstore.NoExpectation, env, eventstore.WithCount(n))
	require.NoError(t, err)
	return ids
}

func startRunner(t *testing.T, st *eventstore.Store, pool *pgxpool.Pool, cfg projections.Config) *projections.Runner {
	t.Helper()
	r := projections.NewRunner(logentries.New(""), st.JetStream(), pool, cfg, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return r
}

func waitRows(t *testing.T, pool *pgxpool.Pool, want int64) {
	t.Helper()
	var got int64
	require.Eventually(t, func() bool {
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM log_entries`).Scan(&got)
		return err == nil && got == want
	}, 30*time.Second, 20*time.Millisecond, "rows: got %d, want %d", got, want)
}

// fingerprint summarises the whole read model, to compare states.
func fingerprint(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var fp string
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT count(*)::text || ':' || coalesce(md5(string_agg(id::text || seq || level || message || coalesce(context::text,'') || source, ',' ORDER BY id)), '')
		 FROM log_entries`).Scan(&fp))
	return fp
}

func TestRunnerProjectsBatchesWithCheckpoint(t *testing.T) {
	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	var ids []uuid.UUID
	for range 5 {
		ids = append(ids, appendEntries(t, st, 3)...)
	}
	r := startRunner(t, st, pool, projections.Config{BatchSize: 2, BatchWait: 10 * time.Millisecond})
	waitRows(t, pool, 15)

	cp, err := projections.LoadCheckpoint(context.Background(), pool, logentries.Name)
	require.NoError(t, err)
	require.Equal(t, uint64(5), cp.LastSeq)
	require.Equal(t, int64(15), cp.Rows)
	require.GreaterOrEqual(t, cp.Batches, int64(3), "batch size 2 over 5 events")
	require.Equal(t, uint64(5), r.Stats().LastSeq)

	var msg string
	var seq int64
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT message, seq FROM log_entries WHERE id = $1`, ids[4]).Scan(&msg, &seq))
	require.Equal(t, "entry 1", msg)
	require.Equal(t, int64(2), seq)
}

func TestReplayingEventsTwiceChangesNothing(t *testing.T) {
	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	ctx := context.Background()
	for range 4 {
		appendEntries(t, st, 25)
	}
	var events []projections.Event
	require.NoError(t, st.Read(ctx, logs.Stream, eventstore.ReadOptions{}, func(ev eventstore.RawEvent) error {
		env, err := eventstore.UnmarshalEnvelope(ev.Data)
		require.NoError(t, err)
		events = append(events, projections.Event{Seq: ev.Seq, Subject: ev.Subject, Time: ev.Time, Header: ev.Header, Envelope: env})
		return nil
	}))
	require.Len(t, events, 4)

	apply := func(evs []projections.Event) int64 {
		var n int64
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			n, err = logentries.New("").Apply(ctx, tx, evs)
			return err
		}))
		return n
	}
	require.Equal(t, int64(100), apply(events))
	before := fingerprint(t, pool)
	require.Equal(t, int64(0), apply(events), "the same events again insert nothing")
	require.Equal(t, int64(0), apply(events[1:3]), "a partial replay inserts nothing")
	require.Equal(t, before, fingerprint(t, pool))

	// The runner replaying the whole stream over the model changes nothing either.
	startRunner(t, st, pool, projections.Config{})
	require.Eventually(t, func() bool {
		cp, err := projections.LoadCheckpoint(ctx, pool, logentries.Name)
		return err == nil && cp.LastSeq == 4
	}, 20*time.Second, 20*time.Millisecond)
	require.Equal(t, before, fingerprint(t, pool))
	cp, err := projections.LoadCheckpoint(ctx, pool, logentries.Name)
	require.NoError(t, err)
	require.Zero(t, cp.Rows, "the runner inserted no row")
}

func TestPoisonEventsAreParkedNotBlocking(t *testing.T) {
	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	ctx := context.Background()
	appendEntries(t, st, 2) // seq 1
	// seq 2: not an envelope at all.
	_, err := st.JetStream().PublishMsg(ctx, &nats.Msg{Subject: logs.Subject, Data: []byte("garbage"), Header: nats.Header{}})
	require.NoError(t, err)
	// seq 3: a valid envelope whose payload the projection cannot use.
	bad := eventstore.Envelope{ID: uuid.New(), Type: logs.EntriesReceivedV1, OccurredAt: time.Now(), Data: []byte(`{"entries":[{"id":"not-a-uuid"}]}`)}
	_, err = st.Append(ctx, logs.Subject, eventstore.NoExpectation, bad)
	require.NoError(t, err)
	appendEntries(t, st, 3) // seq 4

	r := startRunner(t, st, pool, projections.Config{BatchSize: 10, BatchWait: 50 * time.Millisecond})
	waitRows(t, pool, 5)
	require.Eventually(t, func() bool {
		n, err := projections.CountParked(ctx, pool, logentries.Name)
		return err == nil && n == 2
	}, 10*time.Second, 20*time.Millisecond)
	var seqs []int64
	rows, err := pool.Query(ctx, `SELECT seq FROM projection_parked WHERE projection = 'logs' ORDER BY seq`)
	require.NoError(t, err)
	defer rows.Close()
	seqs, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	require.Equal(t, []int64{2, 3}, seqs)
	cp, err := projections.LoadCheckpoint(ctx, pool, logentries.Name)
	require.NoError(t, err)
	require.Equal(t, uint64(4), cp.LastSeq, "the stream moved on past the poison")
	require.Equal(t, int64(2), r.Stats().Parked)
}

func TestRunnerRetriesWhilePostgresIsDown(t *testing.T) {
	st, _ := testenv.Store(t)
	cluster := testenv.NewCluster(t)
	pool := testenv.Pool(t, testenv.FreshDatabase(t, cluster))
	appendEntries(t, st, 4)
	r := startRunner(t, st, pool, projections.Config{BatchWait: 10 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	waitRows(t, pool, 4)

	require.NoError(t, cluster.Stop())
	want := 4
	for range 10 {
		want += len(appendEntries(t, st, 7))
	}
	require.Eventually(t, func() bool { return r.Stats().Retries >= 2 }, 20*time.Second, 20*time.Millisecond,
		"the runner keeps retrying while PostgreSQL is down")
	require.NoError(t, cluster.StartAgain(context.Background()))
	waitRows(t, pool, int64(want))
	cp, err := projections.LoadCheckpoint(context.Background(), pool, logentries.Name)
	require.NoError(t, err)
	require.Equal(t, uint64(11), cp.LastSeq)
	require.Equal(t, int64(want), cp.Rows)
}

func TestOneActiveRunnerPerProjection(t *testing.T) {
	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	cfg := projections.Config{BatchWait: 10 * time.Millisecond}
	ctxA, stopA := context.WithCancel(context.Background())
	a := projections.NewRunner(logentries.New(""), st.JetStream(), pool, cfg, nil, nil)
	doneA := make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	defer stopA()
	require.Eventually(t, func() bool { return a.Stats().Active }, 10*time.Second, 10*time.Millisecond)
	b := startRunner(t, st, pool, cfg)

	appendEntries(t, st, 5)
	waitRows(t, pool, 5)
	require.True(t, a.Stats().Active)
	require.False(t, b.Stats().Active, "the second runner stands by")
	require.Zero(t, b.Stats().Events)

	// The active one goes away; the standby takes over from its checkpoint.
	stopA()
	require.NoError(t, <-doneA)
	appendEntries(t, st, 4)
	waitRows(t, pool, 9)
	require.True(t, b.Stats().Active)
	require.Equal(t, int64(1), b.Stats().Events, "it applied only the new event")
}

func TestRunnerFollowsACheckpointMovedUnderIt(t *testing.T) {
	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	ctx := context.Background()
	r := startRunner(t, st, pool, projections.Config{BatchWait: 10 * time.Millisecond})
	appendEntries(t, st, 2)
	waitRows(t, pool, 2)

	// Another writer (a rebuild's swap) moves the checkpoint ahead: the
	// runner must resume from there instead of committing over it.
	appendEntries(t, st, 3) // seq 2, may or may not be applied yet
	waitRows(t, pool, 5)
	_, err := pool.Exec(ctx, `UPDATE projection_checkpoints SET last_seq = 10 WHERE name = 'logs'`)
	require.NoError(t, err)
	for range 8 { // seq 3..10: skipped, the checkpoint says they are done
		appendEntries(t, st, 1)
	}
	appendEntries(t, st, 7) // seq 11
	waitRows(t, pool, 12)
	cp, err := projections.LoadCheckpoint(ctx, pool, logentries.Name)
	require.NoError(t, err)
	require.Equal(t, uint64(11), cp.LastSeq)
	// The runner's own count follows its commit (rows and checkpoint are
	// visible a moment before it; under the race detector, long enough to
	// read the old one).
	require.Eventually(t, func() bool { return r.Stats().LastSeq == 11 }, 5*time.Second, 5*time.Millisecond,
		"the runner's last seq: %d", r.Stats().LastSeq)
}

// TestRunnerProjectsEventsLargerThanPullBytes stores one event bigger than
// the runner's pull byte bound (a 16 MiB batch request stores a little
// more than 16 MiB): the runner must still project it, not stall on it.
func TestRunnerProjectsEventsLargerThanPullBytes(t *testing.T) {
	st, _ := testenv.Store(t)
	pool := testenv.Pool(t, testenv.Postgres(t))
	const perEntry = 60 << 10
	var encoded [][]byte
	big := strings.Repeat("x", perEntry)
	for i := range 40 { // 40 x 60 KiB: 2.3 MiB, above the 1 MiB bound below
		e, fe := logs.DecodeSingle([]byte(fmt.Sprintf(`{"message":"%d %s"}`, i, big)), time.Now())
		require.Nil(t, fe)
		b, err := logs.EncodeEntry(e)
		require.NoError(t, err)
		encoded = append(encoded, b)
	}
	env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1, OccurredAt: time.Now(), Data: logs.AppendPayload(nil, encoded)}
	_, err := st.Append(context.Background(), logs.Subject, eventstore.NoExpectation, env, eventstore.WithCount(len(encoded)))
	require.NoError(t, err)
	appendEntries(t, st, 2) // and a small one after it

	startRunner(t, st, pool, projections.Config{BatchSize: 10, BatchWait: 10 * time.Millisecond, PullBytes: 1 << 20, BatchBytes: 1 << 20})
	waitRows(t, pool, 42)
}
