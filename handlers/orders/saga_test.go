package orders_test

import (
	"context"
	json "github.com/go-json-experiment/json/v1"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/orders"
)

func TestOrderSagaPaths(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		token    string
		quantity int64
		status   saga.Status
		order    order.OrderStatus
		charges  int
		sold     int64
		payTries int
		sent     int
		steps    map[string]saga.StepStatus
	}{
		{"happy", "u1", order.TokenOK, 1, saga.StatusCompleted, order.StatusConfirmed, 1, 1, 1, 1, nil},
		{"declined", "u1", order.TokenDeclined, 1, saga.StatusCompensated, order.StatusCancelled, 0, 0, 1, 0,
			map[string]saga.StepStatus{saga.StepReserveInventory: saga.StepStatusCompensated, saga.StepCreateOrder: saga.StepStatusCompensated,
				saga.StepProcessPayment: saga.StepStatusFailed, saga.StepSendNotification: saga.StepStatusSkipped}},
		{"flaky pays on attempt 3", "u1", order.TokenFlaky, 1, saga.StatusCompleted, order.StatusConfirmed, 1, 1, 3, 1, nil},
		{"shortage", "u1", order.TokenOK, 41, saga.StatusCompensated, "", 0, 0, 0, 0,
			map[string]saga.StepStatus{saga.StepReserveInventory: saga.StepStatusFailed, saga.StepCreateOrder: saga.StepStatusSkipped}},
		{"bounce after the pivot", "bounce", order.TokenOK, 1, saga.StatusNeedsAttention, order.StatusConfirmed, 1, 1, 1, 0,
			map[string]saga.StepStatus{saga.StepSendNotification: saga.StepStatusFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.run(t)
			e.start(t, "s1", input("o1", tt.user, tt.token, tt.quantity))
			s := e.finish(t, "s1")
			require.Equal(t, tt.status, s.Status, s.Reason)
			e.drained(t) // the confirmation runs after the pivot, beside the notification
			for step, st := range tt.steps {
				require.Equal(t, st, s.Steps[s.StepIndex(step)].Status, step)
			}
			require.Equal(t, tt.payTries, s.Steps[s.StepIndex(saga.StepProcessPayment)].Action.Attempts)
			require.Equal(t, tt.order, load(t, e.parts.Orders, "o1").Status)
			require.Equal(t, tt.charges, load(t, e.parts.Payments, "o1").Charges)
			require.Equal(t, tt.sent, load(t, e.parts.Notifications, "o1").Sent)
			p := load(t, e.parts.Products, "p1")
			require.Zero(t, p.Reserved, "nothing stays reserved")
			require.Equal(t, 40-tt.sold, p.Stock)
			require.Equal(t, tt.sold, p.Sold)
		})
	}
}

// A command delivered again (a new message, past the dedupe window) and a
// timer fired twice change nothing: the participant dedupes on the key and
// the saga finds the reply or the timer stale.
func TestRedeliveriesChangeNothing(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	ctx := context.Background()
	e.start(t, "s1", input("o1", "u1", order.TokenOK, 1))
	s := e.finish(t, "s1")
	require.Equal(t, saga.StatusCompleted, s.Status)
	e.drained(t)
	before := e.history(t, "s1")
	product := load(t, e.parts.Products, "p1")

	reserve := saga.Command{SagaID: "s1", Step: saga.StepReserveInventory, Type: saga.CommandReserveInventory,
		Key: saga.Key("s1", saga.StepReserveInventory, false), Attempt: 1, Deadline: time.Now().Add(time.Minute),
		Payload: saga.Payload{SagaID: "s1", SagaType: saga.OrderSagaType, Step: saga.StepReserveInventory, Input: s.Input}}
	charge := reserve
	charge.Step, charge.Type, charge.Key = saga.StepProcessPayment, saga.CommandProcessPayment, saga.Key("s1", saga.StepProcessPayment, false)
	charge.Payload.Outputs = map[string]json.RawMessage{saga.StepCreateOrder: s.Steps[s.StepIndex(saga.StepCreateOrder)].Output}
	timer := saga.Timer{SagaID: "s1", Kind: saga.TimerAttemptTimeout, Step: saga.StepValidateUser, Attempt: 1, At: time.Now()}
	for range 2 {
		for _, c := range []saga.Command{reserve, charge} {
			env, err := eventstore.NewEnvelope(orders.CommandV1, orders.CommandMessage{SagaID: c.SagaID, Step: c.Step, Type: c.Type,
				Key: c.Key, Attempt: c.Attempt, Deadline: c.Deadline, Payload: c.Payload})
			require.NoError(t, err)
			_, err = e.store.Append(ctx, orders.CommandSubject(c.Type, c.SagaID), eventstore.NoExpectation, env)
			require.NoError(t, err)
		}
		env, err := eventstore.NewEnvelope(orders.TimerV1, timer)
		require.NoError(t, err)
		_, err = e.store.Append(ctx, orders.FiredSubject("s1"), eventstore.NoExpectation, env)
		require.NoError(t, err)
	}
	e.drained(t)
	require.Len(t, e.history(t, "s1"), len(before), "the saga's history is unchanged")
	after := load(t, e.parts.Products, "p1")
	require.Equal(t, product.Stock, after.Stock)
	require.Equal(t, product.Sold, after.Sold)
	require.Zero(t, after.Reserved)
	require.Equal(t, 1, load(t, e.parts.Payments, "o1").Charges)
}

// A saga whose start was stored but whose first command was never sent (a
// process killed between the append and the sends) completes once Resume
// re-issues what it waits on.
func TestResumeRestartsRunningSagas(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, id := range []string{"s1", "s2"} {
		_, err := e.manager.Sagas().Handle(ctx, id, saga.Start{SagaID: id, Definition: saga.OrderSaga(policy),
			Input: input("o"+id, "u1", order.TokenOK, 1), Now: time.Now()}, aggregate.Meta{})
		require.NoError(t, err)
	}
	e.start(t, "done", input("odone", "u1", order.TokenDeclined, 1))
	e.run(t)
	require.Equal(t, saga.StatusCompensated, e.finish(t, "done").Status)
	n, err := e.manager.Resume(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n, "the two sagas never sent anything are resumed, the terminal one is not")
	for _, id := range []string{"s1", "s2"} {
		require.Equal(t, saga.StatusCompleted, e.finish(t, id).Status)
	}
	e.drained(t)
	p := load(t, e.parts.Products, "p1")
	require.Equal(t, int64(38), p.Stock)
	require.Zero(t, p.Reserved)
}
