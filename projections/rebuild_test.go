package projections_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

func TestRebuild(t *testing.T) {
	tests := []struct {
		name     string
		events   int
		perEvent int
		live     bool // run the live projector before rebuilding
		dryRun   bool
	}{
		{name: "empty stream", events: 0, perEvent: 1, live: false},
		{name: "live up to date", events: 300, perEvent: 3, live: true},
		{name: "live never ran", events: 200, perEvent: 2, live: false},
		{name: "dry run", events: 150, perEvent: 1, live: true, dryRun: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			env := newOpsEnv(t)
			ids := appendLogs(t, env.store, tt.events, tt.perEvent)
			if tt.live {
				projectOnce(t, env)
			}
			before, err := countRows(ctx, env.pool, "log_entries")
			require.NoError(t, err)
			var liveIndexes []string
			require.NoError(t, env.pool.QueryRow(ctx, `SELECT array_agg(indexname::text ORDER BY indexname) FROM pg_indexes WHERE tablename = 'log_entries'`).Scan(&liveIndexes))
			require.Contains(t, liveIndexes, "log_entries_received_idx")
			res, err := projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{BatchSize: 64, DryRun: tt.dryRun}).Run(ctx)
			require.NoError(t, err)
			require.Equal(t, int64(tt.events), res.Events)
			require.Equal(t, int64(len(ids)), res.Rows)
			require.Equal(t, uint64(tt.events), res.LastSeq)
			require.Equal(t, !tt.dryRun, res.Swapped)
			require.False(t, tableExists(t, env, "log_entries__rebuild"))
			require.False(t, tableExists(t, env, "log_entries__old"))
			n, err := countRows(ctx, env.pool, "log_entries")
			require.NoError(t, err)
			cp, err := projections.LoadCheckpoint(ctx, env.pool, logentries.Name)
			require.NoError(t, err)
			if tt.dryRun {
				require.Equal(t, before, n)
				return
			}
			require.Equal(t, int64(len(ids)), n)
			require.Equal(t, uint64(tt.events), cp.LastSeq)
			require.Equal(t, int64(len(ids)), cp.Rows)
			require.Zero(t, freshDiff(t, env))
			// The swapped table has the live indexes under their usual names,
			// so that a second rebuild works the same way.
			var idx []string
			rows, err := env.pool.Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'log_entries' ORDER BY 1`)
			require.NoError(t, err)
			defer rows.Close()
			for rows.Next() {
				var s string
				require.NoError(t, rows.Scan(&s))
				idx = append(idx, s)
			}
			require.Equal(t, liveIndexes, idx)
			// A partitioned read model stays partitioned, its partitions
			// named after it again.
			var partitioned bool
			require.NoError(t, env.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'log_entries'::regclass)`).Scan(&partitioned))
			require.True(t, partitioned)
			var parts, misnamed int
			require.NoError(t, env.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE c.relname NOT LIKE 'log\_entries\_p%')
				FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'log_entries'::regclass`).Scan(&parts, &misnamed))
			require.NotZero(t, parts)
			require.Zero(t, misnamed)
			// The day counts retention reads came along with the table.
			var counted int64
			require.NoError(t, env.pool.QueryRow(ctx, `SELECT coalesce(sum(entries), 0) FROM log_volume WHERE tbl = 'log_entries'::regclass`).Scan(&counted))
			require.Equal(t, int64(len(ids)), counted)
			// So did the search blocks: every entry is in one.
			var inBlocks, outside int64
			require.NoError(t, env.pool.QueryRow(ctx, `SELECT coalesce(sum(entries), 0),
				(SELECT count(*) FROM log_entries e WHERE NOT EXISTS (SELECT 1 FROM log_blocks b
					WHERE b.tbl = 'log_entries'::regclass AND e.received_at BETWEEN b.first_at AND b.last_at))
				FROM log_blocks WHERE tbl = 'log_entries'::regclass`).Scan(&inBlocks, &outside))
			require.Equal(t, int64(len(ids)), inBlocks)
			require.Zero(t, outside)
			_, err = projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{}).Run(ctx)
			require.NoError(t, err)
		})
	}
}

func TestRebuildRefusesMismatchUnlessForced(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	appendLogs(t, env.store, 50, 2)
	projectOnce(t, env)
	_, err := env.pool.Exec(ctx, `DELETE FROM log_entries WHERE id IN (SELECT id FROM log_entries LIMIT 3)`)
	require.NoError(t, err)

	_, err = projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{}).Run(ctx)
	require.ErrorIs(t, err, projections.ErrMismatch)
	n, _ := countRows(ctx, env.pool, "log_entries")
	require.Equal(t, int64(97), n, "a refused swap leaves the live model alone")
	require.False(t, tableExists(t, env, "log_entries__rebuild"))

	res, err := projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{Force: true}).Run(ctx)
	require.NoError(t, err)
	require.True(t, res.Swapped)
	require.False(t, res.Compared[0].Match)
	n, _ = countRows(ctx, env.pool, "log_entries")
	require.Equal(t, int64(100), n)
}

func TestRebuildInterruptedLeavesLiveAlone(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	appendLogs(t, env.store, 400, 1)
	projectOnce(t, env)
	// A rebuild killed earlier left its shadow behind.
	_, err := env.pool.Exec(ctx, `CREATE TABLE log_entries__rebuild (LIKE log_entries)`)
	require.NoError(t, err)

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, err = projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{BatchSize: 50, Progress: func(p projections.RebuildProgress) {
		if p.Events >= 100 {
			cancel()
		}
	}}).Run(cctx)
	require.ErrorIs(t, err, context.Canceled)
	n, _ := countRows(ctx, env.pool, "log_entries")
	require.Equal(t, int64(400), n)
	require.False(t, tableExists(t, env, "log_entries__rebuild"))

	res, err := projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{BatchSize: 50}).Run(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(400), res.Events)
}

func TestRebuildIsExclusive(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	appendLogs(t, env.store, 200, 1)
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		_, err := projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{BatchSize: 50, Progress: func(projections.RebuildProgress) {
			once.Do(func() { close(entered); <-release })
		}}).Run(ctx)
		done <- err
	}()
	<-entered
	_, err := projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{}).Run(ctx)
	require.ErrorIs(t, err, projections.ErrRebuildRunning)
	close(release)
	require.NoError(t, <-done)
}

// TestRebuildUnderLoad rebuilds while writers append and the live projector
// and readers keep working: no read fails, no event is lost across the swap,
// and the final model equals a fresh projection of the whole stream.
func TestRebuildUnderLoad(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	ids := appendLogs(t, env.store, 3000, 2)
	runLive(t, env)
	waitCheckpoint(t, env)

	var wg sync.WaitGroup
	stopLoad := make(chan struct{})
	var mu sync.Mutex
	var reads, failedReads atomic.Int64
	var readErr error
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				var n int64
				err := env.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT id FROM log_entries
					WHERE level = 'info' ORDER BY received_at DESC, id DESC LIMIT 50) x`).Scan(&n)
				reads.Add(1)
				if err != nil {
					failedReads.Add(1)
					mu.Lock()
					readErr = err
					mu.Unlock()
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stopLoad:
				return
			default:
			}
			more := appendLogs(t, env.store, 20, 2)
			mu.Lock()
			ids = append(ids, more...)
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	})
	res, err := projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{BatchSize: 500}).Run(ctx)
	require.NoError(t, err)
	require.True(t, res.Swapped)
	time.Sleep(100 * time.Millisecond) // writes and reads after the swap
	close(stopLoad)
	wg.Wait()

	waitCheckpoint(t, env)
	require.Zero(t, failedReads.Load(), "failed reads (last: %v)", readErr)
	require.Positive(t, reads.Load())
	var missing int64
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT count(*) FROM unnest($1::uuid[]) AS want(id)
		WHERE NOT EXISTS (SELECT 1 FROM log_entries e WHERE e.id = want.id)`, ids).Scan(&missing))
	require.Zero(t, missing, "entries lost across the swap")
	n, err := countRows(ctx, env.pool, "log_entries")
	require.NoError(t, err)
	require.Equal(t, int64(len(ids)), n)
	require.Zero(t, freshDiff(t, env))
}

// TestRebuildKeepsWhatTheStreamStillHolds: once retention has dropped the
// first events of a stream (limits a logs stream may carry), a rebuild
// rebuilds what the stream still holds, says from where, compares only
// the rows of those events and swaps.
func TestRebuildKeepsWhatTheStreamStillHolds(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	appendLogs(t, env.store, 20, 2)
	projectOnce(t, env)
	s, err := env.store.JetStream().Stream(ctx, "LOGS")
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	cfg := info.Config
	cfg.MaxMsgs = 15 // the oldest 5 events go, as with an age or byte limit
	_, err = env.store.JetStream().UpdateStream(ctx, cfg)
	require.NoError(t, err)

	res, err := projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{}).Run(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 6, res.StreamFirstSeq)
	require.True(t, res.Swapped)
	require.EqualValues(t, 15, res.Events)
	require.Len(t, res.Compared, 1)
	require.True(t, res.Compared[0].Match, "rows of the expired events are not compared")
	require.EqualValues(t, 30, res.Compared[0].LiveRows)
	n, err := countRows(ctx, env.pool, "log_entries")
	require.NoError(t, err)
	require.EqualValues(t, 30, n, "the rebuilt model holds what the stream still holds")
}

// TestRebuildKeepsIngestStatistics: a rebuild replaces the rows and the
// position, not what the live projector's flushes were: batches (and so
// the stats' average batch size) and the last flush stay ingest's.
func TestRebuildKeepsIngestStatistics(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	appendLogs(t, env.store, 100, 3)
	projectOnce(t, env)
	appendLogs(t, env.store, 100, 3)
	projectOnce(t, env)
	before, err := projections.LoadCheckpoint(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.GreaterOrEqual(t, before.Batches, int64(2), "two rounds of live flushes")
	require.NotNil(t, before.LastFlushAt)

	res, err := projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{}).Run(ctx)
	require.NoError(t, err)
	require.True(t, res.Swapped)
	after, err := projections.LoadCheckpoint(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Equal(t, before.Batches, after.Batches, "the rebuild's own batches are not ingest's")
	require.NotNil(t, after.LastFlushAt)
	require.True(t, before.LastFlushAt.Equal(*after.LastFlushAt), "last flush %s, after the rebuild %s", before.LastFlushAt, after.LastFlushAt)
	require.Equal(t, before.Rows, after.Rows)
	require.Equal(t, before.LastSeq, after.LastSeq)
}
