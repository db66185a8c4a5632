package saga

import (
	"errors"
	"fmt"
	"slices"
	"time"

	json "github.com/go-json-experiment/json/v1"
)

// Domain errors of a saga; the HTTP layer and the process manager branch
// on them.
var (
	ErrNoSaga         = errors.New("saga: no such saga")
	ErrAlreadyStarted = errors.New("saga: already started")
	ErrInvalidInput   = errors.New("saga: input or output is not valid JSON")
	// ErrNotRetriable: only a saga that needs attention or failed can be
	// retried.
	ErrNotRetriable = errors.New("saga: only a saga that needs attention or failed can be retried")
	// ErrNotRunning: only a running saga can be aborted.
	ErrNotRunning = errors.New("saga: only a running saga can be aborted")
	// ErrAbortRefused: a saga whose pivot has started goes forward only.
	ErrAbortRefused = errors.New("saga: cannot abort once the pivot has started (the saga only goes forward)")
	// ErrNotResolvable: only a step after the pivot, stopped with the saga
	// needing attention, can be marked resolved by an operator.
	ErrNotResolvable = errors.New("saga: only a step after the pivot whose saga needs attention can be marked resolved")
	// ErrInconsistent: the saga's stored events do not fold into a state
	// that can be decided on (they did not come from Decide).
	ErrInconsistent = errors.New("saga: inconsistent state")
)

// Event is one event a decision produces: its type and payload (a pointer
// to one of this package's payload types).
type Event struct {
	Type string
	Data any
}

// Inputs of Decide.
type (
	// Start begins saga SagaID of definition Definition with Input (JSON;
	// empty means {}). Definition should already carry its defaults.
	Start struct {
		SagaID     string
		Definition Definition
		Input      json.RawMessage
		Now        time.Time
	}
	// Reply is a participant's answer to attempt Attempt of step Step's
	// action, or of its compensation when Compensation. Failure is empty
	// on success (then Output, JSON, is the step's output), or says how the
	// attempt failed (then Error says why).
	Reply struct {
		Step         string
		Attempt      int
		Compensation bool
		Failure      Failure
		Output       json.RawMessage
		Error        string
		Now          time.Time
		// Jitter, drawn by the caller in [0, 1), spreads the retry a
		// failure may schedule.
		Jitter float64
	}
	// Fire is a timer the saga scheduled, firing.
	Fire struct {
		Timer  Timer
		Now    time.Time
		Jitter float64
	}
	// Retry is an operator's command to resume a saga that needs attention
	// (the stopped step gets a new budget of attempts) or failed (its
	// compensation gets a new round), or, on a saga waiting for a retry's
	// delay (of a step or of a compensation), to start that attempt now.
	Retry struct {
		By, Reason string
		Now        time.Time
	}
	// Abort is an operator's command to stop a running saga before its
	// pivot started and compensate what can be compensated.
	Abort struct {
		By, Reason string
		Now        time.Time
	}
	// Resolve is an operator's statement that step Step, after the pivot,
	// which stopped with the saga needing attention, was done by hand: the
	// step is resolved and the saga goes on with its next step (or
	// completes). Reason is required.
	Resolve struct {
		Step       string
		By, Reason string
		Now        time.Time
	}
	// Batch is inputs decided one after the other, each on the state the
	// ones before it left, into one decision: how a process manager records
	// at once the replies it decided without recording them (Passing).
	// Stale inputs of a batch decide nothing, as alone.
	Batch []any
)

// ErrBadBatch reports an empty Batch, or one holding a Start or a Batch.
var ErrBadBatch = errors.New("saga: a batch holds replies, timers, retries or aborts")

// Decision is what an input makes a saga do: the events to append (with
// the expected sequence of the state decided on), then the commands to send
// and the timers to schedule, which Effects derives from those events.
type Decision struct {
	Events   []Event
	Commands []Command
	Timers   []Timer
	// State is the saga's state after Events (the zero State when there
	// are none).
	State State
}

