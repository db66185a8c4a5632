package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// poison kinds the door would refuse but that reach the stream anyway (an
// older version, another writer): appended straight to JetStream.
var poisonKinds = []func(*logs.Entry){
	// jsonb cannot hold \u0000 (SQLSTATE 22P05).
	func(e *logs.Entry) { e.Context = json.RawMessage(`{"s":"\u0000"}`) },
	// text cannot hold a NUL byte (SQLSTATE 22021).
	func(e *logs.Entry) { e.Message = "nul \x00 byte" },
	// a number jsonb cannot hold (SQLSTATE 22003).
	func(e *logs.Entry) { e.Context = json.RawMessage(`{"n":1e999999}`) },
}

// appendPoisoned appends one log event of n entries; the entries at the
// indexes of poison get poison kind poison[i] applied. It returns the
// event's sequence, the good ids and the poisoned ids.
func appendPoisoned(t *testing.T, st *eventstore.Store, n int, poison map[int]func(*logs.Entry)) (uint64, []uuid.UUID, []uuid.UUID) {
	t.Helper()
	var encoded [][]byte
	var good, bad []uuid.UUID
	for i := range n {
		e := logs.Entry{ID: uuid.Must(uuid.NewV7()), Level: "info", Message: fmt.Sprintf("entry %d", i), Source: "test",
			ReceivedAt: time.Now().UTC()}
		if p, ok := poison[i]; ok {
			p(&e)
			bad = append(bad, e.ID)
		} else {
			good = append(good, e.ID)
		}
		b, err := logs.EncodeEntry(e)
		require.NoError(t, err)
		encoded = append(encoded, b)
	}
	env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1, OccurredAt: time.Now(),
		Data: logs.AppendPayload(nil, encoded)}
	ack, err := st.Append(context.Background(), logs.Subject, eventstore.NoExpectation, env, eventstore.WithCount(n))
	require.NoError(t, err)
	return ack.Seq, good, bad
}

// startLogsRunner runs the live logs projector until the test ends.
func startLogsRunner(t *testing.T, env opsEnv, cfg projections.Config) *projections.Runner {
	t.Helper()
	if cfg.BatchWait == 0 {
		cfg.BatchWait = 5 * time.Millisecond
	}
	r := projections.NewRunner(logentries.New(""), env.store.JetStream(), env.pool, cfg, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return r
}

// storedIDs returns which of ids are in log_entries.
func storedIDs(t *testing.T, env opsEnv, ids []uuid.UUID) []uuid.UUID {
	t.Helper()
	rows, err := env.pool.Query(context.Background(), `SELECT id FROM log_entries WHERE id = ANY($1) ORDER BY id`, ids)
	require.NoError(t, err)
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		require.NoError(t, rows.Scan(&id))
		out = append(out, id)
	}
	require.NoError(t, rows.Err())
	return out
}

func sortedStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	slices.Sort(out)
	return out
}

