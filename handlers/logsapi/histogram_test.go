package logsapi

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// TestHistogramOverAWeek: over a long range, the histogram's counts come
// from the projection's counts by minute and level, and agree with the
// entries: the same totals as counting the rows (a filter the counts do
// not know, source=, counts the rows), a level filter applies, and every
// bucket is whole minutes.
func TestHistogramOverAWeek(t *testing.T) {
	ctx := context.Background()
	env := newLogsEnv(t)
	p := env.startAPI(t, IngestConfig{}, LookupConfig{})
	now := time.Now().UTC()
	var encoded [][]byte
	want := map[string]int64{}
	for i, at := range []time.Duration{-6 * 24 * time.Hour, -49 * time.Hour, -3 * time.Hour, -90 * time.Second, -time.Second} {
		for j, level := range []string{"info", "error", "info"} {
			if (i+j)%4 == 3 {
				continue
			}
			b, err := logs.EncodeEntry(logs.Entry{ID: uuid.Must(uuid.NewV7()), Level: level, Message: "m", Source: "api", ReceivedAt: now.Add(at)})
			require.NoError(t, err)
			encoded = append(encoded, b)
			want[level]++
		}
	}
	ev := projections.Event{Seq: 1, Envelope: eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1,
		OccurredAt: now, Data: logs.AppendPayload(nil, encoded)}}
	require.NoError(t, pgx.BeginFunc(ctx, env.pool, func(tx pgx.Tx) error {
		_, err := logentries.New("").Apply(ctx, tx, []projections.Event{ev})
		return err
	}))
	totals := func(v histView) map[string]int64 {
		m := map[string]int64{}
		for _, lt := range v.Totals {
			m[lt.Level] = lt.Count
		}
		return m
	}
	week := now.Add(-7 * 24 * time.Hour)
	v, err := p.h.histogram(ctx, listQuery{since: &week}, now)
	require.NoError(t, err)
	require.Equal(t, want, totals(v))
	require.Zero(t, v.Bucket%time.Minute, "buckets of whole minutes: %s", v.Bucket)
	require.Zero(t, v.From.Sub(v.From.Truncate(time.Minute)))

	rows, err := p.h.histogram(ctx, listQuery{since: &week, source: "api"}, now)
	require.NoError(t, err)
	require.Equal(t, totals(rows), totals(v), "counted from the rows, the same")

	errorsOnly, err := p.h.histogram(ctx, listQuery{since: &week, levels: []string{"error"}}, now)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"error": want["error"]}, totals(errorsOnly))
}
