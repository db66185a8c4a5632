package orders_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore/aggregate"
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
