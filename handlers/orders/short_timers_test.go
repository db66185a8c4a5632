package orders_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
)

// A sub-second retry delay keeps its time: JetStream schedules fire on
// whole seconds, so a retry due at 12:00:00.150 used to start at
// 12:00:01 or later; fired from memory as well, it starts before the
// schedule's whole second. The check compares recorded times (the retry's
// due time, the attempt's start), not the test's clock.
func TestSubSecondRetryDelayKeepsItsTime(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	p := policy
	p.FirstDelay, p.MaxDelay, p.Jitter = 100*time.Millisecond, 100*time.Millisecond, 0
	_, err := e.manager.Start(context.Background(), "st1", saga.OrderSaga(p), input("st1", "u1", order.TokenFlaky, 1), "")
	require.NoError(t, err)
	require.Equal(t, saga.StatusCompleted, e.finish(t, "st1").Status)

	var due time.Time
	conclusive := 0
	for _, ev := range e.history(t, "st1") {
		data, err := saga.Events()[ev.Envelope.Type](ev.Envelope.Data)
		require.NoError(t, err)
		for _, x := range saga.Flatten(ev.Envelope.Type, data) {
			switch d := x.Data.(type) {
			case *saga.RetryScheduled:
				due = d.Due
			case *saga.StepStarted:
				if due.IsZero() {
					continue
				}
				whole := due.Truncate(time.Second).Add(time.Second) // where the schedule alone fires
				if whole.Sub(due) >= 50*time.Millisecond {
					conclusive++
					require.True(t, d.At.Before(whole), "attempt %d of %s started at %s, due %s: it waited for the schedule's whole second",
						d.Attempt, d.Step, d.At.Format("15:04:05.000"), due.Format("15:04:05.000"))
				}
				due = time.Time{}
			}
		}
	}
	require.Positive(t, conclusive, "tok_flaky retries twice")
}
