package saga_test

import (
	json "github.com/go-json-experiment/json/v1"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/saga"
)

// Every stale or duplicate input decides nothing: that, with the expected
// sequence of the append, is why redeliveries and late or repeated timers
// never change a saga's history.
func TestStaleInputsDecideNothing(t *testing.T) {
	timer := func(kind saga.TimerKind, step string, attempt int) saga.Fire {
		return saga.Fire{Timer: saga.Timer{SagaID: "s1", Kind: kind, Step: step, Attempt: attempt, At: t0}, Now: t0.Add(time.Hour)}
	}
	reply := func(step string, attempt int, comp bool, f saga.Failure) saga.Reply {
		return saga.Reply{Step: step, Attempt: attempt, Compensation: comp, Failure: f, Output: json.RawMessage(`{}`), Now: t0}
	}
	tests := []struct {
		name  string
		setup func(r *run)
		in    any
	}{
		{"reply for another step", func(*run) {}, reply(reserve, 1, false, "")},
		{"reply for an unknown step", func(*run) {}, reply("nope", 1, false, "")},
		{"reply for a later attempt", func(*run) {}, reply(validate, 2, false, "")},
		{"duplicate reply", func(r *run) { r.ok(validate, false) }, reply(validate, 1, false, "")},
		{"duplicate failure", func(r *run) { r.fail(validate, false, saga.Transient) }, reply(validate, 1, false, saga.Transient)},
		{"reply while a retry waits", func(r *run) { r.fail(validate, false, saga.Transient) }, reply(validate, 2, false, "")},
		{"compensation reply while running", func(*run) {}, reply(validate, 1, true, "")},
		{"action reply while compensating", func(r *run) {
			r.okThrough(create)
			r.fail(pay, false, saga.Permanent)
		}, reply(create, 1, false, "")},
		{"duplicate compensation reply", func(r *run) {
			r.okThrough(create)
			r.fail(pay, false, saga.Permanent)
			r.ok(create, true)
		}, reply(create, 1, true, "")},
		{"compensation reply for an old attempt", func(r *run) {
			r.okThrough(create)
			r.fail(pay, false, saga.Permanent)
			r.fail(create, true, saga.Transient)
			r.fire(saga.TimerCompensationRetryDue, create)
		}, reply(create, 1, true, "")},
		{"timeout of an answered attempt", func(r *run) { r.ok(validate, false) }, timer(saga.TimerAttemptTimeout, validate, 1)},
		{"timeout of an old attempt", func(r *run) {
			r.fail(validate, false, saga.Transient)
			r.fire(saga.TimerRetryDue, validate)
		}, timer(saga.TimerAttemptTimeout, validate, 1)},
		{"timeout fired twice", func(r *run) { r.fire(saga.TimerAttemptTimeout, validate) }, timer(saga.TimerAttemptTimeout, validate, 1)},
		{"retry due fired twice", func(r *run) {
			r.fail(validate, false, saga.Transient)
			r.fire(saga.TimerRetryDue, validate)
		}, timer(saga.TimerRetryDue, validate, 2)},
		{"retry due for another attempt", func(r *run) { r.fail(validate, false, saga.Transient) }, timer(saga.TimerRetryDue, validate, 3)},
		{"retry due with nothing scheduled", func(*run) {}, timer(saga.TimerRetryDue, validate, 1)},
		{"timer of another saga", func(*run) {}, saga.Fire{Timer: saga.Timer{SagaID: "s2", Kind: saga.TimerAttemptTimeout,
			Step: validate, Attempt: 1}, Now: t0}},
		{"timer of an unknown kind", func(*run) {}, timer("cron", validate, 1)},
		{"timer after completion", func(r *run) { r.okThrough(notify) }, timer(saga.TimerAttemptTimeout, notify, 1)},
		{"timer after needs_attention", func(r *run) {
			r.okThrough(pay)
			r.fail(notify, false, saga.Permanent)
		}, timer(saga.TimerAttemptTimeout, notify, 1)},
		{"action timer while compensating", func(r *run) {
			r.okThrough(create)
			r.fail(pay, false, saga.Permanent)
		}, timer(saga.TimerAttemptTimeout, pay, 1)},
		{"compensation timer while running", func(*run) {}, timer(saga.TimerCompensationTimeout, validate, 1)},
		{"compensation timeout of an answered attempt", func(r *run) {
			r.okThrough(create)
			r.fail(pay, false, saga.Permanent)
			r.fail(create, true, saga.Transient)
		}, timer(saga.TimerCompensationTimeout, create, 1)},
		{"compensation retry due fired twice", func(r *run) {
			r.okThrough(create)
			r.fail(pay, false, saga.Permanent)
			r.fail(create, true, saga.Transient)
			r.fire(saga.TimerCompensationRetryDue, create)
		}, timer(saga.TimerCompensationRetryDue, create, 2)},
		{"compensation deadline after the step was compensated", func(r *run) {
			r.okThrough(create)
			r.fail(pay, false, saga.Permanent)
			r.ok(create, true)
		}, timer(saga.TimerCompensationDeadline, create, 1)},
		{"compensation deadline of an earlier round", func(r *run) {
			r.okThrough(create)
			r.fail(pay, false, saga.Permanent)
			r.fail(create, true, saga.Permanent)
			r.do(saga.Retry{Now: r.now})
		}, timer(saga.TimerCompensationDeadline, create, 1)},
		{"compensation deadline after the saga failed", func(r *run) {
			r.okThrough(create)
			r.fail(pay, false, saga.Permanent)
			r.fail(create, true, saga.Permanent)
		}, timer(saga.TimerCompensationDeadline, create, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRun(t)
			tt.setup(r)
			before := r.s
			d, err := saga.Decide(r.s, tt.in)
			require.NoError(t, err)
			require.Equal(t, saga.Decision{}, d)
			require.Equal(t, before, r.s)
		})
	}
}

