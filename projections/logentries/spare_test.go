package logentries

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/projections"
)

// bigBatch returns events of entries per event, over the last few minutes,
// worth writing through two connections.
func bigBatch(t *testing.T, firstSeq uint64, events, entries int) ([]projections.Event, []uuid.UUID) {
	t.Helper()
	now := time.Now().UTC()
	var out []projections.Event
	var ids []uuid.UUID
	for e := range events {
		var encoded [][]byte
		for i := range entries {
			id := uuid.Must(uuid.NewV7())
			ids = append(ids, id)
			b, err := logs.EncodeEntry(logs.Entry{ID: id, Level: []string{"info", "error"}[i%2],
				Message:    fmt.Sprintf("GET /api/orders/%d took %d ms %s", e, i, strings.Repeat("x", 40)),
				ReceivedAt: now.Add(-time.Duration(i%5) * time.Minute)})
			require.NoError(t, err)
			encoded = append(encoded, b)
		}
		env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1, OccurredAt: now, Data: logs.AppendPayload(nil, encoded)}
		out = append(out, projections.Event{Seq: firstSeq + uint64(e), Envelope: env})
	}
	return out, ids
}

// TestLargeBatchIsWrittenThroughTwoConnections: a batch past spareMinBytes
// lands half through a spare transaction (rows of two transactions), every
// entry once, counted once; when the batch's own transaction then fails,
// the half the spare one committed stays, and the batch written again
// (redelivered) skips it: every entry once, the counts still right.
func TestLargeBatchIsWrittenThroughTwoConnections(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	p := New("")
	p.UsePool(pool)
	// Today's partition exists (the spare write makes none).
	apply(t, pool, p, logEvent(t, 1, time.Now().UTC()))

	batch, ids := bigBatch(t, 2, 20, 200)
	require.Positive(t, p.splitAt(batch), "the batch is large enough to split")
	apply(t, pool, p, batch...)
	var rows, txs int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT xmin::text) FROM log_entries WHERE id = ANY($1)`, ids).Scan(&rows, &txs))
	require.EqualValues(t, len(ids), rows)
	require.EqualValues(t, 2, txs, "written by the batch's transaction and a spare one")
	kept, real := volume(t, pool)
	require.Equal(t, real, kept)

	// The batch's transaction fails after the spare one committed.
	again, ids2 := bigBatch(t, 100, 20, 200)
	errRollback := errors.New("the batch's transaction fails")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := p.Apply(ctx, tx, again); err != nil {
			return err
		}
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM log_entries WHERE id = ANY($1)`, ids2).Scan(&rows))
	require.Positive(t, rows, "the spare half was committed first")
	require.Less(t, rows, int64(len(ids2)), "the batch's own half went with its transaction")
	kept, real = volume(t, pool)
	require.Equal(t, real, kept, "the spare half is counted with its rows")

	apply(t, pool, p, again...) // redelivered
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM log_entries WHERE id = ANY($1)`, ids2).Scan(&rows, &txs))
	require.EqualValues(t, len(ids2), rows, "every entry of the redelivered batch")
	require.EqualValues(t, len(ids2), txs, "none twice")
	kept, real = volume(t, pool)
	require.Equal(t, real, kept, "nothing counted twice")
}
