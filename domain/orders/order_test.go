package orders_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
)

func createOrder(key string) orders.CreateOrder {
	return orders.CreateOrder{Key: key, OrderID: "o1", UserID: "u1",
		Items: []orders.Item{{ProductID: "p1", Quantity: 2}}, TotalCents: 500, Now: t0}
}

func TestOrderLifecycle(t *testing.T) {
	cancel := orders.CancelOrder{OrderID: "o1", Key: "s1:create_order:compensate", Reason: "payment declined", Now: t0}
	tests := []struct {
		name    string
		cmds    []any
		events  []string // of the last command
		failure saga.Failure
		errHas  string
		status  orders.OrderStatus // of the order after the commands
		out     orders.OrderStatus // the last answer's status when it succeeds
	}{
		{"create", []any{createOrder("k")}, []string{orders.OrderCreatedV1}, "", "", orders.StatusPending, orders.StatusPending},
		{"create twice: the first answer", []any{createOrder("k"), createOrder("k")}, nil, "", "", orders.StatusPending, orders.StatusPending},
		{"created by another key", []any{createOrder("k"), createOrder("other")}, nil, saga.Permanent, "another request", orders.StatusPending, ""},
		{"confirm", []any{createOrder("k"), orders.ConfirmOrder{Now: t0}}, []string{orders.OrderConfirmedV1}, "", "", orders.StatusConfirmed, orders.StatusConfirmed},
		{"confirm twice", []any{createOrder("k"), orders.ConfirmOrder{}, orders.ConfirmOrder{}}, nil, "", "", orders.StatusConfirmed, orders.StatusConfirmed},
		{"confirm an unknown order", []any{orders.ConfirmOrder{}}, nil, saga.Permanent, "unknown order", "", ""},
		{"cancel", []any{createOrder("k"), cancel}, []string{orders.OrderCancelledV1}, "", "", orders.StatusCancelled, orders.StatusCancelled},
		{"cancel twice", []any{createOrder("k"), cancel, cancel}, nil, "", "", orders.StatusCancelled, orders.StatusCancelled},
		{"no confirm after cancel", []any{createOrder("k"), cancel, orders.ConfirmOrder{}}, nil, saga.Permanent, "cancelled", orders.StatusCancelled, ""},
		{"no cancel after confirm", []any{createOrder("k"), orders.ConfirmOrder{}, cancel}, nil, saga.Permanent, "confirmed", orders.StatusConfirmed, ""},
		{"cancel before create: tombstone", []any{cancel}, []string{orders.OrderCancelledV1}, "", "", orders.StatusCancelled, orders.StatusCancelled},
		{"a late create is refused", []any{cancel, createOrder("k")}, nil, saga.Permanent, "cancelled", orders.StatusCancelled, ""},
		{"a repeated create after cancel answers its first outcome", []any{createOrder("k"), cancel, createOrder("k")}, nil, "", "", orders.StatusCancelled, orders.StatusPending},
		{"invalid create fails for good", []any{orders.CreateOrder{Key: "k", OrderID: "o1"}}, nil, saga.Permanent, "no items", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, res := run[orders.Order](t, tt.cmds...)
			last := res[len(res)-1]
			require.NoError(t, last.err)
			require.Equal(t, tt.events, nilIfEmpty(types(last.events)))
			require.Equal(t, tt.failure, last.outcome.Failure)
			require.Contains(t, last.outcome.Error, tt.errHas)
			require.Equal(t, tt.status, s.Status)
			if tt.failure == "" {
				out := output[orders.OrderOutput](t, last.outcome)
				require.Equal(t, string(tt.out), out.Status)
				require.Equal(t, "o1", out.OrderID)
			}
		})
	}
}

func TestOrderState(t *testing.T) {
	s, _ := run[orders.Order](t, createOrder("k"))
	require.True(t, s.Exists)
	require.Equal(t, "k", s.Key)
	require.Equal(t, int64(500), s.TotalCents)
	require.Equal(t, []orders.Item{{ProductID: "p1", Quantity: 2}}, s.Items)

	tomb, _ := run[orders.Order](t, orders.CancelOrder{OrderID: "o9", Key: "c"})
	require.False(t, tomb.Exists)
	require.Equal(t, "o9", tomb.ID)

	_, res := run[orders.Order](t, orders.Reserve{})
	require.ErrorIs(t, res[0].err, orders.ErrUnknownCommand)
	require.Equal(t, saga.Permanent, s.Answer(orders.Reserve{}).Failure)
}

func TestValidateOrderFields(t *testing.T) {
	items := []orders.Item{{ProductID: "p", Quantity: 1}}
	require.NoError(t, orders.ValidateOrderFields("o", "u", items, 0))
	for _, err := range []error{
		orders.ValidateOrderFields("", "u", items, 0),
		orders.ValidateOrderFields("o", "", items, 0),
		orders.ValidateOrderFields("o", "u", nil, 0),
		orders.ValidateOrderFields("o", "u", []orders.Item{{ProductID: "p"}}, 0),
		orders.ValidateOrderFields("o", "u", []orders.Item{{Quantity: 1}}, 0),
		orders.ValidateOrderFields("o", "u", items, -1),
	} {
		require.ErrorIs(t, err, orders.ErrInvalid)
	}
}
