package logentries

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/migrations"
	"github.com/eventline/eventline/projections"
)

// logEvent is one event holding entries received at each of times.
func logEvent(t *testing.T, seq uint64, times ...time.Time) projections.Event {
	t.Helper()
	var encoded [][]byte
	for _, at := range times {
		b, err := logs.EncodeEntry(logs.Entry{ID: uuid.Must(uuid.NewV7()), Level: "info", Message: "m", ReceivedAt: at})
		require.NoError(t, err)
		encoded = append(encoded, b)
	}
	env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1, OccurredAt: time.Now(), Data: logs.AppendPayload(nil, encoded)}
	return projections.Event{Seq: seq, Envelope: env}
}

func apply(t *testing.T, pool *pgxpool.Pool, p *Logs, events ...projections.Event) {
	t.Helper()
	require.NoError(t, pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		_, err := p.Apply(context.Background(), tx, events)
		return err
	}))
}

func migrated(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(context.Background(), pool)
	require.NoError(t, err)
	return pool
}

func countWhere(t *testing.T, pool *pgxpool.Pool, where string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM log_entries WHERE `+where, args...).Scan(&n))
	return n
}

// TestRetentionDropsWholeDaysWhileIngesting: with a retention of an hour,
// the days wholly older than that go (the partitions are dropped, their
// entries counted as expired), the days ahead are created, and nothing
// younger than the hour is lost, while another writer keeps ingesting.
func TestRetentionDropsWholeDaysWhileIngesting(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	p := New("")
	now := time.Now().UTC()
	old := []time.Time{now.AddDate(0, 0, -12), now.AddDate(0, 0, -3), now.AddDate(0, 0, -2), now.Add(-49 * time.Hour)}
	recent := []time.Time{now.Add(-30 * time.Minute), now.Add(-time.Minute), now}
	// Twelve days back has no partition yet: the write makes it.
	apply(t, pool, p, logEvent(t, 1, old...), logEvent(t, 2, recent...))
	cutoff := now.Add(-time.Hour)
	wantExpired := countWhere(t, pool, `received_at < $1`, DayOf(cutoff).Start())
	require.EqualValues(t, 4, wantExpired)

	// Ingest keeps going while the days are dropped.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written atomic.Int64
	ingester := New("")
	wg.Add(1)
	go func() {
		defer wg.Done()
		seq := uint64(100)
		for {
			select {
			case <-stop:
				return
			default:
			}
			seq++
			ev := logEvent(t, seq, time.Now().UTC(), time.Now().UTC())
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				_, err := ingester.Apply(ctx, tx, []projections.Event{ev})
				return err
			})
			if err != nil {
				t.Errorf("ingest during retention: %v", err)
				return
			}
			written.Add(2)
		}
	}()
	require.Eventually(t, func() bool { return written.Load() > 20 }, 10*time.Second, time.Millisecond)
	res, err := Maintain(ctx, pool, Retention{MaxAge: time.Hour}, now)
	require.Eventually(t, func() bool { return written.Load() > 60 }, 10*time.Second, time.Millisecond, "ingest goes on after the drop")
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	require.False(t, res.Skipped)

	var dropped int64
	for _, d := range res.Dropped {
		dropped += d.Entries
		day, ok := dayOfPartition(Table, d.Partition)
		require.True(t, ok)
		require.False(t, day.End().After(cutoff), "%s is not wholly older than the retention", d.Partition)
	}
	require.Equal(t, wantExpired, dropped)
	require.Zero(t, countWhere(t, pool, `received_at < $1`, DayOf(cutoff).Start()), "expired days are gone")
	require.EqualValues(t, len(recent), countWhere(t, pool, `received_at >= $1 AND received_at <= $2`, cutoff, now), "nothing younger than the retention is lost")
	require.Equal(t, written.Load(), countWhere(t, pool, `received_at > $1`, now))
	var oldBlocks, keptBlocks int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE last_at < $1), count(*) FILTER (WHERE last_at >= $2) FROM log_blocks`,
		DayOf(cutoff).Start(), cutoff).Scan(&oldBlocks, &keptBlocks))
	require.Zero(t, oldBlocks, "the search blocks of the days dropped go")
	require.Positive(t, keptBlocks)

	parts, err := Partitions(ctx, pool, Table)
	require.NoError(t, err)
	var names []string
	for _, p := range parts {
		names = append(names, p.Name)
	}
	require.Contains(t, names, PartitionName(Table, Day(DayOf(now).Start().AddDate(0, 0, 3))), "days ahead are made")
	require.NotContains(t, names, PartitionName(Table, DayOf(now.AddDate(0, 0, -2))))

	st, err := ReadRetention(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, wantExpired, st.Expired)
	require.EqualValues(t, len(res.Dropped), st.DroppedPartitions)
	require.NotNil(t, st.OldestRetained)
	require.False(t, st.OldestRetained.Before(DayOf(cutoff).Start()))
	require.Equal(t, len(parts), st.Partitions)

	// A second run has nothing left to do; forever keeps everything.
	res, err = Maintain(ctx, pool, Retention{MaxAge: time.Hour}, now)
	require.NoError(t, err)
	require.Empty(t, res.Dropped)
	apply(t, pool, p, logEvent(t, 3, now.AddDate(0, 0, -30)))
	res, err = Maintain(ctx, pool, Retention{}, now)
	require.NoError(t, err)
	require.Empty(t, res.Dropped)
	require.EqualValues(t, 1, countWhere(t, pool, `received_at < $1`, now.AddDate(0, 0, -29)))
}

