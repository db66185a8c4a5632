package saga_test

import (
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/saga"
)

var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

// testPolicy is short and round so that times in tests are easy to check.
func testPolicy() saga.Policy {
	return saga.Policy{Attempts: 3, FirstDelay: time.Second, MaxDelay: 4 * time.Second, Jitter: 0.5,
		AttemptTimeout: 10 * time.Second, CompensationTimeout: 30 * time.Second}
}

// run drives one order saga through Decide and Evolve as the process
// manager would: every event goes through JSON and the decode table, and
// every decision's effects must be what Effects derives from its events.
type run struct {
	t      *testing.T
	s      saga.State
	now    time.Time
	jitter float64
	log    []saga.Event
	cmds   []saga.Command
	timers []saga.Timer
}

func newRun(t *testing.T) *run {
	t.Helper()
	r := &run{t: t, now: t0}
	r.do(saga.Start{SagaID: "s1", Definition: saga.OrderSaga(testPolicy()),
		Input: json.RawMessage(`{"user_id":"u1","items":[{"product_id":"p1","quantity":1}]}`), Now: t0})
	return r
}

// do decides in at the run's clock and folds the decision in; it fails the
// test on a domain error.
func (r *run) do(in any) saga.Decision {
	r.t.Helper()
	d, err := r.try(in)
	require.NoError(r.t, err)
	return d
}

func (r *run) try(in any) (saga.Decision, error) {
	r.t.Helper()
	given := fmt.Sprintf("%#v", r.s)
	d, err := saga.Decide(r.s, in)
	require.Equal(r.t, given, fmt.Sprintf("%#v", r.s), "Decide changed the state it was given")
	if err != nil {
		require.Empty(r.t, d.Events)
		return d, err
	}
	// The decision as the process manager stores it: one event, packed
	// when it has several, must fold to the same state.
	viaPack := r.s
	if len(d.Events) > 0 {
		packed := saga.Pack(d.Events)
		pb, err := json.Marshal(packed.Data)
		require.NoError(r.t, err)
		pv, err := saga.Events()[packed.Type](pb)
		require.NoError(r.t, err)
		require.Equal(r.t, d.Events, saga.Flatten(packed.Type, pv), "Flatten(Pack) gives the decision back")
		untouched := fmt.Sprintf("%#v", r.s)
		viaPack = saga.Evolve(r.s, packed.Type, pv)
		require.Equal(r.t, untouched, fmt.Sprintf("%#v", r.s), "Evolve of a packed decision changed its input")
		owned := r.s
		owned.Steps = slices.Clone(r.s.Steps)
		owned = saga.EvolveOwned(owned, packed.Type, pv)
		require.Equal(r.t, fmt.Sprintf("%#v", viaPack), fmt.Sprintf("%#v", owned), "EvolveOwned folds like Evolve")
	}
	var decoded []saga.Event
	for _, ev := range d.Events {
		b, err := json.Marshal(ev.Data)
		require.NoError(r.t, err)
		dec, ok := saga.Events()[ev.Type]
		require.True(r.t, ok, ev.Type)
		v, err := dec(b)
		require.NoError(r.t, err)
		require.Equal(r.t, ev.Data, v, "%s survives its JSON round trip", ev.Type)
		before := fmt.Sprintf("%#v", r.s)
		next := saga.Evolve(r.s, ev.Type, v)
		require.Equal(r.t, before, fmt.Sprintf("%#v", r.s), "Evolve changed its input")
		r.s = next
		decoded = append(decoded, saga.Event{Type: ev.Type, Data: v})
	}
	require.Equal(r.t, fmt.Sprintf("%#v", r.s), fmt.Sprintf("%#v", viaPack), "the packed decision folds like its events")
	if len(d.Events) > 0 {
		require.Equal(r.t, fmt.Sprintf("%#v", r.s), fmt.Sprintf("%#v", d.State), "Decision.State is the state after its events")
	} else {
		require.Equal(r.t, saga.Decision{}, d, "a decision of nothing is empty")
	}
	if _, batch := in.(saga.Batch); !batch { // a batch's effects are its last input's (TestBatchDecidesItsInputsInTurn)
		cmds, timers := saga.Effects(r.s, decoded)
		require.Equal(r.t, cmds, d.Commands)
		require.Equal(r.t, timers, d.Timers)
	}
	for _, c := range d.Commands {
		require.True(r.t, c.IssuedAt.Equal(r.now), "a command is issued when its attempt starts: %v", c.IssuedAt)
	}
	r.log = append(r.log, d.Events...)
	r.cmds = append(r.cmds, d.Commands...)
	r.timers = append(r.timers, d.Timers...)
	r.checkOutstanding()
	return d, nil
}

