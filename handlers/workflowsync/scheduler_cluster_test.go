package workflowsync_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/internal/testenv"
)

// Three schedulers, each with its own connection and command loop, on a
// 3-node cluster with the WORKFLOWS stream at R3: the stream's leader is
// killed as they tick in a slot. They tick again as Run would (seconds
// apart, within the slot) until every customer's slot has started, and
// go on after the node is back: each slot starts once.
func TestSchedulersStartEachSlotOnceWhenTheStreamLeaderIsKilled(t *testing.T) {
	cluster := testenv.StartCluster(t, 3)
	e := newSyncEnv(t, envOptions{noReactor: true, natsURL: cluster.URL(), replicas: 3})
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		ids = append(ids, e.addCustomer(t, fmt.Sprintf("tenant-%d", i), nil))
	}
	for _, id := range ids {
		e.waitReadModel(t, id)
	}
	var scheds []*workflowsync.Scheduler
	for i := range 3 {
		st, err := eventstore.Connect(ctx, eventstore.Options{URL: cluster.URL(), Name: fmt.Sprintf("%s-%d", t.Name(), i), Replicas: 3})
		require.NoError(t, err)
		t.Cleanup(st.Close)
		c, err := workflowsync.NewCustomers(st, e.reg, nil)
		require.NoError(t, err)
		scheds = append(scheds, newTestScheduler(t, e, c, "-"))
	}
	// tickAll ticks every scheduler at now at once and returns how many
	// syncs they started and the errors they met.
	tickAll := func(now time.Time) (int, []error) {
		var wg sync.WaitGroup
		started, errs := make([]int, len(scheds)), make([]error, len(scheds))
		for i, s := range scheds {
			wg.Go(func() { started[i], errs[i] = s.Tick(ctx, now) })
		}
		wg.Wait()
		n := 0
		for _, k := range started {
			n += k
		}
		return n, errs
	}
	// allStarted says whether every customer has a sync started (false
	// while the events cannot be read).
	allStarted := func() bool {
		for _, id := range ids {
			state, _, err := e.customers.Load(ctx, id)
			if err != nil || state.Running == nil {
				return false
			}
		}
		return true
	}

	now := time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)
	slot := intervalSlot(now)
	leader := cluster.StreamLeader(workflows.Stream)
	require.GreaterOrEqual(t, leader, 0, "the stream has a leader")
	var kill sync.WaitGroup
	kill.Go(func() { cluster.Kill(leader) })
	total, errs := tickAll(now)
	kill.Wait()
	t.Logf("ticks while %s was killed: %d started, errors: %v", cluster.Name(leader), total, errs)
	deadline := time.Now().Add(60 * time.Second)
	for !allStarted() {
		require.True(t, time.Now().Before(deadline), "the slot did not start for every customer")
		now = now.Add(2 * time.Second) // as Run retries a failed tick
		n, errs := tickAll(now)
		total += n
		t.Logf("tick at %s: %d started, errors: %v", now.Format(time.TimeOnly), n, errs)
	}
	require.Equal(t, slot, intervalSlot(now), "started within the slot")

	cluster.Restart(leader)
	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, cluster.WaitReady(readyCtx))
	n, errs := tickAll(now.Add(time.Minute))
	for _, err := range errs {
		require.NoError(t, err)
	}
	total += n
	for _, id := range ids {
		require.Equal(t, []string{slot}, startedSlots(t, e, id), "customer %s: the slot, once", id)
	}
	require.LessOrEqual(t, total, len(ids), "no scheduler counts a start another made")
}
