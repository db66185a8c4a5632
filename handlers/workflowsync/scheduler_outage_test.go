package workflowsync_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/handlers/workflowsync"
)

// Appends of a flakyStore while it is failing.
const (
	healthy     int32 = iota
	refuse            // nothing is stored, the append fails
	loseTheAcks       // the event is stored, the append fails (outcome unknown)
)

// flakyStore is the event store with appends that fail on demand, as
// during a leader election: refused, or stored with the acknowledgement
// lost. Loads always reach the store.
type flakyStore struct {
	*eventstore.Store
	mode atomic.Int32
}

func (f *flakyStore) AppendBatch(ctx context.Context, subject string, expected int64, envs []eventstore.Envelope,
	opts ...eventstore.AppendOption) ([]eventstore.Ack, error) {
	switch f.mode.Load() {
	case refuse:
		return nil, fmt.Errorf("append to %s: %w: no leader", subject, eventstore.ErrUnavailable)
	case loseTheAcks:
		if _, err := f.Store.AppendBatch(ctx, subject, expected, envs, opts...); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("append to %s: %w: %w", subject, eventstore.ErrUnavailable, context.DeadlineExceeded)
	}
	return f.Store.AppendBatch(ctx, subject, expected, envs, opts...)
}

// startedSlots returns the slots of customer id's scheduled syncs, one
// entry per sync.started event.
func startedSlots(t *testing.T, e *syncEnv, id string) []string {
	t.Helper()
	stored, _, err := e.store.Load(context.Background(), workflows.Stream, workflows.Subject(id))
	require.NoError(t, err)
	var out []string
	for _, s := range stored {
		if s.Envelope.Type != workflows.SyncStartedV1 {
			continue
		}
		data, err := e.reg.Decode(s.Envelope)
		require.NoError(t, err)
		if started := data.(*workflows.SyncStarted); started.Slot != "" {
			out = append(out, started.Slot)
		}
	}
	return out
}

// intervalSlot is the name of the interval slot at is in (hourly unless every is given).
func intervalSlot(at time.Time, every ...time.Duration) string {
	d := time.Hour
	if len(every) > 0 {
		d = every[0]
	}
	return fmt.Sprintf("interval:%d", at.Truncate(d).Unix())
}

// finishRunning runs customer id's running sync to its end.
func finishRunning(t *testing.T, e *syncEnv, id string) {
	t.Helper()
	state, _, err := e.customers.Load(context.Background(), id)
	require.NoError(t, err)
	require.NotNil(t, state.Running)
	out, err := e.worker.RunSync(context.Background(), id, state.Running.SyncID)
	require.NoError(t, err)
	require.True(t, out.Completed, "%+v", out)
}

// A scheduler whose appends fail while a slot is due starts the slot once
// they work again, even after the slot's period has ended; one whose
// appends were stored but not acknowledged finds the slot started in the
// customer's events and starts it no more.
func TestSchedulerStartsASlotOnceWhenAppendsFail(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 11, 25, h, m, 0, 0, time.UTC) }
	cases := []struct {
		name string
		mode int32
		// failing are the ticks that meet failing appends; recovered is
		// the first tick after.
		failing   []time.Time
		recovered time.Time
	}{
		{"refused, within the slot", refuse, []time.Time{at(10, 30), at(10, 31)}, at(10, 32)},
		{"refused until the next slot", refuse, []time.Time{at(10, 59), at(11, 5)}, at(11, 6)},
		{"stored, acknowledgement lost", loseTheAcks, []time.Time{at(10, 30), at(10, 31)}, at(10, 32)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newSyncEnv(t, envOptions{noReactor: true})
			ctx := context.Background()
			id := e.addCustomer(t, "tenant-a", nil)
			e.waitReadModel(t, id)
			flaky := &flakyStore{Store: e.store}
			customers, err := workflowsync.NewCustomers(flaky, e.reg, nil)
			require.NoError(t, err)
			sched := newTestScheduler(t, e, customers, "-")
			slot := intervalSlot(c.failing[0])

			flaky.mode.Store(c.mode)
			for _, now := range c.failing {
				n, err := sched.Tick(ctx, now)
				require.Zero(t, n)
				if c.mode == refuse {
					require.ErrorIs(t, err, eventstore.ErrUnavailable)
					require.Empty(t, startedSlots(t, e, id))
				} else {
					require.NoError(t, err, "the customer's events show the slot started")
					require.Equal(t, []string{slot}, startedSlots(t, e, id))
				}
			}

			flaky.mode.Store(healthy)
			n, err := sched.Tick(ctx, c.recovered)
			require.NoError(t, err)
			require.Equal(t, c.mode == refuse, n == 1, "started %d", n)
			require.Equal(t, []string{slot}, startedSlots(t, e, id), "the slot due during the failures, once")
			state, _, err := e.customers.Load(ctx, id)
			require.NoError(t, err)
			require.Equal(t, workflowsync.ScheduledSyncID(id, slot), state.Running.SyncID)

			// Neither this scheduler nor another starts it again; a sync of
			// the slot that started late and completed fills the slot it
			// started in.
			other := newTestScheduler(t, e, e.customers, "-")
			for _, s := range []*workflowsync.Scheduler{sched, other} {
				n, err := s.Tick(ctx, c.recovered.Add(time.Minute))
				require.NoError(t, err)
				require.Zero(t, n)
			}
			finishRunning(t, e, id)
			for _, s := range []*workflowsync.Scheduler{sched, other} {
				n, err := s.Tick(ctx, c.recovered.Add(2*time.Minute))
				require.NoError(t, err)
				require.Zero(t, n)
			}
			require.Equal(t, []string{slot}, startedSlots(t, e, id))
		})
	}
}

