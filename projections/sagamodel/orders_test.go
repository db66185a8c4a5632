package sagamodel_test

import (
	"context"
	json "github.com/go-json-experiment/json/v1"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/sagamodel"
)

// act decides cmds one after the other on s, as the participants' command
// loop does, appends the events to subject and returns the folded state.
func act[S any](t *testing.T, e *env, subject string, s S, decide func(S, any) ([]orders.Event, error),
	evolve func(S, string, any) S, cmds ...any) S {
	t.Helper()
	for _, cmd := range cmds {
		evs, err := decide(s, cmd)
		require.NoError(t, err)
		for _, ev := range evs {
			e.emit(t, orders.Stream, subject, ev.Type, ev.Data)
			s = evolve(s, ev.Type, ev.Data)
		}
	}
	return s
}

// participants appends the life of two products, three orders and their
// payments, and returns the folded products, orders and payments.
type participants struct {
	products map[string]orders.Product
	orders   map[string]orders.Order
	payments map[string]orders.Payments
}

func now(minute int) time.Time { return at(minute) }

func runParticipants(t *testing.T, e *env) participants {
	t.Helper()
	var p participants
	act(t, e, orders.UserSubject("u1"), orders.User{}, orders.User.Decide, orders.User.Evolve,
		orders.CreateUser{UserID: "u1", Name: "Ada", Email: "ada@example.test", Now: now(0)})
	p.products = map[string]orders.Product{
		"p1": act(t, e, orders.ProductSubject("p1"), orders.Product{}, orders.Product.Decide, orders.Product.Evolve,
			orders.CreateProduct{ProductID: "p1", Name: "widget", PriceCents: 250, Stock: 10, Now: now(1)},
			orders.Reserve{Key: "s1:reserve", Quantity: 3, Now: now(2)},
			orders.Reserve{Key: "s2:reserve", Quantity: 2, Now: now(3)},
			orders.Reserve{Key: "s3:reserve", Quantity: 20, Now: now(4)}, // refused: only 5 free
			orders.Release{Key: "s2:reserve", Now: now(5)},
			orders.Commit{Key: "s1:reserve", Now: now(6)},
			orders.Reserve{Key: "s1:reserve", Quantity: 3, Now: now(7)}, // a redelivery: nothing
		),
		"p2": act(t, e, orders.ProductSubject("p2"), orders.Product{}, orders.Product.Decide, orders.Product.Evolve,
			orders.CreateProduct{ProductID: "p2", Name: "gadget", PriceCents: 900, Stock: 5, Now: now(1)},
			orders.Reserve{Key: "s4:reserve", Quantity: 5, Now: now(2)},
		),
	}
	items := []orders.Item{{ProductID: "p1", Quantity: 3}}
	p.orders = map[string]orders.Order{
		"o1": act(t, e, orders.OrderSubject("o1"), orders.Order{}, orders.Order.Decide, orders.Order.Evolve,
			orders.CreateOrder{Key: "s1:create", OrderID: "o1", UserID: "u1", Items: items, TotalCents: 750, Now: now(3)},
			orders.ConfirmOrder{Now: now(8)}),
		"o2": act(t, e, orders.OrderSubject("o2"), orders.Order{}, orders.Order.Decide, orders.Order.Evolve,
			orders.CreateOrder{Key: "s2:create", OrderID: "o2", UserID: "u1", Items: items, TotalCents: 750, Now: now(3)},
			orders.CancelOrder{OrderID: "o2", Key: "s2:create", Reason: "payment declined", Now: now(9)}),
		"o3": act(t, e, orders.OrderSubject("o3"), orders.Order{}, orders.Order.Decide, orders.Order.Evolve,
			orders.CancelOrder{OrderID: "o3", Key: "s3:create", Reason: "aborted", Now: now(4)}), // a tombstone
	}
	p.payments = map[string]orders.Payments{
		"o1": act(t, e, orders.PaymentSubject("o1"), orders.Payments{}, orders.Payments.Decide, orders.Payments.Evolve,
			orders.Charge{OrderID: "o1", Key: "s1:pay", AmountCents: 750, Token: orders.TokenFlaky, Attempt: 1, Now: now(4)},
			orders.Charge{OrderID: "o1", Key: "s1:pay", AmountCents: 750, Token: orders.TokenFlaky, Attempt: 3, Now: now(5)},
			orders.Charge{OrderID: "o1", Key: "s1:pay", AmountCents: 750, Token: orders.TokenFlaky, Attempt: 4, Now: now(6)},
			orders.Charge{OrderID: "o1", Key: "s1:extra", AmountCents: 100, Token: orders.TokenOK, Attempt: 1, Now: now(7)},
			orders.Refund{OrderID: "o1", Key: "s1:extra", Now: now(8)}),
		"o2": act(t, e, orders.PaymentSubject("o2"), orders.Payments{}, orders.Payments.Decide, orders.Payments.Evolve,
			orders.Charge{OrderID: "o2", Key: "s2:pay", AmountCents: 750, Token: orders.TokenDeclined, Attempt: 1, Now: now(5)},
			orders.Refund{OrderID: "o2", Key: "s2:other", Now: now(6)}), // voids a key that never charged
	}
	e.emit(t, orders.Stream, orders.NotificationSubject("o1"), orders.NotificationSentV1,
		orders.NotificationSent{OrderID: "o1", Key: "s1:notify", Email: "ada@example.test", At: now(9)})
	return p
}

