package orders_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/handlers/orders"
	"github.com/eventline/eventline/platform/reactor"
)

// gatedReactors are the reactors of e's (hand-over) runner, with the
// commands whose subject starts with a closed gate's prefix failing: a
// participant that is down.
func (e *env) gatedReactors(t *testing.T, prefix string, closed *atomic.Bool) {
	t.Helper()
	rs := e.runner.Reactors(fastPolicy)
	for i := range rs {
		h := rs[i].Handler
		rs[i].Handler = func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
			if closed.Load() && strings.HasPrefix(ev.Subject, prefix) {
				return errors.New("participant down")
			}
			return h(ctx, ev, fx)
		}
	}
	rt, err := reactor.NewRuntime(e.store, e.pool, rs, reactor.Config{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// until waits for saga id to satisfy ok.
func (e *env) until(t *testing.T, id string, ok func(saga.State) bool) saga.State {
	t.Helper()
	var s saga.State
	require.Eventually(t, func() bool {
		s = load(t, e.manager.Sagas(), id)
		return ok(s)
	}, 30*time.Second, 20*time.Millisecond, "saga %s", id)
	return s
}

// A compensation whose participant is down past the compensation timeout
// leaves the saga failed; once the participant is back, an operator's
// retry over HTTP resumes the compensation and the stock comes back.
func TestCompensationFailureThenRetry(t *testing.T) {
	e := newHandOverEnv(t)
	srv := e.api(t)
	var down atomic.Bool
	e.gatedReactors(t, orders.CommandSubject(saga.CommandReleaseInventory, ""), &down)
	down.Store(true)
	short := saga.Policy{Attempts: 2, FirstDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond,
		AttemptTimeout: time.Second, CompensationTimeout: 2 * time.Second}
	_, err := e.manager.Start(context.Background(), "f1", saga.OrderSaga(short), input("f1", "u1", order.TokenDeclined, 2), "")
	require.NoError(t, err)

	s := e.finish(t, "f1")
	require.Equal(t, saga.StatusFailed, s.Status, s.Reason)
	require.Equal(t, saga.StepStatusCompensated, s.Steps[s.StepIndex(saga.StepCreateOrder)].Status)
	require.Equal(t, int64(2), load(t, e.parts.Products, "p1").Reserved, "the release never ran")

	code, v := call(t, "POST", srv.URL+"/api/sagas/f1/abort", "", "")
	require.Equal(t, http.StatusConflict, code, "a failed saga cannot be aborted: %v", v)
	down.Store(false)
	code, v = call(t, "POST", srv.URL+"/api/sagas/f1/retry", "", "")
	require.Equal(t, http.StatusAccepted, code, v)
	s = e.finish(t, "f1")
	require.Equal(t, saga.StatusCompensated, s.Status, s.Reason)
	require.Equal(t, saga.StepStatusCompensated, s.Steps[s.StepIndex(saga.StepReserveInventory)].Status)
	p := load(t, e.parts.Products, "p1")
	require.Zero(t, p.Reserved)
	require.Equal(t, int64(40), p.Stock)
	require.Equal(t, order.StatusCancelled, load(t, e.parts.Orders, "f1").Status)
	code, _ = call(t, "POST", srv.URL+"/api/sagas/f1/retry", "", "")
	require.Equal(t, http.StatusConflict, code, "a compensated saga has nothing to retry")
}

// An operator aborts a saga stuck before its pivot (its create_order
// participant is down): what was done is compensated, nothing is charged.
func TestAbortCompensatesBeforeThePivot(t *testing.T) {
	e := newHandOverEnv(t)
	srv := e.api(t)
	var down atomic.Bool
	down.Store(true)
	e.gatedReactors(t, orders.CommandSubject(saga.CommandCreateOrder, ""), &down)
	long := saga.Policy{Attempts: 3, FirstDelay: 10 * time.Millisecond, AttemptTimeout: time.Hour, CompensationTimeout: time.Hour}
	_, err := e.manager.Start(context.Background(), "a1", saga.OrderSaga(long), input("a1", "u1", order.TokenOK, 3), "")
	require.NoError(t, err)
	e.until(t, "a1", func(s saga.State) bool {
		return s.Steps[s.StepIndex(saga.StepReserveInventory)].Status == saga.StepStatusCompleted
	})
	require.Equal(t, int64(3), load(t, e.parts.Products, "p1").Reserved)

	code, v := call(t, "POST", srv.URL+"/api/sagas/a1/abort", "", "")
	require.Equal(t, http.StatusAccepted, code, v)
	s := e.finish(t, "a1")
	require.Equal(t, saga.StatusCompensated, s.Status, s.Reason)
	require.True(t, s.Aborted)
	require.Zero(t, load(t, e.parts.Products, "p1").Reserved)
	require.Zero(t, load(t, e.parts.Payments, "a1").Charges)
}

// A saga that needs attention (its notification bounced) is retried by an
// operator: the notification is sent again, and fails again for good.
func TestRetryNeedsAttention(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	srv := e.api(t)
	e.start(t, "n1", input("n1", "bounce", order.TokenOK, 1))
	s := e.finish(t, "n1")
	require.Equal(t, saga.StatusNeedsAttention, s.Status)
	before := s.Steps[s.StepIndex(saga.StepSendNotification)].Action.Attempts

	code, v := call(t, "POST", srv.URL+"/api/sagas/n1/retry", "", "")
	require.Equal(t, http.StatusAccepted, code, v)
	s = e.until(t, "n1", func(s saga.State) bool {
		return s.Status == saga.StatusNeedsAttention && s.Steps[s.StepIndex(saga.StepSendNotification)].Action.Attempts > before
	})
	require.Equal(t, order.StatusConfirmed, load(t, e.parts.Orders, "n1").Status, "the order stays confirmed")
	require.Equal(t, 1, load(t, e.parts.Payments, "n1").Charges, "never refunded, never charged twice")
}
