package migrations_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/migrations"
)

// TestMain stops the package's shared PostgreSQL cluster after the tests.
func TestMain(m *testing.M) { testenv.Main(m) }

// TestPartitioningKeepsLogEntries: the migration that partitions
// log_entries by day keeps every entry written before it, old days
// included, and leaves a partition for each day it holds and days ahead.
func TestPartitioningKeepsLogEntries(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, migrations.UpTo(ctx, pool, 13))
	_, err = pool.Exec(ctx, `INSERT INTO log_entries (id, seq, level, message, context, source, received_at, trace_id)
		SELECT gen_random_uuid(), i, 'info', 'entry ' || i, jsonb_build_object('i', i), 'src', now() - make_interval(hours => i * 7), 'ab'
		FROM generate_series(0, 99) AS i`)
	require.NoError(t, err)
	var before, beforeSum int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), sum(seq) FROM log_entries`).Scan(&before, &beforeSum))

	_, err = migrations.Up(ctx, pool)
	require.NoError(t, err)
	var after, afterSum int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), sum(seq) FROM log_entries`).Scan(&after, &afterSum))
	require.Equal(t, before, after)
	require.Equal(t, beforeSum, afterSum)
	var partitioned bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'log_entries'::regclass)`).Scan(&partitioned))
	require.True(t, partitioned)
	var parts int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'log_entries'::regclass`).Scan(&parts))
	// 100 entries 7 hours apart span 30 days, plus three days ahead.
	require.GreaterOrEqual(t, parts, 32)
	today := time.Now().UTC().Format("20060102")
	var exists bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT to_regclass('log_entries_p' || $1) IS NOT NULL`, today).Scan(&exists))
	require.True(t, exists)
	var expired int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT expired_entries FROM log_retention`).Scan(&expired))
	require.Zero(t, expired)
}
