package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// shortSagaPolicy is the saga policy of the end-to-end tests: whole-second
// timers (the program accepts no less) so that every path ends in seconds,
// with a step timeout that a loaded machine (-race, 2 cores) does not hit
// by accident.
var shortSagaPolicy = map[string]string{
	"EVENTLINE_SAGA_STEP_TIMEOUT":         "3s",
	"EVENTLINE_SAGA_RETRY_ATTEMPTS":       "3",
	"EVENTLINE_SAGA_RETRY_DELAY":          "1s",
	"EVENTLINE_SAGA_COMPENSATION_TIMEOUT": "10s",
}

// sagaServe starts `eventline serve` in-process with the short saga policy
// against a test NATS server and a fresh database that the CLI helper c
// reaches too.
func sagaServe(t *testing.T, c *opsCLI) *testServer {
	t.Helper()
	env := map[string]string{"NATS_URL": c.vars["NATS_URL"], "DATABASE_URL": c.vars["DATABASE_URL"]}
	for k, v := range shortSagaPolicy {
		env[k] = v
	}
	return startServe(t, env)
}

// orderStatuses are the statuses GET /api/orders/{id} may show.
var orderStatuses = map[string]bool{"pending": true, "confirmed": true, "cancelled": true}

// sagaEvents returns the types and steps of saga id's events, in order,
// through `eventline replay`.
func sagaEvents(t *testing.T, c *opsCLI, id string) [][2]string {
	t.Helper()
	out := c.mustRun(t, "replay", "--stream", "SAGAS", "--subject", "saga."+id, "--json")
	var evs [][2]string
	for _, l := range jsonLines(t, out) {
		typ, _ := l["type"].(string)
		d, _ := l["data"].(map[string]any)
		if typ != "saga.decided.v1" {
			step, _ := d["step"].(string)
			evs = append(evs, [2]string{typ, step})
			continue
		}
		// One decision of several events, stored as one message.
		inner, _ := d["events"].([]any)
		for _, e := range inner {
			e, _ := e.(map[string]any)
			typ, _ := e["type"].(string)
			data, _ := e["data"].(map[string]any)
			step, _ := data["step"].(string)
			evs = append(evs, [2]string{typ, step})
		}
	}
	return evs
}

