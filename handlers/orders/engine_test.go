package orders_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/handlers/orders"
)

// timerMsgs returns how many messages SAGA_TIMERS holds for saga id.
func timerMsgs(t *testing.T, e *env, id string) uint64 {
	t.Helper()
	st, err := e.store.JetStream().Stream(context.Background(), orders.TimerStream)
	require.NoError(t, err)
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(orders.TimersOf(id)))
	require.NoError(t, err)
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// An ended saga's timers, scheduled (each attempt's timeout) and fired
// (a retry's), are purged; a running one keeps its own.
func TestEndedSagasLeaveNoTimers(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	slow := saga.Policy{Attempts: 3, FirstDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
		AttemptTimeout: time.Hour, CompensationTimeout: time.Hour}
	for i, token := range []string{order.TokenOK, order.TokenFlaky, order.TokenDeclined} {
		id := fmt.Sprint("s", i)
		_, err := e.manager.Start(context.Background(), id, saga.OrderSaga(slow), input(fmt.Sprint("o", i), "u1", token, 1), "")
		require.NoError(t, err)
		e.finish(t, id)
	}
	// tok_slow's first attempt never answers: the saga waits on its
	// hour-long timeout timer, which must stay.
	_, err := e.manager.Start(context.Background(), "waiting", saga.OrderSaga(slow), input("o9", "u1", order.TokenSlow, 1), "")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return timerMsgs(t, e, "s0")+timerMsgs(t, e, "s1")+timerMsgs(t, e, "s2") == 0
	}, 10*time.Second, 20*time.Millisecond, "the ended sagas' timers are purged")
	require.Eventually(t, func() bool {
		s := load(t, e.manager.Sagas(), "waiting")
		i := s.StepIndex(saga.StepProcessPayment)
		return s.Steps[i].Status == saga.StepStatusRunning && timerMsgs(t, e, "waiting") == 1
	}, 10*time.Second, 20*time.Millisecond, "only the slow payment's timeout is stored: the steps answered at once needed none")
}

// The process manager counts sagas by outcome, step latencies and retries.
func TestMetricsCountSagas(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	r, err := orders.NewRunner(e.store, orders.WithMetrics(reg))
	require.NoError(t, err)
	t.Cleanup(r.Close)
	m := r.Manager()
	t.Cleanup(e.runWith(t, r))
	for i, token := range []string{order.TokenOK, order.TokenFlaky, order.TokenDeclined} {
		id := fmt.Sprint("s", i)
		_, err := m.Start(context.Background(), id, saga.OrderSaga(policy), input(fmt.Sprint("o", i), "u1", token, 1), "")
		require.NoError(t, err)
		e.finish(t, id)
	}
	want := `
# HELP eventline_sagas_total Sagas started and ended, by saga type and event: started, completed, compensated, needs_attention, failed, retried, aborted.
# TYPE eventline_sagas_total counter
eventline_sagas_total{event="compensated",type="create_order"} 1
eventline_sagas_total{event="completed",type="create_order"} 2
eventline_sagas_total{event="started",type="create_order"} 3
# HELP eventline_saga_step_retries_total Retries scheduled, by step and by whether it is a compensation's.
# TYPE eventline_saga_step_retries_total counter
eventline_saga_step_retries_total{compensation="false",step="process_payment"} 2
`
	// A saga's end is counted by its driver once the store has it back,
	// which is just after a reader (finish) may see it there.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NoError(c, testutil.GatherAndCompare(reg, strings.NewReader(want), "eventline_sagas_total", "eventline_saga_step_retries_total"))
		// Every step that completed was observed: validate_user ran in all
		// three sagas, send_notification in the two that completed.
		n, err := testutil.GatherAndCount(reg, "eventline_saga_step_duration_seconds")
		assert.NoError(c, err)
		assert.Equal(c, 6, n, "series: five steps completed, process_payment failed once for good")
	}, 5*time.Second, 10*time.Millisecond)
}

// A saga that ends in the process driving it leaves its caches, and its
// order's aggregates too: the caches hold the sagas in flight. Reads load
// them from the store; a running saga stays cached.
func TestEndedSagasLeaveTheCaches(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, id := range []string{"done", "declined"} {
		token := order.TokenOK
		if id == "declined" {
			token = order.TokenDeclined
		}
		_, err := e.manager.Start(ctx, id, saga.OrderSaga(policy), input(id, "u1", token, 1), "")
		require.NoError(t, err)
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		s, err := e.manager.Await(wctx, id)
		cancel()
		require.NoError(t, err)
		require.True(t, s.Status.Terminal())
		_, _, cached := e.manager.Sagas().Cached(id)
		require.False(t, cached, "saga %s", id)
		_, _, cached = e.parts.Orders.Cached(id)
		require.False(t, cached, "order %s", id)
		_, _, cached = e.parts.Payments.Cached(id)
		require.False(t, cached, "payments of %s", id)
		require.Equal(t, s.Status, load(t, e.manager.Sagas(), id).Status, "read from the store")
	}
	require.Equal(t, order.StatusConfirmed, load(t, e.parts.Orders, "done").Status)

	slow := saga.Policy{Attempts: 3, FirstDelay: 10 * time.Millisecond, AttemptTimeout: time.Hour, CompensationTimeout: time.Hour}
	_, err := e.manager.Start(ctx, "running", saga.OrderSaga(slow), input("running", "u1", order.TokenSlow, 1), "")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s, _, cached := e.manager.Sagas().Cached("running")
		i := s.StepIndex(saga.StepProcessPayment)
		return cached && i >= 0 && s.Steps[i].Status == saga.StepStatusRunning
	}, 10*time.Second, 10*time.Millisecond, "a saga waiting on a step stays cached")
}
