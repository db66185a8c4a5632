package orders_test

import (
	json "github.com/go-json-experiment/json/v1"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/eventtest"

	"github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
)

// Old payloads in testdata/ must keep decoding, with every stored field
// still read: events are forever.
func TestOldPayloadsStillDecode(t *testing.T) {
	typeName := eventtest.TypeName
	for typ := range orders.Events() {
		require.Regexp(t, typeName, typ)
		prefix, _, _ := strings.Cut(typ, ".")
		require.Contains(t, orders.Subjects(), prefix+".>", "%s is on a subject of the stream", typ)
	}
	stored := eventtest.StoredPayloads(t)
	require.Len(t, stored, len(orders.Events()), "one stored payload per event type")
	for typ, data := range stored {
		dec, ok := orders.Events()[typ]
		require.True(t, ok, typ)
		v, err := dec(data)
		require.NoError(t, err, typ)
		back, err := json.Marshal(v)
		require.NoError(t, err)
		require.JSONEq(t, string(data), string(back), "no stored field is dropped: %s", typ)
	}
}

// The stored payloads fold into the aggregates they belong to.
func TestStoredPayloadsFold(t *testing.T) {
	stored := eventtest.StoredPayloads(t)
	dec := func(typ string) any {
		v, err := orders.Events()[typ](stored[typ])
		require.NoError(t, err)
		return v
	}
	u := orders.User{}.Evolve(orders.UserCreatedV1, dec(orders.UserCreatedV1))
	require.True(t, u.Answer(orders.ValidateUser{}).OK())

	p := orders.Product{}
	for _, typ := range []string{orders.ProductCreatedV1, orders.ProductReservedV1, orders.ProductReserveRefusedV1,
		orders.ProductReleasedV1, orders.ProductCommittedV1} {
		p = p.Evolve(typ, dec(typ))
	}
	require.Equal(t, int64(39), p.Stock)
	require.Equal(t, int64(1), p.Sold)
	r, ok := p.Reservation("s2:reserve_inventory")
	require.True(t, ok)
	require.Equal(t, orders.ReservationRefused, r.Status)
	// A batch folds its events in order.
	before := p.Reserved
	p = p.Evolve(orders.ProductBatchV1, dec(orders.ProductBatchV1))
	require.Equal(t, before+1, p.Reserved)
	r, ok = p.Reservation("s4:reserve_inventory")
	require.True(t, ok)
	require.Equal(t, orders.ReservationReleased, r.Status)
	r, ok = p.Reservation("s5:reserve_inventory")
	require.True(t, ok)
	require.Equal(t, orders.ReservationHeld, r.Status)

	o := orders.Order{}.Evolve(orders.OrderCreatedV1, dec(orders.OrderCreatedV1))
	require.Equal(t, orders.StatusConfirmed, o.Evolve(orders.OrderConfirmedV1, dec(orders.OrderConfirmedV1)).Status)
	require.Equal(t, orders.StatusCancelled, o.Evolve(orders.OrderCancelledV1, dec(orders.OrderCancelledV1)).Status)

	pay := orders.Payments{}.Evolve(orders.PaymentChargedV1, dec(orders.PaymentChargedV1))
	require.True(t, pay.Answer(charge(orders.TokenSlow, 1)).Slow)
	require.Zero(t, pay.Evolve(orders.PaymentRefundedV1, dec(orders.PaymentRefundedV1)).ChargedCents)
	require.Equal(t, saga.Permanent, orders.Payments{}.Evolve(orders.PaymentDeclinedV1, dec(orders.PaymentDeclinedV1)).
		Answer(charge(orders.TokenDeclined, 1)).Failure)
	require.Equal(t, saga.Permanent, orders.Payments{}.Evolve(orders.PaymentVoidedV1, dec(orders.PaymentVoidedV1)).
		Answer(charge(orders.TokenOK, 1)).Failure)

	n := orders.Notifications{}.Evolve(orders.NotificationSentV1, dec(orders.NotificationSentV1))
	require.Equal(t, 1, n.Sent)
	n = orders.Notifications{}.Evolve(orders.NotificationBouncedV1, dec(orders.NotificationBouncedV1))
	require.Zero(t, n.Sent)
}