// Each path of the order saga through the real program: its answer over
// HTTP, the order, the product's stock, the payments and the read models.
func TestOrderSagaPathsEndToEnd(t *testing.T) {
	c := newOpsCLI(t)
	s := sagaServe(t, c)
	api := newSagaClient(s.URL)
	rm := openReadModel(t, c.vars["DATABASE_URL"])
	alice := api.user(t, "Alice", "alice@example.com")
	bob := api.user(t, "Bob", "bob@bounce.test")

	stepOrder := []string{"validate_user", "reserve_inventory", "create_order", "process_payment", "send_notification"}
	tests := []struct {
		name        string
		user        *string
		token       string
		quantity    int64
		saga        string
		order       string
		sold        int64
		payAttempts int
		charged     int64
		steps       map[string]string
	}{
		{name: "happy", user: &alice, token: "tok_ok", quantity: 1, saga: "completed", order: "confirmed", sold: 1, payAttempts: 1, charged: 1,
			steps: map[string]string{"validate_user": "completed", "reserve_inventory": "completed", "create_order": "completed",
				"process_payment": "completed", "send_notification": "completed"}},
		{name: "declined", user: &alice, token: "tok_declined", quantity: 1, saga: "compensated", order: "cancelled", payAttempts: 1,
			steps: map[string]string{"reserve_inventory": "compensated", "create_order": "compensated",
				"process_payment": "failed", "send_notification": "skipped"}},
		{name: "shortage", user: &alice, token: "tok_ok", quantity: 41, saga: "compensated", order: "cancelled",
			steps: map[string]string{"reserve_inventory": "failed", "create_order": "skipped",
				"process_payment": "skipped", "send_notification": "skipped"}},
		{name: "flaky", user: &alice, token: "tok_flaky", quantity: 1, saga: "completed", order: "confirmed", sold: 1, payAttempts: 3, charged: 1,
			steps: map[string]string{"process_payment": "completed", "send_notification": "completed"}},
		{name: "slow", user: &alice, token: "tok_slow", quantity: 2, saga: "completed", order: "confirmed", sold: 2, payAttempts: 2, charged: 1,
			steps: map[string]string{"process_payment": "completed", "send_notification": "completed"}},
		{name: "bounce", user: &bob, token: "tok_ok", quantity: 1, saga: "needs_attention", order: "confirmed", sold: 1, payAttempts: 1, charged: 1,
			steps: map[string]string{"process_payment": "completed", "send_notification": "failed"}},
	}
	// Start every path at once (they run side by side, as in production),
	// reading each order right after its POST answered.
	products := make([]string, len(tests))
	sagas := make([]started, len(tests))
	for i, tt := range tests {
		products[i] = api.product(t, "widget "+tt.name, 40)
		sagas[i] = api.mustOrder(t, orderBody(*tt.user, tt.token, orderItem{products[i], tt.quantity}))
		require.Equal(t, sagas[i].SagaID, sagas[i].OrderID, "the order's id is its saga's")
		status, o, raw, err := api.getOrder(sagas[i].OrderID)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, "%s: GET /api/orders/{id} right after the POST: %s", tt.name, raw)
		require.True(t, orderStatuses[o.Status], "%s: order status %q", tt.name, o.Status)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := sagas[i].SagaID
			v := api.mustWaitSaga(t, id)
			require.Equal(t, tt.saga, v.Status, "saga %s: %+v", id, v)
			require.Equal(t, "create_order", v.Type)
			require.Len(t, v.Steps, 5)
			for j, st := range v.Steps {
				require.Equal(t, stepOrder[j], st.Name, "steps in definition order")
			}
			for step, want := range tt.steps {
				require.Equal(t, want, v.step(step).Status, "step %s: %+v", step, v.step(step))
			}
			require.Equal(t, tt.payAttempts, v.step("process_payment").Attempts, "process_payment attempts")

			// The order and the product settle (the confirmation runs
			// beside the notification, after the pivot).
			var o orderView
			var p productView
			require.Eventually(t, func() bool {
				status, got, _, err := api.getOrder(sagas[i].OrderID)
				o = got
				p = api.getProduct(t, products[i])
				return err == nil && status == http.StatusOK && o.Status == tt.order && p.Reserved == 0 && p.Sold == tt.sold
			}, 30*time.Second, 20*time.Millisecond, "order %+v, product %+v", o, p)
			require.Equal(t, 40-tt.sold, p.Stock, "stock on hand")

			// The read models, once the projections caught up.
			row := rm.waitSagaRow(t, id, tt.saga)
			require.Equal(t, stepOrder, row.Order)
			for _, st := range v.Steps {
				require.Equal(t, st.Status, row.Steps[st.Name].Status, "saga_steps %s", st.Name)
				require.Equal(t, st.Attempts, row.Steps[st.Name].Attempts, "saga_steps %s attempts", st.Name)
			}
			require.Eventually(t, func() bool {
				var stock, reserved, sold int64
				err := rm.pool.QueryRow(context.Background(), `SELECT stock, reserved, sold FROM products WHERE id = $1`,
					products[i]).Scan(&stock, &reserved, &sold)
				return err == nil && stock == 40-tt.sold && reserved == 0 && sold == tt.sold
			}, 30*time.Second, 20*time.Millisecond, "products row of %s", products[i])
			if tt.steps["create_order"] != "skipped" { // else the API answers from the saga only
				require.Eventually(t, func() bool {
					var status string
					err := rm.pool.QueryRow(context.Background(), `SELECT status FROM orders WHERE id = $1`, sagas[i].OrderID).Scan(&status)
					return err == nil && status == tt.order
				}, 30*time.Second, 20*time.Millisecond, "orders row of %s", sagas[i].OrderID)
			}
			require.Eventually(t, func() bool { return rm.charged(t, sagas[i].OrderID) == tt.charged },
				30*time.Second, 20*time.Millisecond, "charged payments rows")
			if tt.name == "bounce" {
				var refunded int64
				require.NoError(t, rm.pool.QueryRow(context.Background(),
					`SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'refunded'`, sagas[i].OrderID).Scan(&refunded))
				require.Zero(t, refunded, "a notification failure after the pivot never refunds")
			}
		})
	}

	// Declined: the completed steps were compensated in reverse order.
	var compensated []string
	for _, ev := range sagaEvents(t, c, sagas[1].SagaID) {
		if ev[0] == "saga.step_compensated.v1" {
			compensated = append(compensated, ev[1])
		}
	}
	require.Equal(t, []string{"create_order", "reserve_inventory"}, compensated, "compensations in reverse order")
}