// TestRetentionByteCap: over the cap, the oldest days go first, never
// today's.
func TestRetentionByteCap(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	p := New("")
	now := time.Now().UTC()
	apply(t, pool, p, logEvent(t, 1, now.AddDate(0, 0, -2), now.AddDate(0, 0, -1), now))
	res, err := Maintain(ctx, pool, Retention{MaxBytes: 1}, now)
	require.NoError(t, err)
	require.NotEmpty(t, res.Dropped)
	require.EqualValues(t, 1, countWhere(t, pool, `true`), "today's entry stays")
}

// volume returns log_volume for log_entries and what it should hold: the
// entries of each minute and level.
func volume(t *testing.T, pool *pgxpool.Pool) (kept, real map[string]int64) {
	t.Helper()
	read := func(sql string) map[string]int64 {
		rows, err := pool.Query(context.Background(), sql)
		require.NoError(t, err)
		m := map[string]int64{}
		for rows.Next() {
			var at time.Time
			var level string
			var n int64
			require.NoError(t, rows.Scan(&at, &level, &n))
			m[at.UTC().Format(time.RFC3339)+" "+level] = n
		}
		require.NoError(t, rows.Err())
		return m
	}
	return read(`SELECT minute, level, entries FROM log_volume WHERE tbl = 'log_entries'::regclass`),
		read(`SELECT date_trunc('minute', received_at, 'UTC'), level, count(*) FROM log_entries GROUP BY 1, 2`)
}

// TestVolumeFollowsEveryWrite: the counts by minute and level (the
// explorer's histogram, and what retention reads when it drops a day)
// match the rows, whether they came by COPY, by the upsert of a batch
// redelivered with new entries in it, or entry by entry after a failure;
// a drop takes its day's counts and leaves the others.
func TestVolumeFollowsEveryWrite(t *testing.T) {
	ctx := context.Background()
	pool := migrated(t)
	p := New("")
	now := time.Now().UTC()
	first := logEvent(t, 1, now.AddDate(0, 0, -3), now.AddDate(0, 0, -3), now.AddDate(0, 0, -1), now)
	apply(t, pool, p, first) // COPY
	// Redelivered together with new entries: the COPY hits the primary key
	// and the upsert inserts only the new ones.
	apply(t, pool, p, first, logEvent(t, 2, now.AddDate(0, 0, -3), now))
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, failed, err := p.ApplyItems(ctx, tx, logEvent(t, 3, now.AddDate(0, 0, -1)), nil)
		require.Empty(t, failed)
		return err
	}))
	kept, real := volume(t, pool)
	require.Equal(t, real, kept)
	var total int64
	for _, n := range kept {
		total += n
	}
	require.EqualValues(t, 7, total)

	res, err := Maintain(ctx, pool, Retention{MaxAge: 48 * time.Hour}, now)
	require.NoError(t, err)
	var dropped int64
	for _, d := range res.Dropped {
		dropped += d.Entries
	}
	require.EqualValues(t, 3, dropped, "the only entries older than two days")
	kept, real = volume(t, pool)
	require.Equal(t, real, kept, "the dropped day's counts went with it")
}
