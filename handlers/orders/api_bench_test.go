package orders_test

import (
	"bytes"
	"context"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/orders"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/platform/reactor"
)

// BenchmarkAPIOrderWait runs b.N order sagas end to end over HTTP, 200 in
// flight: POST /api/orders, then await the end. "wait" awaits with one GET
// /api/sagas/{id}?wait=30s (a subscription, no polling); "poll", the
// baseline of the same run, polls GET /api/sagas/{id} with the backoff the
// API used to poll with inside (1 ms doubling to 50 ms).
func BenchmarkAPIOrderWait(b *testing.B) {
	for _, mode := range []string{"wait", "poll"} {
		b.Run(mode, func(b *testing.B) {
			url := benchAPI(b)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			bodies := make([][]byte, benchProducts)
			for i := range bodies {
				bodies[i] = []byte(orderBody(fmt.Sprintf(`[{"product_id":"p%d","quantity":1}]`, i), "tok_ok"))
			}

			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			work := make(chan int)
			var wg sync.WaitGroup
			for range 200 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range work {
						start := time.Now()
						runOne(b, client, url, bodies[i%benchProducts], mode)
						mu.Lock()
						lat = append(lat, time.Since(start))
						mu.Unlock()
					}
				}()
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				work <- i
			}
			close(work)
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sagas/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// runOne posts an order and awaits its saga's end.
func runOne(b *testing.B, client *http.Client, url string, body []byte, mode string) {
	resp, err := client.Post(url+"/api/orders", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return
	}
	var o map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&o)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Errorf("POST /api/orders: %d", resp.StatusCode)
		return
	}
	path := url + "/api/sagas/" + o["saga_id"]
	if mode == "wait" {
		path += "?wait=30s"
	}
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		resp, err := client.Get(path)
		if err != nil {
			b.Error(err)
			return
		}
		var s map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		switch s["status"] {
		case "completed":
			return
		case "running", "compensating":
			if mode == "wait" {
				b.Errorf("a wait answered before the end: %v", s)
				return
			}
			time.Sleep(delay)
		default:
			b.Errorf("saga ended %v", s)
			return
		}
	}
}

// benchProducts spreads the benchmark's orders over products, as real
// orders are: one hot product serialises every reservation on its subject.
const benchProducts = 100

// benchAPI serves the orders API over a fresh JetStream server and
// database, with its reactors running, user u1 and products p0…p99
// (stock for any run), until the benchmark ends.
func benchAPI(b *testing.B) string {
	b.Helper()
	ctx := context.Background()
	st, _ := testenv.Store(b)
	require.NoError(b, st.EnsureStreams(ctx, orders.Streams()))
	pool := testenv.Pool(b, testenv.Postgres(b))
	r, err := orders.NewRunner(st)
	require.NoError(b, err)
	m := r.Manager()
	parts := r.Participants()
	_, err = parts.Users.Handle(ctx, "u1", order.CreateUser{UserID: "u1", Name: "u1", Email: "u1@example.com", Now: time.Now()}, aggregate.Meta{})
	require.NoError(b, err)
	for i := range benchProducts {
		id := fmt.Sprintf("p%d", i)
		_, err = parts.Products.Handle(ctx, id, order.CreateProduct{ProductID: id, Name: id, PriceCents: 1, Stock: 1 << 40, Now: time.Now()}, aggregate.Meta{})
		require.NoError(b, err)
	}
	rt, err := reactor.NewRuntime(st, pool, r.Reactors(fastPolicy), reactor.Config{})
	require.NoError(b, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	b.Cleanup(func() { cancel(); require.NoError(b, <-done) })
	s := httpapi.NewServer(httpapi.ServerConfig{})
	orders.NewAPI(m, parts, nil, policy, orders.ReadSide{Events: st, Pool: pool}).Mount(s)
	srv := httptest.NewServer(s)
	b.Cleanup(srv.Close)
	return srv.URL
}