// The same POST /api/orders with one Idempotency-Key, twice in a row and
// then from 8 goroutines at once, starts one saga that takes stock once.
func TestOrderSagaIdempotencyKey(t *testing.T) {
	c := newOpsCLI(t)
	s := sagaServe(t, c)
	api := newSagaClient(s.URL)
	rm := openReadModel(t, c.vars["DATABASE_URL"])
	user := api.user(t, "Carol", "carol@example.com")

	for i, tt := range []struct {
		name    string
		callers int
	}{{"sequential", 1}, {"parallel", 8}} {
		t.Run(tt.name, func(t *testing.T) {
			product := api.product(t, "gadget "+tt.name, 10)
			body := orderBody(user, "tok_ok", orderItem{product, 3})
			key := "order-" + tt.name + "-" + fmt.Sprint(time.Now().UnixNano())
			post := func() (started, error) {
				// A key whose first request is still running answers 409:
				// the client tries again, as a real one would.
				deadline := time.Now().Add(30 * time.Second)
				for {
					status, got, raw, err := api.postOrder(body, key)
					switch {
					case err != nil:
						return got, err
					case status == http.StatusAccepted:
						return got, nil
					case status == http.StatusConflict && time.Now().Before(deadline):
						time.Sleep(20 * time.Millisecond)
					default:
						return got, fmt.Errorf("POST /api/orders: %d %s", status, raw)
					}
				}
			}
			var mu sync.Mutex
			var answers []started
			var errs []error
			var wg sync.WaitGroup
			for round := 0; round < 2; round++ {
				for range tt.callers {
					wg.Go(func() {
						got, err := post()
						mu.Lock()
						answers, errs = append(answers, got), append(errs, err)
						mu.Unlock()
					})
				}
				wg.Wait()
			}
			for _, err := range errs {
				require.NoError(t, err)
			}
			require.Len(t, answers, 2*tt.callers)
			for _, a := range answers {
				require.Equal(t, answers[0], a, "every answer names the same saga")
			}
			id := answers[0].SagaID
			require.Equal(t, "completed", api.mustWaitSaga(t, id).Status)
			rm.waitSagaRow(t, id, "completed")
			var p productView
			require.Eventually(t, func() bool {
				p = api.getProduct(t, product)
				return p.Reserved == 0 && p.Sold == 3
			}, 30*time.Second, 20*time.Millisecond, "product %+v", p)
			require.Equal(t, int64(7), p.Stock, "stock taken once")
			// The payments read model is behind the product's command loop.
			require.Eventually(t, func() bool { return rm.charged(t, id) == 1 }, 30*time.Second, 20*time.Millisecond,
				"charged once")
			var sagaRows, orderRows int64
			require.Eventually(t, func() bool { // the orders read model may be behind
				require.NoError(t, rm.pool.QueryRow(context.Background(), `SELECT
					(SELECT count(*) FROM sagas WHERE id IN (SELECT id FROM orders WHERE items::text LIKE '%' || $1 || '%')),
					(SELECT count(*) FROM orders WHERE items::text LIKE '%' || $1 || '%')`, product).Scan(&sagaRows, &orderRows))
				return orderRows >= 1
			}, 30*time.Second, 20*time.Millisecond)
			require.Equal(t, int64(1), orderRows, "one order for the product")
			require.Equal(t, int64(1), sagaRows, "one saga row for it")
			var all int64
			require.NoError(t, rm.pool.QueryRow(context.Background(), `SELECT count(*) FROM sagas`).Scan(&all))
			require.Equal(t, int64(i+1), all, "one saga per key in all")
		})
	}
}

