package orders_test

import (
	"context"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/orders"
)

// BenchmarkOrderSagas runs happy order sagas end to end through the
// process manager (no HTTP), 200 in flight, each awaited as the API's
// ?wait= does: subscribed to the saga's subject, loaded on each event.
func BenchmarkOrderSagas(b *testing.B) {
	e := newEnvB(b)
	ctx := context.Background()
	def := saga.OrderSaga(saga.DefaultPolicy())
	var seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	run := func() {
		n := seq.Add(1)
		id := fmt.Sprint("b", n)
		in, _ := json.Marshal(order.OrderInput{OrderID: id, UserID: "u1",
			Items: []order.Item{{ProductID: fmt.Sprint("big", n%engineProducts), Quantity: 1}}, Payment: order.Payment{Token: order.TokenOK}})
		begin := time.Now()
		if _, err := e.manager.Start(ctx, id, def, in, ""); err != nil {
			b.Error(err)
			return
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := e.manager.Await(wctx, id)
		cancel()
		if err != nil || s.Status != saga.StatusCompleted {
			b.Errorf("saga %s: %s %v", id, s.Status, err)
			return
		}
		d := time.Since(begin)
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
	}
	b.ResetTimer()
	b.SetParallelism(100) // x GOMAXPROCS(2) = 200 in flight
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			run()
		}
	})
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// engineProducts is how many products the benchmark's orders spread over.
const engineProducts = 100

// newEnvB is newEnv for a benchmark, with products big0..big99 in ample
// stock.
func newEnvB(b *testing.B) *env {
	e := newEnv(b)
	for i := range engineProducts {
		id := fmt.Sprint("big", i)
		_, err := e.parts.Products.Handle(context.Background(), id, order.CreateProduct{ProductID: id, Name: id,
			PriceCents: 100, Stock: 1 << 40, Now: time.Now()}, aggregate.Meta{})
		require.NoError(b, err)
	}
	return e
}

// BenchmarkColdProductLoad loads a product with a long history (a hot
// product: 10,250 orders in a day, 20,501 events, the last 500 after its
// latest snapshot) in a process that has
// not cached it, as after a restart: "snapshot" from its latest stored
// snapshot and the events after it, "events" by folding every event (no
// snapshots), and "raw" the baseline of the same run, reading and
// decoding every event of the subject without folding them.
func BenchmarkColdProductLoad(b *testing.B) {
	e := newEnvB(b)
	ctx := context.Background()
	const hotOrders, tailOrders = 10_000, 250
	reg := orders.Registry()
	snaps := eventstore.NewSnapshots(e.store)
	// Participants with snapshots, as serve runs them, build the history.
	parts, err := orders.NewParticipants(e.store, reg, snaps)
	require.NoError(b, err)
	day := time.Now().Add(-time.Hour)
	for i := range hotOrders {
		key := fmt.Sprintf("hot%d:reserve_inventory", i)
		at := day.Add(time.Duration(i) * 300 * time.Millisecond)
		_, err := parts.Products.Handle(ctx, "big0", order.Reserve{Key: key, Quantity: 1, Now: at}, aggregate.Meta{})
		require.NoError(b, err)
		_, err = parts.Products.Handle(ctx, "big0", order.Commit{Key: key, Now: at}, aggregate.Meta{})
		require.NoError(b, err)
	}
	var snapSeq uint64
	require.Eventually(b, func() bool { // the last snapshot stored is stable
		var seqs [2]uint64
		for i := range seqs {
			_ = snaps.Get(ctx, order.Stream, order.ProductSubject("big0"), func(info eventstore.SnapshotInfo, _ io.Reader) error {
				seqs[i] = info.Seq
				return nil
			})
			time.Sleep(100 * time.Millisecond)
		}
		snapSeq = seqs[1]
		return seqs[0] == seqs[1] && seqs[1] > 0
	}, time.Minute, 10*time.Millisecond)
	// Orders after the last snapshot, which a cold load folds on top of it
	// (taken by a process without snapshots, so that none is stored).
	plain, err := orders.NewParticipants(e.store, reg, nil)
	require.NoError(b, err)
	for i := range tailOrders {
		key := fmt.Sprintf("tail%d:reserve_inventory", i)
		at := time.Now()
		_, err := plain.Products.Handle(ctx, "big0", order.Reserve{Key: key, Quantity: 1, Now: at}, aggregate.Meta{})
		require.NoError(b, err)
		_, err = plain.Products.Handle(ctx, "big0", order.Commit{Key: key, Now: at}, aggregate.Meta{})
		require.NoError(b, err)
	}
	tail, _, err := e.store.LoadAfter(ctx, order.Stream, order.ProductSubject("big0"), snapSeq)
	require.NoError(b, err)
	want := load(b, plain.Products, "big0")
	for _, mode := range []string{"snapshot", "events", "raw"} {
		b.Run(mode, func(b *testing.B) {
			events := 0
			for b.Loop() {
				switch mode {
				case "raw":
					events = 0
					_, err := e.store.LoadEach(ctx, order.Stream, order.ProductSubject("big0"), 0, func(ev eventstore.Stored) error {
						_, err := reg.Decode(ev.Envelope)
						events++
						return err
					})
					require.NoError(b, err)
				default:
					var s aggregate.SnapshotStore
					if mode == "snapshot" {
						s = snaps
					}
					cold, err := orders.NewParticipants(e.store, reg, s)
					require.NoError(b, err)
					p := load(b, cold.Products, "big0")
					require.Equal(b, want.Sold, p.Sold)
					require.Equal(b, want.Remembered(), p.Remembered())
				}
			}
			switch mode {
			case "snapshot":
				events = len(tail)
			case "events":
				events = 2*(hotOrders+tailOrders) + 1
			}
			b.ReportMetric(float64(events), "events-folded")
		})
	}
}