// lastCmd returns the last command sent for step (its compensation when
// comp).
func (r *run) lastCmd(step string, comp bool) saga.Command {
	r.t.Helper()
	for i := len(r.cmds) - 1; i >= 0; i-- {
		if c := r.cmds[i]; c.Step == step && c.Compensation == comp {
			return c
		}
	}
	r.t.Fatalf("no command for %s (compensation %v)", step, comp)
	return saga.Command{}
}

// lastTimer returns the last timer of kind scheduled for step.
func (r *run) lastTimer(kind saga.TimerKind, step string) saga.Timer {
	r.t.Helper()
	for i := len(r.timers) - 1; i >= 0; i-- {
		if tm := r.timers[i]; tm.Kind == kind && tm.Step == step {
			return tm
		}
	}
	r.t.Fatalf("no %s timer for %s", kind, step)
	return saga.Timer{}
}

// ok answers the last command of step (or of its compensation) with success.
func (r *run) ok(step string, comp bool) saga.Decision {
	r.t.Helper()
	c := r.lastCmd(step, comp)
	return r.do(saga.Reply{Step: step, Attempt: c.Attempt, Compensation: comp,
		Output: json.RawMessage(`{"by":"` + c.Key + `"}`), Now: r.now, Jitter: r.jitter})
}

// fail answers the last command of step (or of its compensation) with a
// failure.
func (r *run) fail(step string, comp bool, f saga.Failure) saga.Decision {
	r.t.Helper()
	c := r.lastCmd(step, comp)
	return r.do(saga.Reply{Step: step, Attempt: c.Attempt, Compensation: comp, Failure: f,
		Error: string(f) + " failure", Now: r.now, Jitter: r.jitter})
}

// fire moves the clock to the last timer of kind for step and fires it.
func (r *run) fire(kind saga.TimerKind, step string) saga.Decision {
	r.t.Helper()
	tm := r.lastTimer(kind, step)
	r.now = tm.At
	return r.do(saga.Fire{Timer: tm, Now: r.now, Jitter: r.jitter})
}

// okThrough answers the order saga's steps with success up to and
// including step.
func (r *run) okThrough(step string) {
	r.t.Helper()
	for _, st := range r.s.Definition.Steps {
		r.ok(st.Name, false)
		if st.Name == step {
			return
		}
	}
}

// types lists the types of the events recorded so far.
func (r *run) types() []string {
	out := make([]string, len(r.log))
	for i, e := range r.log {
		out[i] = e.Type
	}
	return out
}

// stepStatuses maps each step to its status.
func (r *run) stepStatuses() map[string]saga.StepStatus {
	out := map[string]saga.StepStatus{}
	for _, st := range r.s.Steps {
		out[st.Name] = st.Status
	}
	return out
}

// compCommands lists the compensation commands sent, in order.
func (r *run) compCommands() []string {
	var out []string
	for _, c := range r.cmds {
		if c.Compensation {
			out = append(out, c.Type)
		}
	}
	return out
}

// count counts the events of type typ for step ("" for any step).
func (r *run) count(typ, step string) int {
	n := 0
	for _, e := range r.log {
		if e.Type != typ {
			continue
		}
		if step == "" || stepOf(e) == step {
			n++
		}
	}
	return n
}

func stepOf(e saga.Event) string {
	switch d := e.Data.(type) {
	case *saga.StepStarted:
		return d.Step
	case *saga.StepCompleted:
		return d.Step
	case *saga.StepFailed:
		return d.Step
	case *saga.StepTimedOut:
		return d.Step
	case *saga.RetryScheduled:
		return d.Step
	case *saga.CompensationStarted:
		return d.Step
	case *saga.StepCompensated:
		return d.Step
	case *saga.CompensationFailed:
		return d.Step
	case *saga.NeedsAttention:
		return d.Step
	case *saga.SagaFailed:
		return d.Step
	}
	return ""
}

// checkOutstanding checks that a saga that is not terminal waits on
// something, and that what it waits on was issued before, exactly so.
func (r *run) checkOutstanding() {
	r.t.Helper()
	cmds, timers := saga.Outstanding(r.s)
	if r.s.Status.Terminal() {
		require.Empty(r.t, cmds)
		require.Empty(r.t, timers)
		return
	}
	require.NotEmpty(r.t, timers, "a %s saga waits on a timer", r.s.Status)
	for _, c := range cmds {
		require.Contains(r.t, r.cmds, c)
	}
	for _, tm := range timers {
		require.Contains(r.t, r.timers, tm)
	}
}
