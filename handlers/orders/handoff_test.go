package orders

import (
	"context"
	"testing"
	"time"

	json "github.com/go-json-experiment/json/v1"
	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/eventstore/partitions"
	"github.com/eventline/eventline/internal/testenv"
)

// sagaProcess is one saga process: its manager, driving sagas, and its
// owner of the saga partitions (running or not).
type sagaProcess struct {
	m     *Manager
	owner *partitions.Owner
}

// startSagaProcess connects a process named id to the server at url and
// has it take part in 4 saga partitions, wired as serve wires it (notes
// drive sagas, a takeover resumes them), when run; else it owns nothing.
func startSagaProcess(t *testing.T, url, id string, run bool) *sagaProcess {
	t.Helper()
	ctx := context.Background()
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: url, Name: id})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.EnsureStreams(ctx, Streams()))
	r, err := NewRunner(st)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	p := &sagaProcess{m: r.Manager()}
	p.owner, err = partitions.New(ctx, st.JetStream(), partitions.Config{Group: PartitionGroup, Count: 4, ProcessID: id,
		Tick: 100 * time.Millisecond, PinnedTTL: 600 * time.Millisecond,
		Gained: func(ctx context.Context, parts []int) { p.m.ResumePartitions(ctx, nil, parts) }, Note: p.m.Noted})
	require.NoError(t, err)
	p.m.SetPartitions(p.owner, nil)
	if run {
		runOwner(t, ctx, p.owner)
	}
	return p
}

// A driver whose process gave the saga's partition up between the
// decision it carries out and its first step (or any later one) stops
// there; the process that took the partition over may have resumed it
// before the decision was recorded, so the driver notes the saga to it,
// which drives it on from the log. Before, nobody did until the sweep.
func TestADriverThatLostItsPartitionHandsTheSagaToTheNewOwner(t *testing.T) {
	srv := testenv.NATS(t)
	b := startSagaProcess(t, srv.ClientURL(), "b", true)
	require.Eventually(t, func() bool { return len(b.owner.Owned()) == 4 }, 15*time.Second, 20*time.Millisecond,
		"b, alone, owns every partition (and resumed them, with no saga yet)")
	a := startSagaProcess(t, srv.ClientURL(), "a", false)

	// a recorded the saga's start as the owner of its partition, which has
	// moved to b by the time a's driver takes the first step.
	eff := startUndriven(t, a.m, "s1")
	require.Len(t, eff.cmds, 1)
	a.m.slots <- struct{}{} // as carry does
	a.m.drive(eff)
	waitEnded(t, b.m, "s1", 10*time.Second)
}

// startUndriven records the start of order saga id (user u1 orders one
// p1, both created here) through m and carries nothing out: the saga as a
// process that stopped right after recording it leaves it.
func startUndriven(t *testing.T, m *Manager, id string) effects {
	t.Helper()
	ctx := context.Background()
	_, err := m.parts.Users.Handle(ctx, "u1", order.CreateUser{UserID: "u1", Name: "u1", Email: "u1@example.com", Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	_, err = m.parts.Products.Handle(ctx, "p1", order.CreateProduct{ProductID: "p1", Name: "p1", PriceCents: 100, Stock: 5, Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	in, err := json.Marshal(order.OrderInput{OrderID: id, UserID: "u1", Items: []order.Item{{ProductID: "p1", Quantity: 1}},
		Payment: order.Payment{Token: order.TokenOK}})
	require.NoError(t, err)
	_, eff, err := m.record(ctx, id, saga.Start{SagaID: id, Definition: saga.OrderSaga(saga.DefaultPolicy()), Input: in, Now: time.Now()},
		aggregate.Meta{CorrelationID: id})
	require.NoError(t, err)
	return eff
}

// waitEnded waits until saga id, read through m, has completed.
func waitEnded(t *testing.T, m *Manager, id string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, _, err := m.sagas.Load(context.Background(), id)
		if err == nil && s.Status.Terminal() {
			require.Equal(t, saga.StatusCompleted, s.Status, s.Reason)
			return
		}
		require.True(t, time.Now().Before(deadline), "saga %s still %s at step %d (%v): nobody drives it", id, s.Status, s.Current, err)
		time.Sleep(20 * time.Millisecond)
	}
}

// A note that comes while a driver here holds the saga is acted upon when
// that driver stops: it may stop without going on (its next reply stale,
// because the process that noted the saga had recorded it further before
// giving its partition up). Before, the note was dropped, and nobody drove
// the saga until the sweep.
func TestANoteWhileDrivenIsActedUponWhenTheDriverStops(t *testing.T) {
	srv := testenv.NATS(t)
	b := startSagaProcess(t, srv.ClientURL(), "b", true)
	require.Eventually(t, func() bool { return len(b.owner.Owned()) == 4 }, 15*time.Second, 20*time.Millisecond)
	startUndriven(t, b.m, "s1") // as another process left it

	done := b.m.driving("s1") // a driver here holds it when the note comes
	b.m.Noted(0, "s1", nil)
	require.Eventually(t, func() bool {
		b.m.local.mu.Lock()
		defer b.m.local.mu.Unlock()
		return b.m.local.renote["s1"]
	}, 5*time.Second, 5*time.Millisecond, "the nudge leaves the note to the driver")
	done() // the driver stops, its last reply stale
	waitEnded(t, b.m, "s1", 10*time.Second)
}
