package saga_test

import (
	json "github.com/go-json-experiment/json/v1"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/saga"
)

const (
	validate = saga.StepValidateUser
	reserve  = saga.StepReserveInventory
	create   = saga.StepCreateOrder
	pay      = saga.StepProcessPayment
	notify   = saga.StepSendNotification
)

func TestHappyPath(t *testing.T) {
	r := newRun(t)
	require.Equal(t, saga.StatusRunning, r.s.Status)
	r.okThrough(notify)

	require.Equal(t, saga.StatusCompleted, r.s.Status)
	require.Equal(t, []string{saga.StartedV1,
		saga.StepStartedV1, saga.StepCompletedV1, saga.StepStartedV1, saga.StepCompletedV1,
		saga.StepStartedV1, saga.StepCompletedV1, saga.StepStartedV1, saga.StepCompletedV1,
		saga.StepStartedV1, saga.StepCompletedV1, saga.CompletedV1}, r.types())
	var types, keys []string
	for _, c := range r.cmds {
		types, keys = append(types, c.Type), append(keys, c.Key)
		require.Equal(t, 1, c.Attempt)
		require.Equal(t, t0.Add(10*time.Second), c.Deadline)
	}
	require.Equal(t, []string{"validate_user", "reserve_inventory", "create_order", "process_payment", "send_notification"}, types)
	require.Equal(t, []string{"s1:validate_user", "s1:reserve_inventory", "s1:create_order", "s1:process_payment",
		"s1:send_notification"}, keys)
	for _, st := range r.s.Steps {
		require.Equal(t, saga.StepStatusCompleted, st.Status, st.Name)
		require.Equal(t, 1, st.Action.Attempts, st.Name)
		require.Equal(t, t0, st.StartedAt)
		require.Equal(t, t0, st.FinishedAt)
		require.Equal(t, saga.CompNone, st.Compensation)
	}

	pc := r.lastCmd(pay, false).Payload
	require.Equal(t, "s1", pc.SagaID)
	require.Equal(t, saga.OrderSagaType, pc.SagaType)
	require.JSONEq(t, `{"user_id":"u1","items":[{"product_id":"p1","quantity":1}]}`, string(pc.Input))
	require.Len(t, pc.Outputs, 3, "payment sees the outputs of the three steps before it")
	require.JSONEq(t, `{"by":"s1:create_order"}`, string(pc.Outputs[create]))

	require.Equal(t, []saga.TimerKind{saga.TimerAttemptTimeout, saga.TimerAttemptTimeout, saga.TimerAttemptTimeout,
		saga.TimerAttemptTimeout, saga.TimerAttemptTimeout}, timerKinds(r.timers))
	require.Equal(t, "s1:process_payment:attempt_timeout:1", r.lastTimer(saga.TimerAttemptTimeout, pay).ID())
}

func timerKinds(ts []saga.Timer) []saga.TimerKind {
	out := make([]saga.TimerKind, len(ts))
	for i, tm := range ts {
		out[i] = tm.Kind
	}
	return out
}

func TestDeclinedCompensatesInReverseOrder(t *testing.T) {
	r := newRun(t)
	r.okThrough(create)
	d := r.fail(pay, false, saga.Permanent)
	require.Equal(t, []string{saga.StepFailedV1, saga.CompensationStartedV1}, eventTypes(d.Events))
	require.Equal(t, saga.StatusCompensating, r.s.Status)
	require.Equal(t, saga.StepStatusSkipped, r.stepStatuses()[notify])

	r.ok(create, true)
	r.ok(reserve, true)
	require.Equal(t, saga.StatusCompensated, r.s.Status)
	require.Equal(t, []string{"cancel_order", "release_inventory"}, r.compCommands())
	require.Equal(t, "s1:create_order:compensate", r.lastCmd(create, true).Key)
	require.JSONEq(t, `{"by":"s1:create_order"}`, string(r.lastCmd(create, true).Payload.Outputs[create]),
		"a compensation sees its own step's output")
	require.Equal(t, map[string]saga.StepStatus{validate: saga.StepStatusCompleted, reserve: saga.StepStatusCompensated,
		create: saga.StepStatusCompensated, pay: saga.StepStatusFailed, notify: saga.StepStatusSkipped}, r.stepStatuses())
	require.Equal(t, "permanent failure", r.s.Steps[3].Action.Error)
	require.Equal(t, saga.CompDone, r.s.Steps[1].Compensation)
	require.Equal(t, saga.CompNone, r.s.Steps[0].Compensation, "validate_user has nothing to undo")
}

