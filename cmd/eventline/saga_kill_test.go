package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
)

// killOrder is one order of the kill -9 test.
type killOrder struct {
	token    string
	product  int
	quantity int64
	id       string
}

// kill -9 of `eventline serve` (embedded NATS, its store in the data dir)
// while dozens of order sagas run, then a restart on the same data dir:
// every saga ends, no participant's effect happened twice, and stock and
// payments balance.
func TestOrderSagaSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	env := map[string]string{
		"NATS_URL": "", "NATS_CREDS": "", "EVENTLINE_NATS_LISTEN": freePort(t), "EVENTLINE_DATA_DIR": t.TempDir(),
		"DATABASE_URL": testenv.Postgres(t), "EVENTLINE_HTTP_ADDR": "127.0.0.1:0", "EVENTLINE_PROJECTION_WAIT": "10ms",
	}
	for k, v := range shortSagaPolicy {
		env[k] = v
	}
	p := startProc(t, env)
	api := newSagaClient(p.URL)
	user := api.user(t, "Frank", "frank@example.com")
	const initialStock = 30
	products := make([]string, 4)
	for i := range products {
		products[i] = api.product(t, fmt.Sprintf("kill widget %d", i), initialStock)
	}
	tokens := []string{"tok_ok", "tok_flaky", "tok_slow", "tok_declined"}
	// 48 orders, 12 per product of at most 2 units: never short of stock,
	// so each token decides its saga's end.
	orders := make([]killOrder, 48)
	for i := range orders {
		orders[i] = killOrder{token: tokens[i%len(tokens)], product: (i / len(tokens)) % len(products), quantity: int64(1 + i%2)}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(orders))
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				o := orders[i]
				status, got, raw, err := api.postOrder(orderBody(user, o.token, orderItem{products[o.product], o.quantity}), "")
				if err == nil && status != http.StatusAccepted {
					err = fmt.Errorf("POST /api/orders: %d %s", status, raw)
				}
				orders[i].id, errs[i] = got.SagaID, err
			}
		})
	}
	for i := range orders {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	// The slow and flaky sagas wait on whole-second timers: they are
	// surely running now.
	running := 0
	for _, o := range orders {
		var v sagaView
		status, raw, err := api.do("GET", "/api/sagas/"+o.id, nil, nil, &v)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, string(raw))
		if !terminalSaga[v.Status] {
			running++
		}
	}
	require.Positive(t, running, "sagas in flight at the kill")
	t.Logf("kill -9 with %d of %d sagas running", running, len(orders))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	_ = p.cmd.Wait()

	p = startProc(t, env)
	api = newSagaClient(p.URL)
	want := map[string]string{"tok_ok": "completed", "tok_flaky": "completed", "tok_slow": "completed", "tok_declined": "compensated"}
	final := map[string]string{}
	confirmedUnits := make([]int64, len(products))
	for _, o := range orders {
		v, err := api.waitSaga(o.id, 120*time.Second)
		require.NoError(t, err, "saga %s (%s) after the restart", o.id, o.token)
		require.Equal(t, want[o.token], v.Status, "saga %s (%s): %+v", o.id, o.token, v)
		final[o.id] = v.Status
		wantOrder := map[string]string{"completed": "confirmed", "compensated": "cancelled"}[v.Status]
		var ov orderView
		require.Eventually(t, func() bool {
			status, got, _, err := api.getOrder(o.id)
			ov = got
			return err == nil && status == http.StatusOK && got.Status == wantOrder
		}, 30*time.Second, 20*time.Millisecond, "order %s of a %s saga: %+v", o.id, v.Status, ov)
		if wantOrder == "confirmed" {
			confirmedUnits[o.product] += o.quantity
		}
	}
	for i, id := range products {
		var pv productView
		require.Eventually(t, func() bool {
			pv = api.getProduct(t, id)
			return pv.Reserved == 0 && pv.Sold == confirmedUnits[i]
		}, 30*time.Second, 20*time.Millisecond, "product %d: %+v, confirmed units %d", i, pv, confirmedUnits[i])
		require.Equal(t, int64(initialStock), pv.Stock+confirmedUnits[i], "stock balances for product %d", i)
	}

	// The read models agree once caught up: one charge per completed
	// order, none for the others, and the products balance.
	rm := openReadModel(t, env["DATABASE_URL"])
	for _, o := range orders {
		rm.waitSagaRow(t, o.id, final[o.id])
		wantCharged := int64(0)
		if final[o.id] == "completed" {
			wantCharged = 1
		}
		require.Eventually(t, func() bool { return rm.charged(t, o.id) == wantCharged }, 30*time.Second, 20*time.Millisecond,
			"charged payments rows of order %s (%s)", o.id, o.token)
	}
	for i, id := range products {
		require.Eventually(t, func() bool {
			var stock, reserved, sold int64
			err := rm.pool.QueryRow(context.Background(), `SELECT stock, reserved, sold FROM products WHERE id = $1`, id).Scan(&stock, &reserved, &sold)
			return err == nil && reserved == 0 && sold == confirmedUnits[i] && stock+sold == initialStock
		}, 30*time.Second, 20*time.Millisecond, "products row %d", i)
	}

	// The log itself: no participant's effect was recorded twice.
	out, stderr, err := runCLI(t, env, "replay", "--stream", "ORDERS", "--json",
		"--type", "product.reserved.v1,product.committed.v1,product.released.v1,order.created.v1,order.confirmed.v1,order.cancelled.v1,payment.charged.v1,notification.sent.v1")
	require.NoError(t, err, stderr)
	seen := map[string]int{}
	for _, l := range jsonLines(t, out) {
		d, _ := l["data"].(map[string]any)
		effects := []map[string]any{{"type": l["type"], "data": d}}
		if l["type"] == "product.batch.v1" { // commands on a product stored together
			effects = nil
			batch, _ := d["events"].([]any)
			require.NotEmpty(t, batch)
			for _, e := range batch {
				effects = append(effects, e.(map[string]any))
			}
		}
		for _, e := range effects {
			key := ""
			if d, ok := e["data"].(map[string]any); ok {
				key, _ = d["key"].(string)
			}
			if e["type"] == "product.reserve_refused.v1" {
				continue // not an effect
			}
			seen[fmt.Sprint(e["type"], " ", l["subject"], " ", key)]++
		}
	}
	require.NotEmpty(t, seen)
	for k, n := range seen {
		require.Equal(t, 1, n, "effect recorded %d times: %s", n, k)
	}
	t.Logf("%d sagas ended after kill -9 and restart; %d distinct participant effects, each once", len(orders), len(seen))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, p.cmd.Wait())
}
