package orders

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/eventstore/partitions"
	"github.com/eventline/eventline/internal/testenv"
)

// routedProcess is one process's participants, taking part in the saga
// partitions with product routing wired as serve wires it.
type routedProcess struct {
	parts *Participants
	owner *partitions.Owner
}

func startRouted(t *testing.T, url, id string) *routedProcess {
	t.Helper()
	ctx := context.Background()
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: url, Name: id})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.EnsureStreams(ctx, Streams()))
	parts, err := NewParticipants(st, Registry(), nil)
	require.NoError(t, err)
	p := &routedProcess{parts: parts}
	ready := make(chan struct{})
	serve, stop := parts.RouteProducts(st.Conn(),
		func(key string) bool { <-ready; return p.owner.OwnsKey(key) }, func(key string) int { return p.owner.Of(key) }, t.Logf)
	p.owner, err = partitions.New(ctx, st.JetStream(), partitions.Config{Group: PartitionGroup, Count: 4, ProcessID: id,
		Tick: 100 * time.Millisecond, PinnedTTL: 600 * time.Millisecond,
		Gained: func(_ context.Context, parts []int) { serve(parts) }, Lost: stop})
	require.NoError(t, err)
	close(ready)
	runOwner(t, ctx, p.owner)
	return p
}

// runOwner runs owner until the test ends.
func runOwner(t *testing.T, ctx context.Context, owner *partitions.Owner) {
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = owner.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestTwoProcessesWriteAHotProductThroughItsOwner: reservations of one
// product come from two processes at once; every one goes to the process
// that owns the product's partition, which alone writes the product (the
// other never even loads it), so none of them conflicts with another
// writer and the stock adds up.
func TestTwoProcessesWriteAHotProductThroughItsOwner(t *testing.T) {
	srv := testenv.NATS(t)
	a, b := startRouted(t, srv.ClientURL(), "a"), startRouted(t, srv.ClientURL(), "b")
	require.Eventually(t, func() bool { return len(a.owner.Owned()) == 2 && len(b.owner.Owned()) == 2 },
		15*time.Second, 20*time.Millisecond, "the partitions spread")
	// A product whose partition b owns, so that a's calls go to b.
	var product string
	for i := 0; ; i++ {
		product = fmt.Sprintf("hot-%d", i)
		if b.owner.OwnsKey(product) {
			break
		}
	}
	ctx := context.Background()
	_, err := b.parts.Products.Handle(ctx, product, order.CreateProduct{ProductID: product, Name: "hot", PriceCents: 100,
		Stock: 1000, Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)

	const perProcess = 60
	var wg sync.WaitGroup
	errs := make(chan error, 2*perProcess)
	for _, p := range []*routedProcess{a, b} {
		for i := range perProcess {
			wg.Go(func() {
				key := fmt.Sprintf("%p-%d", p, i)
				o, err := p.parts.handleProduct(ctx, product, order.Reserve{Key: key, Quantity: 1, Now: time.Now()}, aggregate.Meta{})
				if err == nil && !o.OK() {
					err = fmt.Errorf("reserve %s refused: %s", key, o.Error)
				}
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, _, cached := a.parts.Products.Cached(product)
	require.False(t, cached, "the process that does not own the product never loaded it: its writes went to the owner")
	s, _, err := b.parts.Products.Load(ctx, product)
	require.NoError(t, err)
	require.Equal(t, int64(2*perProcess), s.Reserved, "every reservation held once")
}

// TestAProductCallWithNoOwnerRunsWhereItWasMade: while nobody serves the
// product's partition (a takeover under way), the caller writes the
// product itself rather than waiting.
func TestAProductCallWithNoOwnerRunsWhereItWasMade(t *testing.T) {
	srv := testenv.NATS(t)
	ctx := context.Background()
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: srv.ClientURL(), Name: "alone"})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.EnsureStreams(ctx, Streams()))
	parts, err := NewParticipants(st, Registry(), nil)
	require.NoError(t, err)
	parts.RouteProducts(st.Conn(), func(string) bool { return false }, func(string) int { return 3 }, t.Logf)
	_, err = parts.Products.Handle(ctx, "lonely", order.CreateProduct{ProductID: "lonely", Name: "x", PriceCents: 1, Stock: 5,
		Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	o, err := parts.handleProduct(ctx, "lonely", order.Reserve{Key: "k1", Quantity: 2, Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	require.True(t, o.OK(), o.Error)
	s, _, err := parts.Products.Load(ctx, "lonely")
	require.NoError(t, err)
	require.Equal(t, int64(2), s.Reserved)
}

// An order started without an Idempotency-Key gets an id of a partition
// its process owns: the saga is driven where it was started.
func TestNewSagaIDsAreOfOwnedPartitions(t *testing.T) {
	srv := testenv.NATS(t)
	a, b := startRouted(t, srv.ClientURL(), "a"), startRouted(t, srv.ClientURL(), "b")
	require.Eventually(t, func() bool { return len(a.owner.Owned()) == 2 && len(b.owner.Owned()) == 2 },
		15*time.Second, 20*time.Millisecond, "the partitions spread")
	st, err := eventstore.Connect(context.Background(), eventstore.Options{URL: srv.ClientURL(), Name: "ids"})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	m, err := NewManager(st, nil)
	require.NoError(t, err)
	t.Cleanup(m.Close)
	m.SetPartitions(a.owner, nil)
	for range 50 {
		id := m.NewSagaID()
		require.True(t, a.owner.OwnsKey(id), "id %s of partition %d, a owns %v", id, a.owner.Of(id), a.owner.Owned())
	}
	m.SetPartitions(nil, nil) // owning nothing: any id
	require.NotEmpty(t, m.NewSagaID())
}