func TestShortageCompensatesNothingButEndsCompensated(t *testing.T) {
	r := newRun(t)
	r.okThrough(validate)
	d := r.fail(reserve, false, saga.Permanent)
	require.Equal(t, []string{saga.StepFailedV1, saga.CompensatedV1}, eventTypes(d.Events))
	require.Empty(t, d.Commands)
	require.Equal(t, saga.StatusCompensated, r.s.Status)
	require.Empty(t, r.compCommands())
	require.Equal(t, map[string]saga.StepStatus{validate: saga.StepStatusCompleted, reserve: saga.StepStatusFailed,
		create: saga.StepStatusSkipped, pay: saga.StepStatusSkipped, notify: saga.StepStatusSkipped}, r.stepStatuses())
}

func TestTransientFailuresRetryWithBackoffAndJitter(t *testing.T) {
	r := newRun(t)
	r.jitter = 0.5 // takes 0.5*0.5 = 25% off each delay
	r.okThrough(create)
	d := r.fail(pay, false, saga.Transient)
	require.Equal(t, []string{saga.StepFailedV1, saga.RetryScheduledV1}, eventTypes(d.Events))
	require.Equal(t, []saga.Timer{{SagaID: "s1", Kind: saga.TimerRetryDue, Step: pay, Attempt: 2, At: t0.Add(750 * time.Millisecond)}},
		d.Timers)
	require.Empty(t, d.Commands, "the retry is sent when its timer fires")
	require.Equal(t, saga.StepStatusRunning, r.stepStatuses()[pay])

	d = r.fire(saga.TimerRetryDue, pay)
	require.Equal(t, 2, d.Commands[0].Attempt)
	require.Equal(t, "s1:process_payment", d.Commands[0].Key, "every attempt carries the same key")
	d = r.fail(pay, false, saga.Transient)
	require.Equal(t, r.now.Add(1500*time.Millisecond), d.Timers[0].At, "the second retry waits twice as long")
	r.fire(saga.TimerRetryDue, pay)
	r.ok(pay, false)
	r.ok(notify, false)

	require.Equal(t, saga.StatusCompleted, r.s.Status)
	require.Equal(t, 3, r.s.Steps[3].Action.Attempts)
	require.Equal(t, 1, r.count(saga.StepCompletedV1, pay))
	require.Equal(t, t0, r.s.Steps[3].StartedAt, "started_at is the first attempt's")
}

func TestTransientFailuresSpentBeforeThePivotCompensate(t *testing.T) {
	r := newRun(t)
	r.okThrough(create)
	for range 2 {
		r.fail(pay, false, saga.Transient)
		r.fire(saga.TimerRetryDue, pay)
	}
	d := r.fail(pay, false, saga.Transient)
	require.True(t, d.Events[0].Data.(*saga.StepFailed).Final)
	require.Equal(t, saga.StatusCompensating, r.s.Status)
	r.ok(create, true)
	r.ok(reserve, true)
	require.Equal(t, saga.StatusCompensated, r.s.Status)
	require.Equal(t, 3, r.s.Steps[3].Action.Attempts)
}

