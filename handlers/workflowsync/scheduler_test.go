package workflowsync_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/workflowsync"
)

func TestSlots(t *testing.T) {
	s, err := workflowsync.NewScheduler(workflowsync.SchedulerConfig{Customers: &workflowsync.Customers{}, Pool: nil,
		Interval: time.Hour, DailyAt: "02:00", Location: time.UTC})
	require.ErrorIs(t, err, workflowsync.ErrBadConfig, "a pool is needed")
	require.Nil(t, s)

	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	hour := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	interval := func(at time.Time) workflowsync.Slot {
		return workflowsync.Slot{Trigger: workflows.TriggerInterval, Name: fmt.Sprintf("interval:%d", at.Unix()), Start: at}
	}
	daily := workflowsync.Slot{Trigger: workflows.TriggerDaily, Name: "daily:2026-11-25"}
	cases := []struct {
		name string
		now  time.Time
		want []workflowsync.Slot
	}{
		{"before the daily time", hour(1, 59), []workflowsync.Slot{interval(hour(1, 0))}},
		{"at the daily time", hour(2, 0), []workflowsync.Slot{daily, interval(hour(2, 0))}},
		{"later that day", hour(23, 10), []workflowsync.Slot{daily, interval(hour(23, 0))}},
	}
	sched := newTestScheduler(t, nil, nil, "02:00")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, sched.Slots(c.now))
		})
	}
}

// newTestScheduler returns a scheduler over e (a placeholder pool when nil)
// in UTC with an hourly interval.
func newTestScheduler(t *testing.T, e *syncEnv, customers *workflowsync.Customers, dailyAt string) *workflowsync.Scheduler {
	t.Helper()
	cfg := workflowsync.SchedulerConfig{Customers: &workflowsync.Customers{}, Interval: time.Hour, DailyAt: dailyAt, Location: time.UTC}
	if e != nil {
		cfg.Pool = e.pool
	} else {
		cfg.Pool = newPlaceholderPool(t)
	}
	if customers != nil {
		cfg.Customers = customers
	}
	s, err := workflowsync.NewScheduler(cfg)
	require.NoError(t, err)
	return s
}

func TestTwoSchedulersStartEachSlotOnce(t *testing.T) {
	e := newSyncEnv(t, envOptions{noReactor: true})
	var ids []string
	for i := range 5 {
		ids = append(ids, e.addCustomer(t, fmt.Sprintf("tenant-%d", i), nil))
	}
	for _, id := range ids {
		e.waitReadModel(t, id)
	}
	// Two processes: each its own command loop (own cache) and scheduler.
	var scheds []*workflowsync.Scheduler
	for range 2 {
		c, err := workflowsync.NewCustomers(e.store, e.reg, eventstore.NewSnapshots(e.store))
		require.NoError(t, err)
		scheds = append(scheds, newTestScheduler(t, e, c, "12:00"))
	}
	now := time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)
	ctx := context.Background()
	started := make([]int, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, s := range scheds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started[i], errs[i] = s.Tick(ctx, now)
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, 5, started[0]+started[1], "one sync per customer, whoever started it")
	for _, id := range ids {
		require.Equal(t, 1, countEvents(t, e, id, workflows.SyncStartedV1))
		state, _, err := e.customers.Load(ctx, id)
		require.NoError(t, err)
		slot := fmt.Sprintf("interval:%d", now.Truncate(time.Hour).Unix())
		require.Equal(t, workflowsync.ScheduledSyncID(id, slot), state.Running.SyncID)
		require.Equal(t, slot, state.Slots[workflows.TriggerInterval])
	}
	for _, s := range scheds {
		n, err := s.Tick(ctx, now.Add(10*time.Minute))
		require.NoError(t, err)
		require.Zero(t, n, "same slot: nothing more")
	}

	// Finish the syncs; at 12:00 the daily slot and the next interval slot
	// are due: the daily one starts, the interval one waits for it (and is
	// filled by it once it completes).
	for _, id := range ids {
		state, _, err := e.customers.Load(ctx, id)
		require.NoError(t, err)
		_, err = e.worker.RunSync(ctx, id, state.Running.SyncID)
		require.NoError(t, err)
	}
	n, err := scheds[1].Tick(ctx, now.Add(90*time.Minute))
	require.NoError(t, err)
	require.Equal(t, 5, n)
	for _, id := range ids {
		require.Equal(t, 2, countEvents(t, e, id, workflows.SyncStartedV1))
		state, _, err := e.customers.Load(ctx, id)
		require.NoError(t, err)
		require.Equal(t, workflows.TriggerDaily, state.Running.Trigger)
		_, err = e.worker.RunSync(ctx, id, state.Running.SyncID)
		require.NoError(t, err)
	}
	n, err = scheds[0].Tick(ctx, now.Add(95*time.Minute))
	require.NoError(t, err)
	require.Zero(t, n, "the daily sync filled the 12:00 interval slot")
}