func TestSubjects(t *testing.T) {
	require.Equal(t, "ORDERS", orders.Stream)
	require.Equal(t, "user.u1", orders.UserSubject("u1"))
	require.Equal(t, "product.p1", orders.ProductSubject("p1"))
	require.Equal(t, "order.o1", orders.OrderSubject("o1"))
	require.Equal(t, "payment.o1", orders.PaymentSubject("o1"))
	require.Equal(t, "notification.o1", orders.NotificationSubject("o1"))
}

func TestOutcomeReply(t *testing.T) {
	cmd := saga.Command{SagaID: "s1", Step: saga.StepReserveInventory, Type: saga.CommandReleaseInventory,
		Compensation: true, Key: "s1:reserve_inventory:compensate", Attempt: 2}
	o := orders.Outcome{Failure: saga.Transient, Error: "busy"}
	require.Equal(t, saga.Reply{Step: cmd.Step, Attempt: 2, Compensation: true, Failure: saga.Transient, Error: "busy", Now: t0},
		o.Reply(cmd, t0))
	require.False(t, o.OK())
}

func TestParseOrderInput(t *testing.T) {
	in, err := orders.ParseOrderInput(json.RawMessage(`{"order_id":"o1","user_id":"u1","items":[{"product_id":"p2","quantity":1},
		{"product_id":"p1","quantity":2},{"product_id":"p2","quantity":3}],"payment":{"token":"tok_ok"}}`))
	require.NoError(t, err)
	require.Equal(t, "tok_ok", in.Payment.Token)
	require.Equal(t, []orders.Item{{ProductID: "p1", Quantity: 2}, {ProductID: "p2", Quantity: 4}}, in.Quantities())
	for _, bad := range []string{`{`, `{"order_id":"o1","user_id":"u1","items":[]}`,
		`{"order_id":"o1","user_id":"u1","items":[{"product_id":"p","quantity":1}]}`} {
		_, err := orders.ParseOrderInput(json.RawMessage(bad))
		require.ErrorIs(t, err, orders.ErrInvalid, bad)
	}
	out := orders.NewInventoryOutput([]orders.ReservationOutput{{Quantity: 2, PriceCents: 250}, {Quantity: 1, PriceCents: 99}})
	require.Equal(t, int64(599), out.TotalCents)
}

// FuzzDecode feeds arbitrary payloads to every decoder and folds what
// decodes into every aggregate, then decides and answers on the result:
// nothing may panic.
func FuzzDecode(f *testing.F) {
	types := make([]string, 0, len(orders.Events()))
	for typ := range orders.Events() {
		types = append(types, typ)
	}
	for typ, data := range eventtest.StoredPayloads(f) {
		f.Add(typ, []byte(data))
	}
	f.Add(orders.ProductReleasedV1, []byte(`{"key":"","quantity":-5}`))
	f.Add(orders.OrderCreatedV1, []byte(`{"items":null}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		dec, ok := orders.Events()[typ]
		if !ok {
			typ = types[len(typ)%len(types)]
			dec = orders.Events()[typ]
		}
		v, err := dec(data)
		if err != nil {
			return
		}
		cmds := []any{orders.ValidateUser{}, orders.Reserve{Key: "k", Quantity: 1}, orders.Release{Key: "k"},
			orders.Commit{Key: "k"}, createOrder("k"), orders.ConfirmOrder{}, orders.CancelOrder{Key: "c"},
			charge(orders.TokenSlow, 1), orders.Refund{Key: payKey}, orders.Send{Key: "k", Email: "a@b.c"}}
		u := orders.User{}.Evolve(typ, v)
		p := newProduct(t, 3).Evolve(typ, v)
		o := orders.Order{}.Evolve(typ, v)
		pay := orders.Payments{}.Evolve(typ, v)
		n := orders.Notifications{}.Evolve(typ, v)
		for _, c := range cmds {
			for _, a := range []interface {
				Decide(any) ([]orders.Event, error)
				Answer(any) orders.Outcome
			}{u, p, o, pay, n} {
				_, _ = a.Decide(c)
				_ = a.Answer(c)
			}
		}
	})
}