func TestTimeoutThenSuccessChargesOnce(t *testing.T) {
	r := newRun(t)
	r.okThrough(create)
	first := r.lastCmd(pay, false)
	d := r.fire(saga.TimerAttemptTimeout, pay)
	require.Equal(t, []string{saga.StepTimedOutV1, saga.RetryScheduledV1}, eventTypes(d.Events))
	require.True(t, r.s.Steps[3].Uncertain)
	r.fire(saga.TimerRetryDue, pay)
	second := r.lastCmd(pay, false)
	require.Equal(t, first.Key, second.Key, "the participant dedupes the retry on its key: one charge")
	require.Equal(t, 2, second.Attempt)

	// The timed-out attempt's late reply is stale, whatever it says.
	for _, f := range []saga.Failure{"", saga.Transient, saga.Permanent} {
		d = r.do(saga.Reply{Step: pay, Attempt: 1, Failure: f, Output: json.RawMessage(`{}`), Now: r.now})
		require.Empty(t, d.Events)
	}
	r.ok(pay, false)
	r.ok(notify, false)
	require.Equal(t, saga.StatusCompleted, r.s.Status)
	require.Equal(t, 1, r.count(saga.StepCompletedV1, pay), "exactly one pivot success recorded")
	require.Equal(t, 2, r.s.Steps[3].Action.Attempts)
}

func TestPivotWithUnknownOutcomeNeedsAttention(t *testing.T) {
	r := newRun(t)
	r.okThrough(create)
	r.fire(saga.TimerAttemptTimeout, pay)
	r.fire(saga.TimerRetryDue, pay)
	r.fail(pay, false, saga.Transient)
	r.fire(saga.TimerRetryDue, pay)
	r.fire(saga.TimerAttemptTimeout, pay)
	require.Equal(t, saga.StatusNeedsAttention, r.s.Status, "a charge may have happened: no refund, no release")
	require.Empty(t, r.compCommands())
	require.Contains(t, r.s.Reason, "unknown outcome")

	_, err := r.try(saga.Abort{Now: r.now})
	require.ErrorIs(t, err, saga.ErrNotRunning)
	r.do(saga.Retry{By: "ops", Now: r.now})
	require.Equal(t, 4, r.lastCmd(pay, false).Attempt)
	r.ok(pay, false)
	r.ok(notify, false)
	require.Equal(t, saga.StatusCompleted, r.s.Status)
}

func TestPivotDeclinedAfterATimeoutCompensates(t *testing.T) {
	r := newRun(t)
	r.okThrough(create)
	r.fire(saga.TimerAttemptTimeout, pay)
	r.fire(saga.TimerRetryDue, pay)
	r.fail(pay, false, saga.Permanent) // the answer for the key: declined, nothing charged
	require.Equal(t, saga.StatusCompensating, r.s.Status)
	r.ok(create, true)
	r.ok(reserve, true)
	require.Equal(t, saga.StatusCompensated, r.s.Status)
	require.Equal(t, []string{"cancel_order", "release_inventory"}, r.compCommands())
}

func TestAfterThePivotNotificationNeedsAttention(t *testing.T) {
	tests := []struct {
		name  string
		drive func(r *run)
	}{
		{"permanent failure", func(r *run) { r.fail(notify, false, saga.Permanent) }},
		{"attempts spent", func(r *run) {
			r.fail(notify, false, saga.Transient)
			r.fire(saga.TimerRetryDue, notify)
			r.fire(saga.TimerAttemptTimeout, notify)
			r.fire(saga.TimerRetryDue, notify)
			r.fail(notify, false, saga.Transient)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t)
			r.okThrough(pay)
			tt.drive(r)
			require.Equal(t, saga.StatusNeedsAttention, r.s.Status)
			require.Equal(t, saga.StepStatusFailed, r.stepStatuses()[notify])
			require.Equal(t, saga.StepStatusCompleted, r.stepStatuses()[pay], "the order stays paid")
			require.Empty(t, r.compCommands(), "no refund, no compensation")
			require.True(t, r.s.Status.Terminal())

			_, err := r.try(saga.Abort{Now: r.now})
			require.ErrorIs(t, err, saga.ErrNotRunning)

			// An operator's retry resumes the notification with a new budget.
			attempts := r.s.Steps[4].Action.Attempts
			d := r.do(saga.Retry{By: "ops", Reason: "mailbox fixed", Now: r.now})
			require.Equal(t, []string{saga.RetriedV1, saga.StepStartedV1}, eventTypes(d.Events))
			require.Equal(t, attempts+1, d.Commands[0].Attempt)
			require.Equal(t, saga.StatusRunning, r.s.Status)
			require.Empty(t, r.s.Reason)
			r.fail(notify, false, saga.Transient) // the new round has its own attempts
			r.fire(saga.TimerRetryDue, notify)
			r.ok(notify, false)
			require.Equal(t, saga.StatusCompleted, r.s.Status)
			require.Equal(t, attempts+2, r.s.Steps[4].Action.Attempts)
		})
	}
}

