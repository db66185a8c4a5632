package workflowsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// Defect 4 of issue 26: every interval slot started all customers in the
// same minute. With Spread, each customer's interval slots begin at an
// offset of its own: 200 customers' slots fall in many different minutes
// of the hour, each slot covers its customer's interval, and the next
// sync time follows from it. Before: one slot start for all.
func TestCustomersAreSpreadOverTheInterval(t *testing.T) {
	sched, err := workflowsync.NewScheduler(workflowsync.SchedulerConfig{Customers: &workflowsync.Customers{},
		Pool: newPlaceholderPool(t), Interval: time.Hour, DailyAt: "-", Location: time.UTC, Spread: time.Hour})
	require.NoError(t, err)
	now := time.Date(2026, 12, 7, 10, 20, 0, 0, time.UTC)
	minutes := map[int]bool{}
	for range 200 {
		id := uuid.NewString()
		slots := sched.SlotsOf(id, now)
		require.Len(t, slots, 1)
		sl := slots[0]
		require.Equal(t, workflows.TriggerInterval, sl.Trigger)
		require.False(t, now.Before(sl.Start), "the slot has begun")
		require.True(t, now.Before(sl.Start.Add(time.Hour)), "and covers now")
		require.Equal(t, sched.Offset(id), sl.Start.Sub(sl.Start.Truncate(time.Hour)))
		require.Equal(t, sl.Start.Add(time.Hour), sched.Next(id, now))
		require.Equal(t, slots, sched.SlotsOf(id, now), "the same in every process")
		minutes[sl.Start.Minute()] = true
	}
	require.Greater(t, len(minutes), 40, "slot starts spread over the hour's minutes")
}

// Defect 4 of issue 26, second half: a sync waiting for a slot (no process
// has begun it) is not interrupted. The sweep leaves it alone past the
// stale bound, and its redelivered sync.started runs it; only one that no
// process began within WaitBound is failed, saying so. Before: failed as
// "interrupted" after 35 minutes, and at its redelivery.
func TestAWaitingSyncWaits(t *testing.T) {
	e := newSyncEnv(t, envOptions{noReactor: true})
	id := e.addCustomer(t, "waiting", zuorasim.GenerateWorkflows(20, simBase))
	ctx := context.Background()
	syncID := e.start(t, id, false)
	e.waitReadModel(t, id)
	e.advance(36 * time.Minute)
	n, err := e.worker.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "a waiting sync is not interrupted")

	stored, _, err := e.store.Load(ctx, workflows.Stream, workflows.Subject(id))
	require.NoError(t, err)
	last := stored[len(stored)-1]
	require.Equal(t, workflows.SyncStartedV1, last.Envelope.Type)
	redelivered := reactor.Event{Stream: last.Stream, Subject: last.Subject, Seq: last.Seq, Attempt: 3, Envelope: last.Envelope}
	require.NoError(t, e.worker.Reactor().Handler(ctx, redelivered, nil))
	r := e.wait(t, syncID)
	require.Equal(t, "completed", r.Status, r.Reason)
	require.Equal(t, 20, r.Created)

	never := e.start(t, id, false)
	e.waitReadModel(t, id)
	e.advance(7 * time.Hour)
	n, err = e.worker.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	r = e.wait(t, never)
	require.Contains(t, r.Reason, workflowsync.ReasonNeverBegun+": no sync process began it within 6h0m0s")
}
