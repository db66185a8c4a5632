package orders_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/handlers/orders"
)

// A saga driven here records the replies that only move it on with the
// next one that must be recorded: its start, its steps up to the pivot's
// completion, and its end are three appends, which hold every event in
// order.
func TestDrivenSagaRecordsItsPassingStepsInOneAppend(t *testing.T) {
	e := newEnv(t)
	e.start(t, "s1", input("o1", "u1", order.TokenOK, 1))
	require.Equal(t, saga.StatusCompleted, e.finish(t, "s1").Status)
	stored := e.history(t, "s1")
	require.Equal(t, 3, len(stored), "appends: start, the steps up to the pivot, the end")
	var types, steps []string
	for _, m := range stored {
		v, err := orders.Registry().Decode(m.Envelope)
		require.NoError(t, err)
		for _, ev := range saga.Flatten(m.Envelope.Type, v) {
			types = append(types, ev.Type)
			if c, ok := ev.Data.(*saga.StepCompleted); ok {
				steps = append(steps, c.Step)
			}
		}
	}
	require.Equal(t, []string{saga.StartedV1, saga.StepStartedV1,
		saga.StepCompletedV1, saga.StepStartedV1, saga.StepCompletedV1, saga.StepStartedV1,
		saga.StepCompletedV1, saga.StepStartedV1, saga.StepCompletedV1, saga.StepStartedV1,
		saga.StepCompletedV1, saga.CompletedV1}, types)
	require.Equal(t, []string{saga.StepValidateUser, saga.StepReserveInventory, saga.StepCreateOrder,
		saga.StepProcessPayment, saga.StepSendNotification}, steps)
	// Its order is confirmed (before its end is recorded) and its units sold.
	require.Equal(t, order.StatusConfirmed, load(t, e.parts.Orders, "o1").Status)
	p := load(t, e.parts.Products, "p1")
	require.Equal(t, int64(1), p.Sold)
	require.Zero(t, p.Reserved)
}

// A driver killed while holding replies leaves the saga at its last
// recorded step, with the participants' effects of the steps since done:
// Resume re-issues those steps, and the participants answer them as they
// did, so nothing is reserved or charged twice.
func TestStepsDoneButNotRecordedAreAnsweredAgain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first, err := orders.NewRunner(e.store, orders.HandOver()) // records, sends to reactors that do not run
	require.NoError(t, err)
	fm := first.Manager()
	d, err := fm.Start(ctx, "s1", saga.OrderSaga(policy), input("o1", "u1", order.TokenOK, 1), "")
	require.NoError(t, err)
	first.Close()

	// What the killed driver did: every step up to the pivot, on the
	// participants, with the replies decided and held, never recorded.
	s := d.State
	cmds, _ := saga.Outstanding(s)
	for len(cmds) == 1 {
		c := cmds[0]
		o, err := e.parts.Execute(ctx, c, time.Now())
		require.NoError(t, err)
		require.True(t, o.OK(), "%s: %s", c.Step, o.Error)
		dec, err := saga.Decide(s, o.Reply(c, time.Now()))
		require.NoError(t, err)
		s, cmds = dec.State, dec.Commands
		if !dec.Passing() {
			break
		}
	}
	require.Equal(t, saga.StepSendNotification, cmds[0].Step, "the driver got to the pivot")
	require.Len(t, e.history(t, "s1"), 1, "nothing after the start was recorded")
	require.Equal(t, int64(1), load(t, e.parts.Products, "p1").Reserved)

	// A new process resumes the saga from its start.
	r, err := orders.NewRunner(e.store)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	m := r.Manager()
	n, err := m.Resume(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, saga.StatusCompleted, e.finish(t, "s1").Status)
	for m.Driving() > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	pay := load(t, e.parts.Payments, "o1")
	require.Equal(t, 1, pay.Charges, "charged once")
	p := load(t, e.parts.Products, "p1")
	require.Equal(t, int64(1), p.Sold)
	require.Equal(t, int64(39), p.Stock)
	require.Zero(t, p.Reserved)
	reserved := 0
	evs, _, err := e.store.Load(ctx, order.Stream, order.ProductSubject("p1"))
	require.NoError(t, err)
	for _, ev := range evs {
		data, err := order.Events()[ev.Envelope.Type](ev.Envelope.Data)
		require.NoError(t, err)
		for _, e := range order.Flatten(ev.Envelope.Type, data) {
			if e.Type == order.ProductReservedV1 {
				reserved++
			}
		}
	}
	require.Equal(t, 1, reserved, "reserved once")
}

// The order's confirmation runs beside the notification, the command that
// follows the pivot: the notification is stored while the confirmation has
// not started its appends. The notification's reply, and so the saga's
// end, is recorded only once the confirmation is done.
func TestTheConfirmationRunsBesideTheNotification(t *testing.T) {
	e := newEnv(t)
	var sawNotification atomic.Bool
	orders.SetBeforeConfirm(e.parts, func(string) {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if n, _, err := e.parts.Notifications.Load(context.Background(), "o1"); err == nil && n.Sent > 0 {
				sawNotification.Store(true)
				break
			}
		}
		// Long enough for a saga whose end did not wait for the
		// confirmation to be seen completed with its order pending.
		time.Sleep(200 * time.Millisecond)
	})
	e.start(t, "s1", input("o1", "u1", order.TokenOK, 1))
	require.Equal(t, saga.StatusCompleted, e.finish(t, "s1").Status)
	require.True(t, sawNotification.Load(), "the notification was stored before the confirmation's appends")
	require.Equal(t, order.StatusConfirmed, load(t, e.parts.Orders, "o1").Status, "confirmed before the saga's end")
	p := load(t, e.parts.Products, "p1")
	require.Equal(t, int64(1), p.Sold)
	require.Zero(t, p.Reserved)
}