func TestCompensationFailingPastItsTimeoutFailsThenRetryResumes(t *testing.T) {
	r := newRun(t)
	r.okThrough(create)
	r.fail(pay, false, saga.Permanent)
	giveUp := r.s.Steps[2].GiveUpAt
	require.Equal(t, t0.Add(30*time.Second), giveUp)

	// Delays 1s, 2s, 4s, 4s, ... until the next retry would start past 30s;
	// every attempt times out after 10s.
	for r.s.Status == saga.StatusCompensating {
		d := r.fire(saga.TimerCompensationTimeout, create)
		if r.s.Status != saga.StatusCompensating {
			require.Equal(t, []string{saga.CompensationFailedV1, saga.FailedV1}, eventTypes(d.Events))
			break
		}
		r.fire(saga.TimerCompensationRetryDue, create)
	}
	require.Equal(t, saga.StatusFailed, r.s.Status)
	require.Equal(t, saga.CompFailed, r.s.Steps[2].Compensation)
	require.Equal(t, saga.StepStatusCompensating, r.stepStatuses()[create])
	require.Equal(t, saga.StepStatusCompleted, r.stepStatuses()[reserve], "reserve was not compensated yet")
	require.Contains(t, r.s.Reason, "kept failing")
	require.Equal(t, 3, r.s.Steps[2].Comp.Attempts)

	// Stale timers of the failed round decide nothing.
	d := r.fire(saga.TimerCompensationDeadline, create)
	require.Empty(t, d.Events)

	d = r.do(saga.Retry{By: "ops", Now: r.now})
	require.Equal(t, []string{saga.RetriedV1, saga.CompensationStartedV1}, eventTypes(d.Events))
	require.Equal(t, 4, d.Commands[0].Attempt)
	require.Equal(t, r.now.Add(30*time.Second), r.s.Steps[2].GiveUpAt, "a new round, a new deadline")
	require.Equal(t, saga.StatusCompensating, r.s.Status)
	r.ok(create, true)
	r.ok(reserve, true)
	require.Equal(t, saga.StatusCompensated, r.s.Status)
	require.Equal(t, []string{"cancel_order", "cancel_order", "cancel_order", "cancel_order", "release_inventory"}, r.compCommands())
}

func TestCompensationPermanentFailureFailsAtOnce(t *testing.T) {
	r := newRun(t)
	r.okThrough(create)
	r.fail(pay, false, saga.Permanent)
	d := r.fail(create, true, saga.Permanent)
	require.Equal(t, []string{saga.CompensationFailedV1, saga.FailedV1}, eventTypes(d.Events))
	require.Equal(t, saga.StatusFailed, r.s.Status)
}

func TestCompensationDeadlineFailsAnAttemptStillInFlight(t *testing.T) {
	r := newRun(t)
	r.okThrough(create)
	r.fail(pay, false, saga.Permanent)
	r.fail(create, true, saga.Transient)
	r.fire(saga.TimerCompensationRetryDue, create)
	d := r.fire(saga.TimerCompensationDeadline, create)
	require.Equal(t, []string{saga.FailedV1}, eventTypes(d.Events))
	require.Equal(t, saga.StatusFailed, r.s.Status)
	d = r.ok(create, true) // too late
	require.Empty(t, d.Events)
}