// Several schedulers, each with its own command loop, tick at the same
// moments over several slots while one of them has its acknowledgements
// lost: each slot of each customer starts once.
func TestSchedulersStartEachSlotOnceWhileOneLosesAcks(t *testing.T) {
	e := newSyncEnv(t, envOptions{noReactor: true})
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		ids = append(ids, e.addCustomer(t, fmt.Sprintf("tenant-%d", i), nil))
	}
	for _, id := range ids {
		e.waitReadModel(t, id)
	}
	flaky := &flakyStore{Store: e.store}
	flaky.mode.Store(loseTheAcks)
	var scheds []*workflowsync.Scheduler
	for i := range 3 {
		var store aggregate.Store = e.store
		if i == 0 {
			store = flaky
		}
		c, err := workflowsync.NewCustomers(store, e.reg, eventstore.NewSnapshots(e.store))
		require.NoError(t, err)
		scheds = append(scheds, newTestScheduler(t, e, c, "-"))
	}
	at := func(h, m int) time.Time { return time.Date(2026, 11, 25, h, m, 0, 0, time.UTC) }
	ticks := [][]time.Time{{at(10, 30), at(10, 31)}, {at(11, 0), at(11, 1)}, {at(12, 0), at(12, 5)}}
	var want []string
	for _, slotTicks := range ticks {
		want = append(want, intervalSlot(slotTicks[0]))
		for _, now := range slotTicks {
			var wg sync.WaitGroup
			errs := make([]error, len(scheds))
			for i, s := range scheds {
				wg.Go(func() { _, errs[i] = s.Tick(ctx, now) })
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
		}
		for _, id := range ids {
			require.Equal(t, want, startedSlots(t, e, id))
			finishRunning(t, e, id)
		}
	}
}

// restartableNATS is an in-process JetStream server that a test stops and
// starts again on the same port and store.
type restartableNATS struct {
	dir  string
	mu   sync.Mutex
	srv  *natsserver.Server
	addr string
}

func newRestartableNATS(t *testing.T) *restartableNATS {
	t.Helper()
	r := &restartableNATS{dir: t.TempDir()}
	srv, err := natsserver.Start(natsserver.Config{StoreDir: r.dir, Listen: "127.0.0.1:0"})
	require.NoError(t, err)
	r.srv, r.addr = srv, srv.Addr()
	t.Cleanup(r.stop)
	return r
}

func (r *restartableNATS) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil {
		r.srv.Shutdown()
		r.srv = nil
	}
}

func (r *restartableNATS) start(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	srv, err := natsserver.Start(natsserver.Config{StoreDir: r.dir, Listen: r.addr})
	require.NoError(t, err)
	r.srv = srv
}

// A scheduler whose tick fails because JetStream is down (its server
// stopped) tries again within seconds, not at the next check: with a
// one-minute interval, the slot during which the server was down and came
// back starts, once.
func TestSchedulerRetriesWithinTheSlotWhenJetStreamIsDown(t *testing.T) {
	nats := newRestartableNATS(t)
	e := newSyncEnv(t, envOptions{noReactor: true, natsURL: nats.srv.ClientURL()})
	ctx, cancel := context.WithCancel(context.Background())
	id := e.addCustomer(t, "tenant-a", nil)
	e.waitReadModel(t, id)

	var mu sync.Mutex
	now := time.Date(2026, 11, 25, 10, 5, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	waits := make(chan time.Duration)
	fire := make(chan time.Time)
	sched, err := workflowsync.NewScheduler(workflowsync.SchedulerConfig{Customers: e.customers, Pool: e.pool,
		Interval: time.Minute, DailyAt: "-", Location: time.UTC, Now: clock,
		After: func(d time.Duration) <-chan time.Time {
			select {
			case waits <- d:
			case <-ctx.Done():
			}
			return fire
		}})
	require.NoError(t, err)

	nats.stop()
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	wait := <-waits // the first tick failed
	require.Less(t, wait, time.Minute-time.Second, "a failed tick is tried again within the slot")

	nats.start(t)
	deadline := time.Now().Add(20 * time.Second)
	for e.store.Ping(ctx) != nil {
		require.True(t, time.Now().Before(deadline), "JetStream did not come back")
		time.Sleep(10 * time.Millisecond)
	}
	slot := intervalSlot(clock(), time.Minute)
	for {
		mu.Lock()
		now = now.Add(wait)
		mu.Unlock()
		fire <- clock()
		wait = <-waits // the tick has run
		if got := startedSlots(t, e, id); len(got) > 0 {
			require.Equal(t, []string{slot}, got, "the slot due while JetStream was down, once")
			break
		}
		require.Equal(t, slot, intervalSlot(clock(), time.Minute), "still in the slot")
		require.True(t, time.Now().Before(deadline), "no sync started")
	}
	next := clock().Truncate(time.Minute).Add(time.Minute)
	require.Equal(t, next.Sub(clock()), wait, "back to the regular checks")
}