type productRow struct {
	Name                              string
	PriceCents, Stock, Reserved, Sold int64
}

type orderRow struct {
	UserID, Status string
	TotalCents     int64
	Items          []orders.Item
	Reason         string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

type paymentRow struct {
	Status      string
	AmountCents int64
	Token       string
	Attempt     int
	Reason      string
}

func TestParticipantRowsShowTheFolds(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.run(t)
	p := runParticipants(t, e)
	e.wait(t)

	var name, email string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT name, email FROM users WHERE id = 'u1'`).Scan(&name, &email))
	require.Equal(t, []string{"Ada", "ada@example.test"}, []string{name, email})

	for id, want := range p.products {
		var got productRow
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT name, price_cents, stock, reserved, sold FROM products WHERE id = $1`,
			id).Scan(&got.Name, &got.PriceCents, &got.Stock, &got.Reserved, &got.Sold))
		require.Equal(t, productRow{want.Name, want.PriceCents, want.Stock, want.Reserved, want.Sold}, got, id)
	}
	var stock, reserved, sold int64
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT stock, reserved, sold FROM products WHERE id = 'p1'`).Scan(&stock,
		&reserved, &sold))
	require.Equal(t, []int64{7, 0, 3}, []int64{stock, reserved, sold}, "3 sold, 2 released, 20 refused")
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT stock, reserved FROM products WHERE id = 'p2'`).Scan(&stock, &reserved))
	require.Equal(t, []int64{5, 5}, []int64{stock, reserved})

	for id, want := range p.orders {
		var got orderRow
		var items []byte
		err := e.pool.QueryRow(ctx, `SELECT user_id, status, total_cents, items, reason, created_at, updated_at FROM orders
			WHERE id = $1`, id).Scan(&got.UserID, &got.Status, &got.TotalCents, &items, &got.Reason, &got.CreatedAt, &got.UpdatedAt)
		if !want.Exists {
			require.Error(t, err, "%s: a tombstone has no row", id)
			continue
		}
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(items, &got.Items))
		got.CreatedAt, got.UpdatedAt = got.CreatedAt.UTC(), got.UpdatedAt.UTC()
		require.Equal(t, orderRow{want.UserID, string(want.Status), want.TotalCents, want.Items, want.Reason, want.CreatedAt,
			want.UpdatedAt}, got, id)
	}
	require.Equal(t, orders.StatusConfirmed, p.orders["o1"].Status)
	require.Equal(t, orders.StatusCancelled, p.orders["o2"].Status)

	rows, err := e.pool.Query(ctx, `SELECT order_id, key, status, amount_cents, token, attempt, reason FROM payments`)
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var order, key string
		var got paymentRow
		require.NoError(t, rows.Scan(&order, &key, &got.Status, &got.AmountCents, &got.Token, &got.Attempt, &got.Reason))
		want, ok := p.payments[order].Record(key)
		require.True(t, ok, key)
		require.Equal(t, paymentRow{string(want.Status), want.AmountCents, want.Token, want.Attempt, want.Reason}, got, key)
		n++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 4, n, "s1:pay charged, s1:extra refunded, s2:pay declined, s2:other voided")
	var attempt int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT attempt FROM payments WHERE key = 's1:pay' AND status = 'charged'`).Scan(&attempt))
	require.Equal(t, 3, attempt, "tok_flaky charges on its third attempt")
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT attempt FROM payments WHERE key = 's2:pay' AND status = 'declined'`).Scan(&attempt))
	require.Equal(t, 1, attempt, "tok_declined is refused on the first attempt")
}

func TestApplyingParticipantEventsAgainChangesNothing(t *testing.T) {
	e := newEnv(t)
	runParticipants(t, e)
	events := streamEvents(t, e, orders.Stream)
	p := sagamodel.NewOrders(nil)

	apply(t, e, p, events)
	want := dump(t, e.pool)
	require.NotEmpty(t, want)
	for name, again := range map[string][]projections.Event{
		"the whole stream":  events,
		"the products":      events[1:11],
		"one reservation":   events[2:3],
		"the last payments": events[len(events)-5:],
	} {
		apply(t, e, p, again)
		require.Equal(t, want, dump(t, e.pool), name)
	}
	for i := range events {
		apply(t, e, p, events[i:i+1])
	}
	require.Equal(t, want, dump(t, e.pool), "one event at a time")
}