func TestAbort(t *testing.T) {
	tests := []struct {
		name    string
		drive   func(r *run)
		comps   []string
		wantErr error
	}{
		{"at the first step: nothing to undo", func(*run) {}, nil, nil},
		{"with create_order in flight: its outcome is unknown, so it is undone too", func(r *run) { r.okThrough(reserve) },
			[]string{"cancel_order", "release_inventory"}, nil},
		{"while create_order waits for a retry after a transient failure", func(r *run) {
			r.okThrough(reserve)
			r.fail(create, false, saga.Transient)
		}, []string{"release_inventory"}, nil},
		{"after create_order timed out", func(r *run) {
			r.okThrough(reserve)
			r.fire(saga.TimerAttemptTimeout, create)
		}, []string{"cancel_order", "release_inventory"}, nil},
		{"once the pivot started", func(r *run) { r.okThrough(create) }, nil, saga.ErrAbortRefused},
		{"after the pivot", func(r *run) { r.okThrough(pay) }, nil, saga.ErrAbortRefused},
		{"when completed", func(r *run) { r.okThrough(notify) }, nil, saga.ErrNotRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t)
			tt.drive(r)
			_, err := r.try(saga.Abort{By: "ops", Reason: "customer called", Now: r.now})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.True(t, r.s.Aborted)
			for r.s.Status == saga.StatusCompensating {
				r.ok(r.s.Steps[r.s.Current].Name, true)
			}
			require.Equal(t, saga.StatusCompensated, r.s.Status)
			require.Equal(t, tt.comps, r.compCommands())
			for _, c := range r.cmds {
				d := r.do(saga.Reply{Step: c.Step, Attempt: c.Attempt, Output: json.RawMessage(`{}`), Now: r.now})
				require.Empty(t, d.Events, "a late reply after the abort is stale")
			}
		})
	}
}

func TestDomainErrors(t *testing.T) {
	def := saga.OrderSaga(testPolicy())
	r := newRun(t)
	tests := []struct {
		name string
		s    saga.State
		in   any
		want error
	}{
		{"reply to no saga", saga.State{}, saga.Reply{Step: validate, Attempt: 1}, saga.ErrNoSaga},
		{"start twice", r.s, saga.Start{SagaID: "s1", Definition: def, Now: t0}, saga.ErrAlreadyStarted},
		{"invalid definition", saga.State{}, saga.Start{SagaID: "s2", Definition: saga.Definition{Type: "x"}}, saga.ErrInvalidDefinition},
		{"invalid input", saga.State{}, saga.Start{SagaID: "s2", Definition: def, Input: json.RawMessage(`{`)}, saga.ErrInvalidInput},
		{"invalid output", r.s, saga.Reply{Step: validate, Attempt: 1, Output: json.RawMessage(`nope`)}, saga.ErrInvalidInput},
		{"retry a running saga", r.s, saga.Retry{}, saga.ErrNotRetriable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := saga.Decide(tt.s, tt.in)
			require.ErrorIs(t, err, tt.want)
			require.Empty(t, d.Events)
		})
	}
	_, err := saga.Decide(r.s, "what")
	require.ErrorContains(t, err, "unknown input string")

	d, err := saga.Decide(saga.State{}, saga.Start{SagaID: "s3", Definition: def, Now: t0})
	require.NoError(t, err)
	require.JSONEq(t, `{}`, string(d.Events[0].Data.(*saga.Started).Input), "no input is an empty object")
}

