package workflowsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
)

// TestFailingCustomerBacksOff: a customer whose last three syncs failed is
// not started at every interval: its scheduled syncs wait Interval·2^(k-1)
// (4 h here) after the last failure, while a healthy customer is started
// at every slot; once the backoff ends the failing one is started again.
func TestFailingCustomerBacksOff(t *testing.T) {
	e := newSyncEnv(t, envOptions{noReactor: true})
	ctx := context.Background()
	failing, healthy := e.addCustomer(t, "tenant-failing", nil), e.addCustomer(t, "tenant-healthy", nil)
	e.waitReadModel(t, failing)
	e.waitReadModel(t, healthy)
	at := func(h, m int) time.Time { return time.Date(2026, 11, 25, h, m, 0, 0, time.UTC) }
	for i, started := range []time.Time{at(7, 0), at(8, 0), at(9, 0)} {
		_, err := e.pool.Exec(ctx, `INSERT INTO sync_runs (sync_id, customer_id, status, trigger, slot, started_at, finished_at,
			created, updated, deleted, unchanged, total, errors, pages, reason, seq)
			VALUES ($1, $2, 'failed', 'interval', $3, $4, $5, 0, 0, 0, 0, 0, '[]', 0, 'listing failed', 0)`,
			uuid.NewString(), failing, "interval:"+started.Format("15"), started, started.Add(time.Duration(i+1)*time.Minute))
		require.NoError(t, err)
	}
	sched := newTestScheduler(t, e, e.customers, "-")
	n, err := sched.Tick(ctx, at(10, 0))
	require.NoError(t, err)
	require.Equal(t, 1, n, "the failing customer waits")
	require.Equal(t, 0, countEvents(t, e, failing, workflows.SyncStartedV1))
	require.Equal(t, 1, countEvents(t, e, healthy, workflows.SyncStartedV1))

	n, err = sched.Tick(ctx, at(12, 30))
	require.NoError(t, err)
	require.Equal(t, 0, countEvents(t, e, failing, workflows.SyncStartedV1), "still within 4 h of its last failure (09:03)")
	require.Equal(t, 0, n, "the healthy one's sync still runs: its slot is owed")

	n, err = sched.Tick(ctx, at(13, 4))
	require.NoError(t, err)
	require.Equal(t, 1, countEvents(t, e, failing, workflows.SyncStartedV1), "the backoff is over")
	require.Equal(t, 1, n)
}