// TestPoisonEntriesAreParkedAloneTheRestLand: entries of many requests
// share one event; an entry PostgreSQL refuses must not take the others
// with it. Only the poisoned entries are parked, by event sequence and
// entry id; every other entry of the batch and of the events around it
// lands, and a rebuild agrees with the live model.
func TestPoisonEntriesAreParkedAloneTheRestLand(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	before := appendLogs(t, env.store, 1, 3)
	seq, good, bad := appendPoisoned(t, env.store, 1000, map[int]func(*logs.Entry){17: poisonKinds[0], 600: poisonKinds[1], 999: poisonKinds[2]})
	after := appendLogs(t, env.store, 1, 2)
	r := startLogsRunner(t, env, projections.Config{BatchSize: 10, BatchWait: 50 * time.Millisecond})
	waitCheckpoint(t, env)

	good = append(append(good, before...), after...)
	require.Len(t, storedIDs(t, env, good), len(good), "every innocent entry is persisted")
	require.Empty(t, storedIDs(t, env, bad), "the poisoned entries are not")

	parked, err := projections.ListParked(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Len(t, parked, 3)
	var items []string
	for _, p := range parked {
		require.Equal(t, seq, p.Seq)
		require.Equal(t, int64(1), p.Items)
		require.Equal(t, logs.EntriesReceivedV1, p.EventType)
		require.Contains(t, p.Error, "SQLSTATE")
		items = append(items, p.Item)
	}
	require.Equal(t, sortedStrings(bad), items)
	n, err := projections.CountParked(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Equal(t, int64(3), n, "parked is counted in entries")
	require.Equal(t, int64(3), r.Stats().Parked)
	cp, err := projections.LoadCheckpoint(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Equal(t, int64(len(good)), cp.Rows)
	require.Equal(t, int64(3), cp.Events)

	// A rebuild parks the same entries and agrees with the live model.
	res, err := projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{}).Run(ctx)
	require.NoError(t, err)
	require.True(t, res.Swapped)
	require.True(t, res.Compared[0].Match, "%+v", res.Compared)
	require.Equal(t, int64(3), res.Parked)
	require.Len(t, storedIDs(t, env, good), len(good))
	parked, err = projections.ListParked(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Len(t, parked, 3)
}

// TestRetryAndSkipParkedEntries: a parked entry can be retried once the
// cause is fixed, and skipped on its own (by event and entry id), recorded.
func TestRetryAndSkipParkedEntries(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	// A rule of the read model that some entries break; dropped later (the fix).
	_, err := env.pool.Exec(ctx, `ALTER TABLE log_entries ADD CONSTRAINT no_poison CHECK (message NOT LIKE 'poison%')`)
	require.NoError(t, err)
	mark := func(e *logs.Entry) { e.Message = "poison " + e.Message }
	seq, good, bad := appendPoisoned(t, env.store, 5, map[int]func(*logs.Entry){1: mark, 3: mark})
	startLogsRunner(t, env, projections.Config{})
	waitCheckpoint(t, env)
	require.Len(t, storedIDs(t, env, good), 3)

	r := projections.NewRetrier(env.store, env.pool, logentries.Spec())
	res, err := r.Retry(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, res.Retried)
	require.Zero(t, res.Applied)
	require.Len(t, res.StillParked, 2)
	require.Contains(t, res.StillParked[0].Error, "no_poison")

	sk, err := r.Skip(ctx, seq, bad[0].String(), "bob@host", "known bad")
	require.NoError(t, err)
	require.Len(t, sk, 1)
	require.Equal(t, bad[0].String(), sk[0].Item)
	require.Equal(t, seq, sk[0].Seq)
	_, err = r.Skip(ctx, seq, bad[0].String(), "bob@host", "again")
	require.ErrorIs(t, err, projections.ErrNotParked)

	_, err = env.pool.Exec(ctx, `ALTER TABLE log_entries DROP CONSTRAINT no_poison`)
	require.NoError(t, err)
	res, err = r.Retry(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Retried)
	require.Equal(t, 1, res.Applied)
	require.Equal(t, int64(1), res.Rows)
	require.Empty(t, res.StillParked)
	require.Equal(t, []uuid.UUID{bad[1]}, storedIDs(t, env, bad), "the retried entry landed, the skipped one did not")
	n, err := projections.CountParked(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Zero(t, n)
	skipped, err := projections.CountSkipped(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Equal(t, int64(1), skipped)
	cp, err := projections.LoadCheckpoint(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Equal(t, int64(4), cp.Rows)
}

// TestRetrySplitsAnEventParkedWhole: an event parked whole (by an older
// version) is split when retried: its good entries land and only the
// poisoned one stays parked.
func TestRetrySplitsAnEventParkedWhole(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	seq, good, bad := appendPoisoned(t, env.store, 4, map[int]func(*logs.Entry){2: poisonKinds[0]})
	_, err := env.pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, last_seq, events) VALUES ('logs', $1, 1)`, int64(seq))
	require.NoError(t, err)
	_, err = env.pool.Exec(ctx, `INSERT INTO projection_parked (projection, seq, subject, event_type, error, items)
		VALUES ('logs', $1, 'logs.entries', $2, 'parked by an older version', 4)`, int64(seq), logs.EntriesReceivedV1)
	require.NoError(t, err)
	n, err := projections.CountParked(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Equal(t, int64(4), n)

	res, err := projections.NewRetrier(env.store, env.pool, logentries.Spec()).Retry(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Retried)
	require.Equal(t, int64(3), res.Rows)
	require.Len(t, res.StillParked, 1)
	require.Equal(t, bad[0].String(), res.StillParked[0].Item)
	require.Len(t, storedIDs(t, env, good), 3)
	parked, err := projections.ListParked(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Len(t, parked, 1)
	require.Equal(t, bad[0].String(), parked[0].Item)
	n, err = projections.CountParked(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
}

// TestUndecodableEntryIsParkedAlone: an entry of a grouped event that does
// not even decode is parked alone, named by its id; the others land.
func TestUndecodableEntryIsParkedAlone(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	var encoded [][]byte
	var good []uuid.UUID
	for i := range 4 {
		e := logs.Entry{ID: uuid.Must(uuid.NewV7()), Level: "info", Message: fmt.Sprintf("entry %d", i), ReceivedAt: time.Now().UTC()}
		b, err := logs.EncodeEntry(e)
		require.NoError(t, err)
		encoded = append(encoded, b)
		good = append(good, e.ID)
	}
	encoded = slices.Insert(encoded, 2, []byte(`{"id":"not-a-uuid","level":"info","message":"m"}`))
	ev := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1, OccurredAt: time.Now(), Data: logs.AppendPayload(nil, encoded)}
	ack, err := env.store.Append(ctx, logs.Subject, eventstore.NoExpectation, ev, eventstore.WithCount(5))
	require.NoError(t, err)
	startLogsRunner(t, env, projections.Config{})
	waitCheckpoint(t, env)
	require.Len(t, storedIDs(t, env, good), 4)
	parked, err := projections.ListParked(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Len(t, parked, 1)
	require.Equal(t, ack.Seq, parked[0].Seq)
	require.Equal(t, "not-a-uuid", parked[0].Item)
	require.Contains(t, parked[0].Error, "entry 2")

	res, err := projections.NewRetrier(env.store, env.pool, logentries.Spec()).Retry(ctx)
	require.NoError(t, err)
	require.Len(t, res.StillParked, 1, "it fails again, named the same")
	require.Equal(t, "not-a-uuid", res.StillParked[0].Item)
}