func eventTypes(evs []saga.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// Retry on a running saga whose step waits for its retry's delay starts
// that attempt now (recorded); the delay's timer, firing later, decides
// nothing. While an attempt is in flight there is nothing to retry now.
func TestRetryNowSkipsTheWait(t *testing.T) {
	r := newRun(t)
	r.okThrough(create)
	r.fail(pay, false, saga.Transient)
	require.False(t, r.s.Steps[3].Action.RetryAt.IsZero(), "a retry is scheduled")
	due := r.s.Steps[3].Action.Attempt

	d := r.do(saga.Retry{By: "ops", Reason: "card fixed", Now: r.now})
	require.Equal(t, []string{saga.RetriedV1, saga.StepStartedV1}, eventTypes(d.Events))
	require.True(t, d.Events[0].Data.(*saga.Retried).Now)
	require.Equal(t, due, d.Commands[0].Attempt, "the attempt that was due, not a new one")
	require.Equal(t, saga.StatusRunning, r.s.Status)
	require.Empty(t, r.fire(saga.TimerRetryDue, pay).Events, "the delay's timer decides nothing")

	_, err := r.try(saga.Retry{By: "ops", Now: r.now})
	require.ErrorIs(t, err, saga.ErrNotRetriable)
	require.ErrorContains(t, err, "in flight")
	r.ok(pay, false)
	r.ok(notify, false)
	require.Equal(t, saga.StatusCompleted, r.s.Status)
}

// The same for a compensation waiting for its retry's delay.
func TestRetryNowSkipsACompensationsWait(t *testing.T) {
	r := newRun(t)
	r.okThrough(create)
	r.fail(pay, false, saga.Permanent)
	r.fail(create, true, saga.Transient)
	require.False(t, r.s.Steps[2].Comp.RetryAt.IsZero())
	d := r.do(saga.Retry{By: "ops", Now: r.now})
	require.Equal(t, []string{saga.RetriedV1, saga.CompensationStartedV1}, eventTypes(d.Events))
	r.ok(create, true)
	r.ok(reserve, true)
	require.Equal(t, saga.StatusCompensated, r.s.Status)
	require.Equal(t, "process_payment failed: permanent failure", r.s.Reason, "a compensated saga says why")
	require.Equal(t, r.now, r.s.Steps[2].CompensatedAt)
}

// An operator marks a failed step after the pivot resolved, with a
// reason: the step is resolved (who and why kept) and the saga completes.
// Elsewhere the engine refuses, saying why.
func TestResolveAStepAfterThePivot(t *testing.T) {
	r := newRun(t)
	r.okThrough(pay)
	r.fail(notify, false, saga.Permanent)
	require.Equal(t, saga.StatusNeedsAttention, r.s.Status)

	_, err := r.try(saga.Resolve{By: "ops", Now: r.now})
	require.ErrorIs(t, err, saga.ErrNotResolvable, "a reason is required")
	_, err = r.try(saga.Resolve{Step: pay, By: "ops", Reason: "x", Now: r.now})
	require.ErrorIs(t, err, saga.ErrNotResolvable, "not the step that stopped")

	d := r.do(saga.Resolve{Step: notify, By: "ops", Reason: "customer called", Now: r.now})
	require.Equal(t, []string{saga.ResolvedV1, saga.CompletedV1}, eventTypes(d.Events))
	require.Empty(t, d.Commands)
	require.Equal(t, saga.StatusCompleted, r.s.Status)
	st := r.s.Steps[4]
	require.Equal(t, saga.StepStatusResolved, st.Status)
	require.Equal(t, "ops", st.ResolvedBy)
	require.Equal(t, "customer called", st.Resolution)
	require.Empty(t, r.s.Reason)

	_, err = r.try(saga.Resolve{By: "ops", Reason: "again", Now: r.now})
	require.ErrorIs(t, err, saga.ErrNotResolvable, "a completed saga")

	// A pivot with an unknown outcome needs attention too, but is not
	// after the pivot: it is retried, not resolved.
	p := newRun(t)
	p.okThrough(create)
	for p.s.Status == saga.StatusRunning {
		p.fire(saga.TimerAttemptTimeout, pay)
		if p.s.Status == saga.StatusRunning {
			p.fire(saga.TimerRetryDue, pay)
		}
	}
	require.Equal(t, saga.StatusNeedsAttention, p.s.Status)
	_, err = p.try(saga.Resolve{By: "ops", Reason: "paid", Now: p.now})
	require.ErrorIs(t, err, saga.ErrNotResolvable)
	require.ErrorContains(t, err, "pivot")
}
