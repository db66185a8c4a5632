package orders_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/handlers/orders"
	"github.com/eventline/eventline/platform/module"
	"github.com/eventline/eventline/platform/reactor"
)

// A process without the saga role (HandOver) sends every command and
// timer away: it keeps nothing of the sagas it started in memory (before,
// each one stayed in its timers map for ever, since none ended there).
func TestAProcessThatDoesNotDriveKeepsNoSagaInMemory(t *testing.T) {
	e := newEnv(t)
	r, err := orders.NewRunner(e.store, orders.HandOver())
	require.NoError(t, err)
	t.Cleanup(r.Close)
	m := r.Manager()
	for i := range 20 {
		_, err := m.Start(context.Background(), fmt.Sprint("handed-", i), saga.OrderSaga(policy),
			input(fmt.Sprint("ho", i), "u1", order.TokenOK, 1), "")
		require.NoError(t, err)
	}
	require.Zero(t, m.Tracked(), "no saga remembered by a process that drives none")
	require.Zero(t, m.Driving())
}

// Close waits for every driver and starts none after: sagas decided while
// it closes are left to the log (the next owner resumes them), never to a
// goroutine that outlives the manager.
func TestCloseLeavesNoDriverBehind(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			_, _ = e.manager.Start(context.Background(), fmt.Sprint("closing-", i), saga.OrderSaga(policy),
				input(fmt.Sprint("co", i), "u1", order.TokenOK, 1), "")
		})
		if i == 10 {
			e.runner.Close()
		}
	}
	wg.Wait()
	require.Zero(t, e.manager.Driving(), "no driver runs once Close returned")
	_, err := e.manager.Start(context.Background(), "after-close", saga.OrderSaga(policy), input("ac", "u1", order.TokenOK, 1), "")
	require.NoError(t, err, "the decision is still recorded")
	require.Zero(t, e.manager.Driving(), "and nothing is driven after Close")
}

// The operator CLI runs a reactor's handler once (eventline reactors
// retry): handling a saga command there records the reply and sends the
// next command on ORDERS_CMD, and drives nothing in the background.
func TestReactorsOutsideServeDriveNothing(t *testing.T) {
	e := newEnv(t)
	handOver, err := orders.NewRunner(e.store, orders.HandOver())
	require.NoError(t, err)
	t.Cleanup(handOver.Close)
	m := handOver.Manager()
	_, err = m.Start(context.Background(), "cli", saga.OrderSaga(policy), input("cli-o", "u1", order.TokenOK, 1), "")
	require.NoError(t, err)

	var users reactor.Reactor
	for _, r := range orders.Module(orders.Config{}).Reactors(module.Deps{Store: e.store}) {
		if r.Name == "orders_users" {
			users = r
		}
	}
	require.NotNil(t, users.Handler)
	s, _, err := m.Sagas().Load(context.Background(), "cli")
	require.NoError(t, err)
	cmds, _ := saga.Outstanding(s)
	require.Len(t, cmds, 1)
	env, err := eventstore.NewEnvelope(orders.CommandV1, orders.CommandMessage{SagaID: "cli", Step: cmds[0].Step, Type: cmds[0].Type,
		Key: cmds[0].Key, Attempt: cmds[0].Attempt, IssuedAt: cmds[0].IssuedAt, Deadline: cmds[0].Deadline, Payload: cmds[0].Payload})
	require.NoError(t, err)
	require.NoError(t, users.Handler(context.Background(), reactor.Event{Attempt: 1, Envelope: env}, nil))

	// The reply is recorded and the next step is waiting for the reactors:
	// nothing here runs it.
	s, _, err = m.Sagas().Load(context.Background(), "cli")
	require.NoError(t, err)
	require.Equal(t, saga.StepStatusCompleted, s.Steps[0].Status)
	require.Never(t, func() bool {
		s, _, err := m.Sagas().Load(context.Background(), "cli")
		return err == nil && s.Steps[1].Status != saga.StepStatusRunning
	}, 500*time.Millisecond, 50*time.Millisecond, "the reservation is left to the reactors, not driven by the CLI")
}

// A timer that fires into a saga that has ended purges whatever of that
// saga's timers is left (stored by another process, or a purge that
// failed), so that SAGA_TIMERS does not pile up stale timers.
func TestATimerFiringIntoAnEndedSagaPurgesItsLeftovers(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	e.start(t, "ended", input("eo", "u1", order.TokenOK, 1))
	require.Equal(t, saga.StatusCompleted, e.finish(t, "ended").Status)
	// Two timers another process stored for it and nobody purged: one
	// scheduled far ahead, one fired now.
	far := saga.Timer{SagaID: "ended", Step: saga.StepProcessPayment, Kind: saga.TimerAttemptTimeout, Attempt: 1, At: time.Now().Add(time.Hour)}
	env, err := eventstore.NewEnvelope(orders.TimerV1, far)
	require.NoError(t, err)
	_, err = e.store.Append(context.Background(), orders.TimerSubject(far), -1, env,
		eventstore.WithScheduleAt(far.At.Truncate(time.Second)), eventstore.WithScheduleTarget(orders.FiredSubject("ended")))
	require.NoError(t, err)
	now := saga.Timer{SagaID: "ended", Step: saga.StepProcessPayment, Kind: saga.TimerRetryDue, Attempt: 2, At: time.Now()}
	env, err = eventstore.NewEnvelope(orders.TimerV1, now)
	require.NoError(t, err)
	_, err = e.store.Append(context.Background(), orders.FiredSubject("ended"), -1, env)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return timerMsgs(t, e, "ended") == 0 }, 10*time.Second, 20*time.Millisecond,
		"the ended saga's stale timers are purged when one fires")
}