// 60 concurrent orders of one unit against a stock of 40: exactly 40
// complete and 20 are compensated, and the product balances.
func TestOrderSagaStockRace(t *testing.T) {
	c := newOpsCLI(t)
	s := sagaServe(t, c)
	api := newSagaClient(s.URL)
	rm := openReadModel(t, c.vars["DATABASE_URL"])
	user := api.user(t, "Dave", "dave@example.com")
	product := api.product(t, "last units", 40)

	ids := make([]string, 60)
	begin := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range ids {
		wg.Go(func() {
			status, got, raw, err := api.postOrder(orderBody(user, "tok_ok", orderItem{product, 1}), "")
			if err == nil && status != http.StatusAccepted {
				err = fmt.Errorf("POST /api/orders: %d %s", status, raw)
			}
			ids[i] = got.SagaID
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	count := map[string]int{}
	retried := 0
	for _, id := range ids {
		v := api.mustWaitSaga(t, id)
		count[v.Status]++
		for _, st := range v.Steps {
			if st.Attempts > 1 {
				retried++
				break
			}
		}
		if v.Status == "compensated" {
			// Refused at the reservation: failed, or compensated when an
			// earlier attempt timed out (its effect unknown, it is released).
			require.Contains(t, []string{"failed", "compensated"}, v.step("reserve_inventory").Status, "%+v", v)
			require.Equal(t, "skipped", v.step("create_order").Status, "a refused order is never created: %+v", v)
		}
	}
	t.Logf("60 sagas ended %v after the first POST; %d needed a step retried", time.Since(begin).Round(time.Millisecond), retried)
	require.Equal(t, map[string]int{"completed": 40, "compensated": 20}, count)
	var p productView
	require.Eventually(t, func() bool {
		p = api.getProduct(t, product)
		return p.Reserved == 0 && p.Sold == 40
	}, 30*time.Second, 20*time.Millisecond, "product %+v", p)
	require.Zero(t, p.Stock)
	require.Eventually(t, func() bool {
		var n int64
		err := rm.pool.QueryRow(context.Background(), `SELECT count(*) FROM sagas WHERE id = ANY($1) AND status IN ('completed', 'compensated')`, ids).Scan(&n)
		return err == nil && n == 60
	}, 60*time.Second, 20*time.Millisecond, "the sagas read model caught up")
	var completed, stock, reserved, sold int64
	require.NoError(t, rm.pool.QueryRow(context.Background(), `SELECT count(*) FROM sagas WHERE id = ANY($1) AND status = 'completed'`, ids).Scan(&completed))
	require.Equal(t, int64(40), completed)
	require.Eventually(t, func() bool {
		err := rm.pool.QueryRow(context.Background(), `SELECT stock, reserved, sold FROM products WHERE id = $1`, product).Scan(&stock, &reserved, &sold)
		return err == nil && reserved == 0 && sold == 40
	}, 30*time.Second, 20*time.Millisecond, "products row")
	require.Zero(t, stock)
}

// The operator tools see the saga module: its projections are listed and
// rebuilt with parity, and its consumers are listed.
func TestOrderSagaOperatorTools(t *testing.T) {
	c := newOpsCLI(t)
	s := sagaServe(t, c)
	api := newSagaClient(s.URL)
	rm := openReadModel(t, c.vars["DATABASE_URL"])
	user := api.user(t, "Erin", "erin@example.com")
	product := api.product(t, "tool", 10)
	var ids []string
	for _, tok := range []string{"tok_ok", "tok_declined", "tok_ok"} {
		ids = append(ids, api.mustOrder(t, orderBody(user, tok, orderItem{product, 1})).SagaID)
	}
	for _, id := range ids {
		v := api.mustWaitSaga(t, id)
		rm.waitSagaRow(t, id, v.Status)
	}

	list := jsonLines(t, c.mustRun(t, "projections", "list", "--json"))[0]["projections"].([]any)
	names := map[string]bool{}
	for _, p := range list {
		names[p.(map[string]any)["name"].(string)] = true
	}
	require.True(t, names["sagas"] && names["orders"], "projections list: %v", names)
	out := c.mustRun(t, "projections", "list")
	require.Regexp(t, `(?m)^sagas\s+SAGAS\s`, out)
	require.Regexp(t, `(?m)^orders\s+ORDERS\s`, out)

	for _, name := range []string{"sagas", "orders"} {
		out, stderr, err := c.run(t, "projections", "rebuild", name, "--quiet")
		require.NoError(t, err, "rebuild %s: %s", name, stderr)
		require.Contains(t, out, "swapped in at #", "rebuild %s:\n%s", name, out)
		require.Contains(t, out, ": match", "rebuild %s parity:\n%s", name, out)
		require.NotContains(t, out, "mismatch", "rebuild %s parity:\n%s", name, out)
	}
	// The rebuilt tables serve the same rows.
	for _, id := range ids {
		row, ok, err := rm.saga(context.Background(), id)
		require.NoError(t, err)
		require.True(t, ok)
		require.Len(t, row.Steps, 5)
	}

	out = c.mustRun(t, "consumers", "--json")
	var cons struct {
		Consumers []struct {
			Stream     string `json:"stream"`
			Name       string `json:"name"`
			Projection string `json:"projection"`
			Reactor    string `json:"reactor"`
		} `json:"consumers"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &cons))
	streams := map[string]int{}
	var feeds []string
	for _, cn := range cons.Consumers {
		streams[cn.Stream]++
		feeds = append(feeds, cn.Stream+"/"+cn.Name+"/"+cn.Projection+cn.Reactor)
	}
	require.Positive(t, streams["SAGAS"], "consumers of SAGAS: %v", feeds)
	require.Positive(t, streams["ORDERS"], "consumers of ORDERS: %v", feeds)
	joined := strings.Join(feeds, "\n")
	require.Contains(t, joined, "sagas", "the sagas projection's consumer: %v", feeds)
	require.Contains(t, joined, "orders", "the orders projection's consumer: %v", feeds)
}
