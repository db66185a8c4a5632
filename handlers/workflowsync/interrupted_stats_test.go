package workflowsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/zuora/zuorasim"
)

// TestInterruptedSyncCountsWhatItChanged: a sync failed by the sweep after
// its process died (kill -9) reports a total that covers the workflows it
// created or updated, never fewer (it reported "updated 1, total 0").
func TestInterruptedSyncCountsWhatItChanged(t *testing.T) {
	e := newSyncEnv(t, envOptions{noReactor: true})
	id := e.addCustomer(t, "tenant-a", zuorasim.GenerateWorkflows(100, simBase))
	syncID := interruptedSync(t, e, id)
	e.advance(36 * time.Minute)
	n, err := e.worker.Sweep(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	r := e.wait(t, syncID)
	require.Equal(t, "failed", r.Status)
	require.Equal(t, 1, r.Updated)
	require.GreaterOrEqual(t, r.Tot, r.Created+r.Updated, "total below what the sync changed: %+v", r)
}
