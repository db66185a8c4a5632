package saga_test

import (
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/saga"
)

// reply is a success of the current attempt of step in r's saga.
func (r *run) reply(step string) saga.Reply {
	c := r.lastCmd(step, false)
	return saga.Reply{Step: step, Attempt: c.Attempt, Output: json.RawMessage(`{"by":"` + c.Key + `"}`), Now: r.now}
}

// A batch decides its inputs in turn, each on the state the ones before it
// left: its events are theirs, its state the last one's, its effects the
// last input's.
func TestBatchDecidesItsInputsInTurn(t *testing.T) {
	one, batched := newRun(t), newRun(t)
	var inputs []any
	for _, step := range []string{saga.StepValidateUser, saga.StepReserveInventory, saga.StepCreateOrder, saga.StepProcessPayment} {
		in := one.reply(step)
		inputs = append(inputs, in)
		one.do(in)
	}
	// A stale input in the middle (a duplicate) decides nothing, as alone.
	inputs = append(inputs[:2], append([]any{inputs[1]}, inputs[2:]...)...)
	d := batched.do(saga.Batch(inputs))
	require.Equal(t, one.log, batched.log)
	require.Equal(t, fmt.Sprintf("%#v", one.s), fmt.Sprintf("%#v", batched.s))
	require.Len(t, d.Commands, 1)
	require.Equal(t, saga.StepSendNotification, d.Commands[0].Step, "only the last input's effects")
	require.Equal(t, one.cmds[len(one.cmds)-1], d.Commands[0])

	stale := batched.do(saga.Batch{inputs[0], inputs[1]})
	require.Empty(t, stale.Events, "a batch of stale inputs decides nothing")
}

func TestBatchRefusesWhatItCannotHold(t *testing.T) {
	r := newRun(t)
	for _, b := range []saga.Batch{nil, {}, {saga.Start{SagaID: "s2"}}, {r.reply(saga.StepValidateUser), saga.Batch{}}} {
		_, err := r.try(b)
		require.ErrorIs(t, err, saga.ErrBadBatch, "%#v", b)
	}
	// A domain error of one input fails the batch: nothing is decided.
	_, err := r.try(saga.Batch{r.reply(saga.StepValidateUser), saga.Retry{Now: r.now}})
	require.ErrorIs(t, err, saga.ErrNotRetriable)
	require.Len(t, r.log, 2, "only the start's events")
}

// Passing holds for the completion of a step before the pivot that starts
// the next one, and for nothing else.
func TestPassingDecisions(t *testing.T) {
	r := newRun(t)
	require.False(t, saga.Decision{}.Passing(), "an empty decision")
	for _, step := range []string{saga.StepValidateUser, saga.StepReserveInventory, saga.StepCreateOrder} {
		require.True(t, r.ok(step, false).Passing(), step)
	}
	require.False(t, r.ok(saga.StepProcessPayment, false).Passing(), "the pivot's completion is recorded before what follows it")
	require.False(t, r.ok(saga.StepSendNotification, false).Passing(), "the saga's end")

	f := newRun(t)
	require.False(t, f.fail(saga.StepValidateUser, false, saga.Transient).Passing(), "a failure and its retry")
	require.False(t, f.fire(saga.TimerRetryDue, saga.StepValidateUser).Passing(), "a timer")
	require.True(t, f.ok(saga.StepValidateUser, false).Passing(), "a step done on its second attempt: its retry was recorded")

	c := newRun(t)
	c.okThrough(saga.StepCreateOrder)
	require.False(t, c.fail(saga.StepProcessPayment, false, saga.Permanent).Passing(), "compensation")
	require.False(t, c.ok(saga.StepCreateOrder, true).Passing(), "a compensation's success")
}