// Decide returns what input in (Start, Reply, Fire, Retry or Abort)
// makes saga s do, or a domain error. Stale inputs — a reply or timer for
// an attempt that is not the current one, for a step the saga is not at,
// or after the saga moved on, and duplicates — decide nothing (an empty
// Decision and no error). Decide changes nothing.
//
// A Batch's commands and timers are those of its last input: whoever
// batched the others carried theirs out already.
func Decide(s State, in any) (Decision, error) {
	batch, ok := in.(Batch)
	if !ok {
		d, err := decideOne(s, in, false)
		if err != nil || len(d.events) == 0 {
			return Decision{}, err
		}
		cmds, timers := Effects(d.s, d.events)
		return Decision{Events: d.events, Commands: cmds, Timers: timers, State: d.s}, nil
	}
	if len(batch) == 0 {
		return Decision{}, ErrBadBatch
	}
	var events, last []Event
	// Once an input decided events, s's steps are a copy of this call's
	// own: the inputs after it change them in place.
	owned := false
	for _, in := range batch {
		switch in.(type) {
		case Start, Batch:
			return Decision{}, ErrBadBatch
		}
		d, err := decideOne(s, in, owned)
		if err != nil {
			return Decision{}, err
		}
		events, last, s = append(events, d.events...), d.events, d.s
		owned = owned || d.owned
	}
	if len(events) == 0 {
		return Decision{}, nil
	}
	cmds, timers := Effects(s, last)
	return Decision{Events: events, Commands: cmds, Timers: timers, State: s}, nil
}

