package projections_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// brokenLogs is the logs projection with a bug that can be fixed.
type brokenLogs struct {
	*logentries.Logs
	broken *atomic.Bool
}

func (b brokenLogs) Apply(ctx context.Context, tx pgx.Tx, events []projections.Event) (int64, error) {
	if b.broken.Load() {
		return 0, projections.Permanent(errors.New("bug"))
	}
	return b.Logs.Apply(ctx, tx, events)
}

func (b brokenLogs) ApplyItems(ctx context.Context, tx pgx.Tx, ev projections.Event, ids []string) (int64, []projections.ItemFailure, error) {
	if b.broken.Load() {
		return 0, nil, projections.Permanent(errors.New("bug"))
	}
	return b.Logs.ApplyItems(ctx, tx, ev, ids)
}

func TestRetryAppliesParkedEventsAfterAFix(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	broken := &atomic.Bool{}
	broken.Store(true)
	spec := logentries.Spec()
	spec.New = func(tables map[string]string) projections.Projection {
		return brokenLogs{Logs: logentries.New(tables["log_entries"]), broken: broken}
	}
	appendLogs(t, env.store, 4, 2)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		_ = projections.NewRunner(spec.Live(), env.store.JetStream(), env.pool, projections.Config{BatchWait: 5 * time.Millisecond}, nil, nil).Run(rctx)
		close(done)
	}()
	waitCheckpoint(t, env)
	cancel()
	<-done
	parked, err := projections.ListParked(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Len(t, parked, 4)

	r := projections.NewRetrier(env.store, env.pool, spec)
	res, err := r.Retry(ctx)
	require.NoError(t, err)
	require.Equal(t, 4, res.Retried)
	require.Zero(t, res.Applied)
	require.Len(t, res.StillParked, 4)

	sk, err := r.Skip(ctx, 2, "", "bob@host", "known bad")
	require.NoError(t, err)
	require.Len(t, sk, 1)
	require.Equal(t, uint64(2), sk[0].Seq)
	require.Equal(t, "bob@host", sk[0].SkippedBy)
	_, err = r.Skip(ctx, 2, "", "bob@host", "again")
	require.ErrorIs(t, err, projections.ErrNotParked)

	broken.Store(false) // the fix is deployed
	res, err = r.Retry(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, res.Retried)
	require.Equal(t, 3, res.Applied)
	require.Equal(t, int64(6), res.Rows)
	require.Empty(t, res.StillParked)
	n, err := projections.CountParked(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Zero(t, n)
	rows, err := countRows(ctx, env.pool, "log_entries")
	require.NoError(t, err)
	require.Equal(t, int64(6), rows)
	var skipped int
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT count(*) FROM projection_skipped WHERE projection = 'logs' AND seq = 2 AND data IS NOT NULL`).Scan(&skipped))
	require.Equal(t, 1, skipped)
}

func TestRegistry(t *testing.T) {
	reg := projections.NewRegistry(logentries.Spec())
	require.Equal(t, []string{"logs"}, reg.Names())
	spec, err := reg.Get("logs")
	require.NoError(t, err)
	require.Equal(t, "log_entries", spec.Tables[0].Name)
	_, err = reg.Get("nope")
	require.ErrorContains(t, err, `unknown projection "nope" (known: logs)`)
	s, ok := reg.ForConsumer("LOGS", "proj_logs")
	require.True(t, ok)
	require.Equal(t, "logs", s.Name)
	_, ok = reg.ForConsumer("OTHER", "proj_logs")
	require.False(t, ok)
	require.Panics(t, func() { projections.NewRegistry(logentries.Spec(), logentries.Spec()) })
	require.Panics(t, func() { projections.NewRegistry(projections.Spec{Name: "x"}) })
}
