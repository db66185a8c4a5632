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
		return workflowsync.Slot{Trigger: workflows.TriggerInterval, Name: fmt.Sprintf("interval:%d", at.Unix())}
	}
	daily := workflowsync.Slot{Trigger: workflows.TriggerDaily, Name: "daily:2026-11-25"}
	cases := []struct {
		name string
		now  time.Time
		want []workflowsync.Slot
	}{
		{"before the daily time", hour(1, 59), []workflowsync.Slot{interval(hour(1, 0))}},
		{"at the daily time", hour(2, 0), []workflowsync.Slot{interval(hour(2, 0)), daily}},
		{"later that day", hour(23, 10), []workflowsync.Slot{interval(hour(23, 0)), daily}},
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
		c, err := workflowsync.NewCustomers(e.store, e.reg)
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

	// Finish the syncs; at 12:00 the next interval slot and the daily slot
	// are due: the interval one starts, the daily one waits for it.
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
	}
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
