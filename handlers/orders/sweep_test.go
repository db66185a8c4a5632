package orders_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/handlers/orders"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/sagamodel"
)

// A saga whose process died between a step's start and its reply left no
// command and no timer behind (a step answered at once stores none): the
// sweep finds it idle in the sagas read model and drives it to its end.
func TestSweepFinishesASagaThatLostItsCommand(t *testing.T) {
	e := newHandOverEnv(t)
	ctx := context.Background()
	_, err := e.manager.Start(ctx, "lost", saga.OrderSaga(policy), input("lost", "u1", order.TokenOK, 1), "")
	require.NoError(t, err)
	// The step's timer is gone, and its command is never consumed (no
	// reactor runs here): the saga waits on nothing.
	st, err := e.store.JetStream().Stream(ctx, orders.TimerStream)
	require.NoError(t, err)
	require.NoError(t, st.Purge(ctx))
	projectSagas(t, e, "lost")

	driver, err := orders.NewRunner(e.store)
	require.NoError(t, err)
	t.Cleanup(driver.Close)
	m := driver.Manager()
	n, err := m.Sweep(ctx, e.pool, time.Hour)
	require.NoError(t, err)
	require.Zero(t, n, "not idle for an hour: left alone")
	time.Sleep(20 * time.Millisecond)
	n, err = m.Sweep(ctx, e.pool, 10*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	s := e.finish(t, "lost")
	require.Equal(t, saga.StatusCompleted, s.Status, s.Reason)
	require.Equal(t, 1, load(t, e.parts.Payments, "lost").Charges)
}

// A saga waiting on its own stored timer (its step's timeout) is not lost,
// however long it has been idle: the sweep leaves it to the timer. (Before,
// a slow step was re-issued by every sweep past the step's timeout.)
func TestSweepLeavesASagaWaitingOnItsTimer(t *testing.T) {
	e := newHandOverEnv(t)
	ctx := context.Background()
	long := saga.Policy{Attempts: 3, FirstDelay: time.Second, MaxDelay: time.Second, AttemptTimeout: time.Hour, CompensationTimeout: time.Hour}
	_, err := e.manager.Start(ctx, "waiting", saga.OrderSaga(long), input("waiting", "u1", order.TokenOK, 1), "")
	require.NoError(t, err)
	require.Positive(t, timerMsgs(t, e, "waiting"), "its step's timeout is stored")
	projectSagas(t, e, "waiting")

	driver, err := orders.NewRunner(e.store)
	require.NoError(t, err)
	t.Cleanup(driver.Close)
	m := driver.Manager()
	time.Sleep(20 * time.Millisecond)
	n, err := m.Sweep(ctx, e.pool, 10*time.Millisecond)
	require.NoError(t, err)
	require.Zero(t, n, "idle, but its timer is stored and not due: not lost")
}

// projectSagas runs the sagas projection until the test ends and waits
// until it shows saga id running.
func projectSagas(t *testing.T, e *env, id string) {
	t.Helper()
	ctx := context.Background()
	r := projections.NewRunner(sagamodel.SagasSpec().Live(), e.store.JetStream(), e.pool,
		projections.Config{BatchWait: 5 * time.Millisecond}, nil, nil)
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(pctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.Eventually(t, func() bool {
		var status string
		return e.pool.QueryRow(ctx, `SELECT status FROM sagas WHERE id = $1`, id).Scan(&status) == nil && status == "running"
	}, 10*time.Second, 10*time.Millisecond)
}

// A saga whose history cannot be read does not hold back the others: the
// sweep (oldest first, so it came first every time) re-issues the rest and
// names it. (Before, the sweep stopped at its first error, and re-issued
// none: 'expected 1, actual 0'.)
func TestSweepGoesPastASagaItCannotLoad(t *testing.T) {
	e := newHandOverEnv(t)
	ctx := context.Background()
	for _, id := range []string{"unreadable", "lost"} {
		_, err := e.manager.Start(ctx, id, saga.OrderSaga(policy), input(id, "u1", order.TokenOK, 1), "")
		require.NoError(t, err)
		projectSagas(t, e, id)
	}
	st, err := e.store.JetStream().Stream(ctx, orders.TimerStream)
	require.NoError(t, err)
	require.NoError(t, st.Purge(ctx))
	// An event no decoder takes, on the older saga's subject.
	_, err = e.store.JetStream().Publish(ctx, "saga.unreadable", []byte("not an event"))
	require.NoError(t, err)

	driver, err := orders.NewRunner(e.store)
	require.NoError(t, err)
	t.Cleanup(driver.Close)
	time.Sleep(20 * time.Millisecond)
	n, err := driver.Manager().Sweep(ctx, e.pool, 10*time.Millisecond)
	require.ErrorContains(t, err, "saga unreadable")
	require.Equal(t, 1, n, "the other saga is re-issued")
	s := e.finish(t, "lost")
	require.Equal(t, saga.StatusCompleted, s.Status, s.Reason)
}
