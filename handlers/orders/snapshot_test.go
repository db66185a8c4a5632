package orders_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/orders"
)

// A product's history grows with every order; a process that has not
// cached it (a restart) loads it from its stored snapshot and the events
// after, and goes on taking orders on it.
func TestRestartedProcessTakesOrdersOnAProductFromItsSnapshot(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const cycles = 600 // 1,200 events: past aggregate.DefaultSnapshotEvery
	now := time.Now()
	for i := range cycles {
		key := fmt.Sprintf("cycle%d:reserve_inventory", i)
		_, err := e.parts.Products.Handle(ctx, "p1", order.Reserve{Key: key, Quantity: 2, Now: now}, aggregate.Meta{})
		require.NoError(t, err)
		_, err = e.parts.Products.Handle(ctx, "p1", order.Release{Key: key, Now: now}, aggregate.Meta{})
		require.NoError(t, err)
	}
	snaps := eventstore.NewSnapshots(e.store)
	var snapSeq uint64
	require.Eventually(t, func() bool {
		err := snaps.Get(ctx, order.Stream, order.ProductSubject("p1"), func(info eventstore.SnapshotInfo, _ io.Reader) error {
			snapSeq = info.Seq
			return nil
		})
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the product's snapshot is stored")
	require.Greater(t, snapSeq, uint64(aggregate.DefaultSnapshotEvery))

	// A new process: nothing cached.
	r, err := orders.NewRunner(e.store)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	parts := r.Participants()
	before := load(t, e.parts.Products, "p1")
	after := load(t, parts.Products, "p1")
	require.Equal(t, before.Remembered(), after.Remembered())
	require.Equal(t, before.Free(), after.Free())
	require.Equal(t, int64(40), after.Free())
	_, ok := after.Reservation("cycle7:reserve_inventory")
	require.True(t, ok, "a key released an instant ago is remembered")

	m := r.Manager()
	_, err = m.Start(ctx, "after-restart", saga.OrderSaga(policy), input("after-restart", "u1", order.TokenOK, 3), "")
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := m.Await(wctx, "after-restart")
	require.NoError(t, err)
	require.Equal(t, saga.StatusCompleted, s.Status)
	p := load(t, parts.Products, "p1")
	require.Equal(t, int64(37), p.Stock)
	require.Equal(t, int64(3), p.Sold)
	require.Zero(t, p.Reserved)
}