// decideOne decides one input (not a Batch); the decider holds its
// events and the state after them. With owned, s's steps are the caller's
// own copy, which the decision may change in place.
func decideOne(s State, in any, owned bool) (*decider, error) {
	if _, ok := in.(Start); !ok && !s.Exists() {
		return nil, ErrNoSaga
	}
	if s.Exists() && (len(s.Steps) == 0 || len(s.Steps) != len(s.Definition.Steps) || s.Current < 0 || s.Current >= len(s.Steps)) {
		return nil, fmt.Errorf("%w: saga %s", ErrInconsistent, s.ID)
	}
	d := &decider{s: s, owned: owned}
	var err error
	switch c := in.(type) {
	case Start:
		err = d.start(c)
	case Reply:
		err = d.reply(c)
	case Fire:
		d.fire(c)
	case Retry:
		err = d.retry(c)
	case Abort:
		err = d.abort(c)
	case Resolve:
		err = d.resolve(c)
	default:
		return nil, fmt.Errorf("saga: unknown input %T", in)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Passing reports whether d only moved the saga on: it completed a step
// before the pivot (any step, when the saga has none) and started the
// next step's first attempt. A process manager that runs the next command
// at once may leave such a decision unrecorded, and record it with the
// next one (Batch). Were it to die in between, the saga resumes at the
// last step recorded, and the participants, deduping on each command's
// key, answer the steps done since as they did (no participant forgets a
// key while the step that issued it is not recorded: ending a reservation,
// say, comes after the pivot or after a failure). Anything else — a
// failure, a retry, a timer, the pivot's completion, after which the saga
// only goes forward, its end — is recorded before it is acted on.
func (d Decision) Passing() bool {
	if len(d.Events) != 2 || d.State.Status != StatusRunning {
		return false
	}
	done, ok1 := d.Events[0].Data.(*StepCompleted)
	next, ok2 := d.Events[1].Data.(*StepStarted)
	if !ok1 || !ok2 || next.Attempt != 1 {
		return false
	}
	i := d.State.StepIndex(done.Step)
	if i < 0 || d.State.StepIndex(next.Step) != i+1 {
		return false
	}
	p := d.State.Definition.pivot()
	return p < 0 || i < p
}

// decider records events and folds each into its state, so that each
// decision step sees the effect of the previous ones.
type decider struct {
	s      State
	now    time.Time
	events []Event
	// owned is true once d.s's steps are a copy of the decider's own,
	// changed in place by the decision's further events.
	owned bool
}

// emit records an event of the decision and folds it into d.s: the steps
// the state was given are copied once, at the first event, not per event.
func (d *decider) emit(typ string, data any) {
	d.events = append(d.events, Event{Type: typ, Data: data})
	if !d.owned {
		d.s.Steps = slices.Clone(d.s.Steps)
		d.owned = true
	}
	d.s = EvolveOwned(d.s, typ, data)
}

func (d *decider) policy(i int) Policy { return d.s.Definition.Steps[i].Policy }

func (d *decider) start(c Start) error {
	if d.s.Exists() {
		return fmt.Errorf("%w: %s", ErrAlreadyStarted, c.SagaID)
	}
	if err := c.Definition.Validate(); err != nil {
		return err
	}
	input := c.Input
	if len(input) == 0 {
		input = json.RawMessage(`{}`)
	}
	if !json.Valid(input) {
		return fmt.Errorf("%w: input of saga %s", ErrInvalidInput, c.SagaID)
	}
	d.now = c.Now.UTC()
	d.emit(StartedV1, &Started{SagaID: c.SagaID, Definition: c.Definition, Input: input, At: d.now})
	d.startAttempt(0, 1, 1)
	return nil
}

func (d *decider) startAttempt(i, attempt, roundStart int) {
	d.emit(StepStartedV1, &StepStarted{Step: d.s.Steps[i].Name, Attempt: attempt, RoundStart: roundStart,
		Deadline: d.now.Add(d.policy(i).AttemptTimeout), At: d.now})
}

func (d *decider) startCompensation(i, attempt, roundStart int, giveUpAt time.Time) {
	d.emit(CompensationStartedV1, &CompensationStarted{Step: d.s.Steps[i].Name, Attempt: attempt, RoundStart: roundStart,
		Deadline: d.now.Add(d.policy(i).AttemptTimeout), GiveUpAt: giveUpAt, At: d.now})
}

func (d *decider) reply(c Reply) error {
	d.now = c.Now.UTC()
	i := d.s.Current
	if i < 0 || i >= len(d.s.Steps) || d.s.Steps[i].Name != c.Step {
		return nil
	}
	st := d.s.Steps[i]
	if c.Compensation {
		if d.s.Status != StatusCompensating || !st.Comp.InFlight || st.Comp.Attempt != c.Attempt {
			return nil
		}
		if c.Failure == "" {
			d.emit(StepCompensatedV1, &StepCompensated{Step: c.Step, Attempt: c.Attempt, At: d.now})
			d.compensateFrom(i - 1)
			return nil
		}
		d.compensationFailed(i, c.Failure, c.Error, false, c.Jitter)
		return nil
	}
	if d.s.Status != StatusRunning || !st.Action.InFlight || st.Action.Attempt != c.Attempt {
		return nil
	}
	if c.Failure != "" {
		d.actionFailed(i, c.Failure, c.Error, false, c.Jitter)
		return nil
	}
	if len(c.Output) > 0 && !json.Valid(c.Output) {
		return fmt.Errorf("%w: output of step %s", ErrInvalidInput, c.Step)
	}
	d.emit(StepCompletedV1, &StepCompleted{Step: c.Step, Attempt: c.Attempt, Output: c.Output, At: d.now})
	if i+1 < len(d.s.Steps) {
		d.startAttempt(i+1, 1, 1)
		return nil
	}
	d.emit(CompletedV1, &Completed{At: d.now})
	return nil
}

// actionFailed records a failed or timed-out attempt of step i and
// schedules the next attempt, or gives the step up when its attempts are
// spent or the failure is permanent.
func (d *decider) actionFailed(i int, failure Failure, msg string, timedOut bool, jitter float64) {
	st, p := d.s.Steps[i], d.policy(i)
	used := st.Action.Attempt - st.Action.RoundStart + 1
	final := failure == Permanent || used >= p.Attempts
	if timedOut {
		d.emit(StepTimedOutV1, &StepTimedOut{Step: st.Name, Attempt: st.Action.Attempt, Deadline: st.Action.Deadline,
			Final: final, At: d.now})
	} else {
		d.emit(StepFailedV1, &StepFailed{Step: st.Name, Attempt: st.Action.Attempt, Failure: failure, Error: msg,
			Final: final, At: d.now})
	}
	if !final {
		d.emit(RetryScheduledV1, &RetryScheduled{Step: st.Name, Attempt: st.Action.Attempt + 1,
			Due: d.now.Add(p.Backoff(used, jitter)), At: d.now})
		return
	}
	d.giveUp(i, failure == Permanent && !timedOut)
}

// giveUp decides what a step that failed for good means: after the pivot
// the saga needs attention, and so at a pivot that may have taken effect
// (an attempt timed out and the last answer was not a permanent failure,
// which the participant, deduping on the key, gives for the key as a
// whole); before it, the saga compensates.
func (d *decider) giveUp(i int, definite bool) {
	st, kind := d.s.Steps[i], d.s.Definition.Steps[i].Kind
	switch {
	case kind == Retriable:
		d.emit(NeedsAttentionV1, &NeedsAttention{Step: st.Name,
			Reason: fmt.Sprintf("step %s failed after the pivot: %s", st.Name, st.Action.Error), At: d.now})
	case kind == Pivot && st.Uncertain && !definite:
		d.emit(NeedsAttentionV1, &NeedsAttention{Step: st.Name,
			Reason: fmt.Sprintf("pivot %s has an unknown outcome: %s", st.Name, st.Action.Error), At: d.now})
	default:
		d.compensateFrom(i)
	}
}

// compensateFrom starts the compensation of the last step at or before i
// that needs one, or ends the saga compensated when none does.
func (d *decider) compensateFrom(i int) {
	for j := i; j >= 0; j-- {
		if d.needsCompensation(j) {
			d.startCompensation(j, d.s.Steps[j].Comp.Attempts+1, d.s.Steps[j].Comp.Attempts+1,
				d.now.Add(d.policy(j).CompensationTimeout))
			return
		}
	}
	d.emit(CompensatedV1, &Compensated{At: d.now})
}

// needsCompensation reports whether step j has a compensation and may have
// taken effect (it completed, or an attempt's outcome is unknown) and was
// not compensated yet.
func (d *decider) needsCompensation(j int) bool {
	st := d.s.Steps[j]
	if d.s.Definition.Steps[j].Compensation == "" || st.Compensation == CompDone {
		return false
	}
	return st.Status == StepStatusCompleted || (st.Status == StepStatusFailed && st.Uncertain)
}

// compensationFailed records a failed attempt of step i's compensation and
// schedules the next one, or fails the saga when the failure is permanent
// or the next attempt would start past the compensation's timeout.
func (d *decider) compensationFailed(i int, failure Failure, msg string, timedOut bool, jitter float64) {
	st, p := d.s.Steps[i], d.policy(i)
	if timedOut {
		failure, msg = Transient, "attempt timed out"
	}
	d.emit(CompensationFailedV1, &CompensationFailed{Step: st.Name, Attempt: st.Comp.Attempt, Failure: failure,
		Error: msg, TimedOut: timedOut, At: d.now})
	due := d.now.Add(p.Backoff(st.Comp.Attempt-st.Comp.RoundStart+1, jitter))
	switch {
	case failure == Permanent:
		d.fail(i, fmt.Sprintf("compensation of %s failed permanently: %s", st.Name, msg))
	case due.After(st.GiveUpAt):
		d.fail(i, fmt.Sprintf("compensation of %s kept failing for %s: %s", st.Name, p.CompensationTimeout, msg))
	default:
		d.emit(RetryScheduledV1, &RetryScheduled{Step: st.Name, Attempt: st.Comp.Attempt + 1, Compensation: true,
			Due: due, At: d.now})
	}
}

func (d *decider) fail(i int, reason string) {
	d.emit(FailedV1, &SagaFailed{Step: d.s.Steps[i].Name, Reason: reason, At: d.now})
}

func (d *decider) fire(c Fire) {
	d.now = c.Now.UTC()
	t, i := c.Timer, d.s.Current
	if t.SagaID != d.s.ID || i < 0 || i >= len(d.s.Steps) || d.s.Steps[i].Name != t.Step {
		return
	}
	st := d.s.Steps[i]
	running, compensating := d.s.Status == StatusRunning, d.s.Status == StatusCompensating
	switch t.Kind {
	case TimerAttemptTimeout:
		if running && st.Action.InFlight && st.Action.Attempt == t.Attempt {
			d.actionFailed(i, Transient, "", true, c.Jitter)
		}
	case TimerRetryDue:
		if running && !st.Action.InFlight && !st.Action.RetryAt.IsZero() && st.Action.Attempt == t.Attempt {
			d.startAttempt(i, t.Attempt, st.Action.RoundStart)
		}
	case TimerCompensationTimeout:
		if compensating && st.Comp.InFlight && st.Comp.Attempt == t.Attempt {
			d.compensationFailed(i, Transient, "", true, c.Jitter)
		}
	case TimerCompensationRetryDue:
		if compensating && !st.Comp.InFlight && !st.Comp.RetryAt.IsZero() && st.Comp.Attempt == t.Attempt {
			d.startCompensation(i, t.Attempt, st.Comp.RoundStart, st.GiveUpAt)
		}
	case TimerCompensationDeadline:
		if compensating && st.Compensation == CompRunning && st.Comp.RoundStart == t.Attempt {
			d.fail(i, fmt.Sprintf("compensation of %s did not succeed within %s", st.Name, d.policy(i).CompensationTimeout))
		}
	}
}

func (d *decider) retry(c Retry) error {
	d.now = c.Now.UTC()
	i := d.s.Current
	switch d.s.Status {
	case StatusNeedsAttention:
		d.emit(RetriedV1, &Retried{By: c.By, Reason: c.Reason, At: d.now})
		next := d.s.Steps[i].Action.Attempts + 1
		d.startAttempt(i, next, next)
	case StatusFailed:
		d.emit(RetriedV1, &Retried{By: c.By, Reason: c.Reason, At: d.now})
		next := d.s.Steps[i].Comp.Attempts + 1
		d.startCompensation(i, next, next, d.now.Add(d.policy(i).CompensationTimeout))
	case StatusRunning:
		// Retry now: the attempt due later starts at once. Its timer,
		// firing later, finds the attempt started and decides nothing.
		st := d.s.Steps[i]
		if st.Action.InFlight || st.Action.RetryAt.IsZero() {
			return fmt.Errorf("%w: saga %s is running, step %s is %s (attempt %d in flight); nothing waits to be retried",
				ErrNotRetriable, d.s.ID, st.Name, st.Status, st.Action.Attempt)
		}
		d.emit(RetriedV1, &Retried{By: c.By, Reason: c.Reason, Now: true, At: d.now})
		d.startAttempt(i, st.Action.Attempt, st.Action.RoundStart)
	case StatusCompensating:
		st := d.s.Steps[i]
		if st.Comp.InFlight || st.Comp.RetryAt.IsZero() {
			return fmt.Errorf("%w: saga %s is compensating, the compensation of %s is in flight (attempt %d); nothing waits to be retried",
				ErrNotRetriable, d.s.ID, st.Name, st.Comp.Attempt)
		}
		d.emit(RetriedV1, &Retried{By: c.By, Reason: c.Reason, Now: true, At: d.now})
		d.startCompensation(i, st.Comp.Attempt, st.Comp.RoundStart, st.GiveUpAt)
	default:
		return fmt.Errorf("%w: saga %s is %s", ErrNotRetriable, d.s.ID, d.s.Status)
	}
	return nil
}

// resolve marks the step after the pivot that stopped the saga resolved,
// and goes on with the next step, or completes the saga.
func (d *decider) resolve(c Resolve) error {
	d.now = c.Now.UTC()
	i := d.s.Current
	st := d.s.Steps[i]
	if c.Step != "" && c.Step != st.Name {
		return fmt.Errorf("%w: saga %s stopped at step %s, not %s", ErrNotResolvable, d.s.ID, st.Name, c.Step)
	}
	if d.s.Status != StatusNeedsAttention {
		return fmt.Errorf("%w: saga %s is %s", ErrNotResolvable, d.s.ID, d.s.Status)
	}
	if d.s.Definition.Steps[i].Kind != Retriable {
		return fmt.Errorf("%w: step %s of saga %s is the %s step, not one after the pivot; retry it instead (its participant dedupes on the key)",
			ErrNotResolvable, st.Name, d.s.ID, d.s.Definition.Steps[i].Kind)
	}
	if c.Reason == "" {
		return fmt.Errorf("%w: a reason is required", ErrNotResolvable)
	}
	d.emit(ResolvedV1, &Resolved{Step: st.Name, By: c.By, Reason: c.Reason, At: d.now})
	if i+1 < len(d.s.Steps) {
		d.startAttempt(i+1, 1, 1)
		return nil
	}
	d.emit(CompletedV1, &Completed{At: d.now})
	return nil
}

func (d *decider) abort(c Abort) error {
	d.now = c.Now.UTC()
	if d.s.Status != StatusRunning {
		return fmt.Errorf("%w: saga %s is %s", ErrNotRunning, d.s.ID, d.s.Status)
	}
	if p := d.s.Definition.pivot(); p >= 0 && d.s.Steps[p].Action.Attempts > 0 {
		return fmt.Errorf("%w: saga %s", ErrAbortRefused, d.s.ID)
	}
	d.emit(AbortedV1, &Aborted{By: c.By, Reason: c.Reason, At: d.now})
	d.compensateFrom(d.s.Current)
	return nil
}