// A final saga (Status.Final) decides nothing whatever comes: that is why a
// process may answer it from a copy it kept (the process manager's waiters).
func TestFinalSagasDecideNothing(t *testing.T) {
	completed := newRun(t)
	completed.okThrough(notify)
	compensated := newRun(t)
	compensated.okThrough(create)
	compensated.fail(pay, false, saga.Permanent)
	compensated.ok(create, true)
	compensated.ok(reserve, true)
	shortage := newRun(t)
	shortage.okThrough(validate)
	shortage.fail(reserve, false, saga.Permanent)

	var inputs []any
	for _, step := range []string{validate, reserve, create, pay, notify} {
		for attempt := 1; attempt <= 4; attempt++ {
			for _, comp := range []bool{false, true} {
				for _, f := range []saga.Failure{"", saga.Transient, saga.Permanent} {
					inputs = append(inputs, saga.Reply{Step: step, Attempt: attempt, Compensation: comp, Failure: f,
						Output: json.RawMessage(`{}`), Now: t0.Add(time.Hour)})
				}
			}
			for _, kind := range []saga.TimerKind{saga.TimerAttemptTimeout, saga.TimerRetryDue, saga.TimerCompensationTimeout,
				saga.TimerCompensationRetryDue, saga.TimerCompensationDeadline} {
				inputs = append(inputs, saga.Fire{Timer: saga.Timer{SagaID: "s1", Kind: kind, Step: step, Attempt: attempt, At: t0},
					Now: t0.Add(time.Hour)})
			}
		}
	}
	for name, r := range map[string]*run{"completed": completed, "compensated": compensated, "shortage": shortage} {
		require.True(t, r.s.Status.Final(), name)
		for _, in := range inputs {
			d, err := saga.Decide(r.s, in)
			require.NoError(t, err, "%s: %#v", name, in)
			require.Empty(t, d.Events, "%s: %#v", name, in)
		}
		_, err := saga.Decide(r.s, saga.Retry{By: "op", Now: t0})
		require.ErrorIs(t, err, saga.ErrNotRetriable, name)
		_, err = saga.Decide(r.s, saga.Abort{By: "op", Now: t0})
		require.ErrorIs(t, err, saga.ErrNotRunning, name)
	}
	for _, st := range []saga.Status{saga.StatusRunning, saga.StatusCompensating, saga.StatusNeedsAttention, saga.StatusFailed} {
		require.False(t, st.Final(), st)
	}
}