// A sync that started in a slot's period and completed fills the slot:
// no scheduled sync right after a customer's first sync, or after one on
// demand; one that started before the period does not.
func TestCompletedSyncFillsTheSlotItStartedIn(t *testing.T) {
	e := newSyncEnv(t, envOptions{noReactor: true})
	ctx := context.Background()
	early, late := e.addCustomer(t, "tenant-early", nil), e.addCustomer(t, "tenant-late", nil)
	e.waitReadModel(t, early)
	e.waitReadModel(t, late)
	at := func(h, m int) time.Time { return time.Date(2026, 11, 25, h, m, 0, 0, time.UTC) }
	for id, startedAt := range map[string]time.Time{early: at(9, 59), late: at(10, 5)} {
		syncID := fmt.Sprintf("manual-%d", startedAt.Minute())
		_, err := e.customers.Handle(ctx, id, workflows.Start{SyncID: syncID, Trigger: workflows.TriggerManual, Now: startedAt}, aggregate.Meta{})
		require.NoError(t, err)
		out, err := e.worker.RunSync(ctx, id, syncID)
		require.NoError(t, err)
		require.True(t, out.Ran && out.Completed, "%+v", out)
	}
	sched := newTestScheduler(t, e, e.customers, "-")
	n, err := sched.Tick(ctx, at(10, 30))
	require.NoError(t, err)
	require.Equal(t, 1, n, "only the customer whose sync started before 10:00 gets the 10:00 slot")
	require.Equal(t, 2, countEvents(t, e, early, workflows.SyncStartedV1))
	require.Equal(t, 1, countEvents(t, e, late, workflows.SyncStartedV1), "the 10:05 sync filled the 10:00 slot")

	state, _, err := e.customers.Load(ctx, early)
	require.NoError(t, err)
	_, err = e.worker.RunSync(ctx, early, state.Running.SyncID)
	require.NoError(t, err)
	n, err = sched.Tick(ctx, at(11, 0))
	require.NoError(t, err)
	require.Equal(t, 2, n, "the 11:00 slot is due for both")
}

func TestSchedulerRunTicksOnItsClock(t *testing.T) {
	e := newSyncEnv(t, envOptions{noReactor: true})
	id := e.addCustomer(t, "tenant-a", nil)
	e.waitReadModel(t, id)
	var mu sync.Mutex
	now := time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)
	ticks := make(chan time.Time)
	s, err := workflowsync.NewScheduler(workflowsync.SchedulerConfig{Customers: e.customers, Pool: e.pool, Interval: time.Hour,
		DailyAt: "-", Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		After: func(time.Duration) <-chan time.Time { return ticks }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	ticks <- now // the first tick has run once Run waits again
	require.Equal(t, 1, countEvents(t, e, id, workflows.SyncStartedV1))
	cancel()
	require.NoError(t, <-done)
}

// countEvents counts customer id's events of type eventType.
func countEvents(t *testing.T, e *syncEnv, id, eventType string) int {
	t.Helper()
	stored, _, err := e.store.Load(context.Background(), workflows.Stream, workflows.Subject(id))
	require.NoError(t, err)
	n := 0
	for _, s := range stored {
		if s.Envelope.Type == eventType {
			n++
		}
	}
	return n
}

// newPlaceholderPool is a pool that never connects, for pure tests.
func newPlaceholderPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}
