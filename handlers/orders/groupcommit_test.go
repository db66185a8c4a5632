package orders_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/orders"
	"github.com/eventline/eventline/internal/testenv"
)

// groupEnv is newEnv on a store with group commit that sends any group of
// two or more appends as an atomic batch, one group in flight per stream:
// the batch path of issue 27, as hard as it gets.
func groupEnv(t *testing.T) *env {
	t.Helper()
	srv := testenv.NATS(t)
	st, err := eventstore.Connect(context.Background(), eventstore.Options{URL: srv.ClientURL(),
		Credentials: srv.Credentials(), Name: t.Name(), InProcess: srv.InProcess(),
		GroupCommit: eventstore.GroupCommit{Enabled: true, MaxInFlight: 1, MinBatch: 2}})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.EnsureStreams(context.Background(), testenv.Streams))
	return newEnvOn(t, st)
}

// The order saga over group commit: sixty orders at once for forty units,
// with declined, flaky and bounced ones among them, end as they do with
// plain appends; the stock adds up and nobody is charged twice; the
// sagas' and participants' appends went in shared batches.
func TestSagasOverGroupCommit(t *testing.T) {
	e := groupEnv(t)
	e.run(t)
	tokens := []string{order.TokenOK, order.TokenOK, order.TokenDeclined, order.TokenFlaky}
	var wg sync.WaitGroup
	errs := make([]error, 60)
	for i := range 60 {
		wg.Go(func() {
			user := "u1"
			if i%10 == 9 {
				user = "bounce"
			}
			_, errs[i] = e.manager.Start(context.Background(), fmt.Sprint("s", i), saga.OrderSaga(policy),
				input(fmt.Sprint("o", i), user, tokens[i%len(tokens)], 1), "")
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	count := map[saga.Status]int{}
	for i := range 60 {
		s := e.finish(t, fmt.Sprint("s", i))
		count[s.Status]++
	}
	e.drained(t)
	t.Logf("outcomes: %v", count)
	require.Equal(t, 60, count[saga.StatusCompleted]+count[saga.StatusCompensated]+count[saga.StatusNeedsAttention])
	p := load(t, e.parts.Products, "p1")
	require.Zero(t, p.Reserved, "every reservation sold or released")
	require.Equal(t, int64(count[saga.StatusCompleted]+count[saga.StatusNeedsAttention]), p.Sold,
		"a unit sold for each order paid")
	for i := range 60 {
		require.LessOrEqual(t, load(t, e.parts.Payments, fmt.Sprint("o", i)).Charges, 1)
	}
	for _, stream := range []string{saga.Stream, order.Stream} {
		gs := e.store.GroupStats(stream)
		require.NotNil(t, gs, stream)
		t.Logf("%s: %d appends, %d batches holding %d, %d alone, %d rejected, %d conflicts", stream, gs.Appends.Load(),
			gs.Batches.Load(), gs.BatchedAppends.Load(), gs.Singles.Load(), gs.Rejected.Load(), gs.Conflicts.Load())
		require.Positive(t, gs.Batches.Load(), "%s: appends shared batches", stream)
	}
}

// Two processes' command loops (caches of their own) reserve one hot
// product at once over group commit, while other products' appends fill
// the same groups: a stale append of one process rides in a batch with
// others, the batch is refused, the stale append alone gets the conflict
// and is decided again, the others are stored; every reservation is held
// exactly once.
func TestConflictingWritersOverGroupCommit(t *testing.T) {
	e := groupEnv(t)
	ctx := context.Background()
	other, err := orders.NewParticipants(e.store, orders.Registry(), nil)
	require.NoError(t, err)
	const products = 30
	for i := range products + 1 {
		id := fmt.Sprint("q", i)
		_, err := e.parts.Products.Handle(ctx, id, order.CreateProduct{ProductID: id, Name: id, PriceCents: 1,
			Stock: 1 << 30, Now: time.Now()}, aggregate.Meta{})
		require.NoError(t, err)
	}
	gs := e.store.GroupStats(order.Stream)
	reserve := func(h *aggregate.Handler[order.Product, any], product, key string) {
		res, err := h.Handle(ctx, product, order.Reserve{Key: key, Quantity: 1, Now: time.Now(), IssuedAt: time.Now()},
			aggregate.Meta{})
		require.NoError(t, err)
		require.True(t, res.State.Answer(order.Reserve{Key: key}).OK(), key)
	}
	held := 0
	for round := 0; round < 20 && gs.Conflicts.Load() == 0; round++ {
		var wg sync.WaitGroup
		for i := range 40 {
			h := e.parts.Products
			if i%2 == 1 {
				h = other.Products
			}
			wg.Go(func() { reserve(h, "q0", fmt.Sprintf("r%d-%d", round, i)) })
			wg.Go(func() { reserve(e.parts.Products, fmt.Sprint("q", 1+i%products), fmt.Sprintf("o%d-%d", round, i)) })
		}
		wg.Wait()
		held += 40
	}
	t.Logf("%d appends, %d batches holding %d, %d alone, %d rejected, %d conflicts", gs.Appends.Load(),
		gs.Batches.Load(), gs.BatchedAppends.Load(), gs.Singles.Load(), gs.Rejected.Load(), gs.Conflicts.Load())
	require.Positive(t, gs.Conflicts.Load(), "no stale append met a batch in 20 rounds")
	fresh, err := orders.NewParticipants(e.store, orders.Registry(), nil)
	require.NoError(t, err)
	require.Equal(t, int64(held), load(t, fresh.Products, "q0").Reserved, "each reservation held once")
}
