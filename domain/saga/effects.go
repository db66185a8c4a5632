package saga

import (
	"strconv"
	"time"

	json "github.com/go-json-experiment/json/v1"
)

// TimerKind says what a timer is for.
type TimerKind string

// Timer kinds. Attempt is the attempt the timer is about (for
// TimerCompensationDeadline: the first attempt of the compensation's round).
const (
	TimerAttemptTimeout       TimerKind = "attempt_timeout"
	TimerRetryDue             TimerKind = "retry_due"
	TimerCompensationTimeout  TimerKind = "compensation_attempt_timeout"
	TimerCompensationRetryDue TimerKind = "compensation_retry_due"
	TimerCompensationDeadline TimerKind = "compensation_deadline"
)

// Timer is a durable timer a saga schedules; when it fires, the process
// manager decides Fire{Timer: t} on the saga. A timer that fires late,
// twice or after the saga moved on decides nothing.
type Timer struct {
	SagaID  string    `json:"saga_id"`
	Kind    TimerKind `json:"kind"`
	Step    string    `json:"step"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
}

// ID is the timer's unique, deterministic id ("<saga>:<step>:<kind>:<attempt>"),
// fit for a publish dedupe id: scheduling the same timer twice stores it
// once.
func (t Timer) ID() string {
	return t.SagaID + ":" + t.Step + ":" + string(t.Kind) + ":" + strconv.Itoa(t.Attempt)
}

// Command is a command a saga sends to a participant: an attempt of a
// step's action or of its compensation.
type Command struct {
	SagaID string
	Step   string
	// Type is the command type: the step's Action or Compensation.
	Type         string
	Compensation bool
	// Key is the idempotency key the participant dedupes on: the same for
	// every attempt of the step's action ("<saga>:<step>"), and of its
	// compensation ("<saga>:<step>:compensate").
	Key     string
	Attempt int
	// IssuedAt is when the attempt started (its StepStarted or
	// CompensationStarted): a participant may refuse a command that
	// arrives long after (orders.CommandTTL), the saga having retried or
	// moved on by then.
	IssuedAt time.Time
	// Deadline is when the saga stops waiting for this attempt's reply.
	Deadline time.Time
	Payload  Payload
}

// Payload is what a command carries: the saga's input and the outputs of
// the steps completed before it (for a compensation, its own step's
// output too, when it completed).
type Payload struct {
	SagaID   string                     `json:"saga_id"`
	SagaType string                     `json:"saga_type"`
	Step     string                     `json:"step"`
	Input    json.RawMessage            `json:"input"`
	Outputs  map[string]json.RawMessage `json:"outputs,omitempty"`
}

// Key returns the idempotency key of step's action in saga sagaID, or of
// its compensation when compensation.
func Key(sagaID, step string, compensation bool) string {
	if compensation {
		return sagaID + ":" + step + ":compensate"
	}
	return sagaID + ":" + step
}

// Effects returns the commands to send and the timers to schedule for
// events, which were appended to the saga whose state after them is s.
// Decide returns them in its Decision; a process manager that recovers
// (finds events appended whose effects may not have been carried out)
// derives them again from the stored events. Sending a command or
// scheduling a timer twice is harmless: participants dedupe on Key, timers
// on ID and stale timers decide nothing.
func Effects(s State, events []Event) ([]Command, []Timer) {
	var cmds []Command
	var timers []Timer
	for _, ev := range events {
		switch e := ev.Data.(type) {
		case *StepStarted:
			i := s.StepIndex(e.Step)
			if i < 0 {
				continue
			}
			cmds = append(cmds, Command{SagaID: s.ID, Step: e.Step, Type: s.Definition.Steps[i].Action,
				Key: Key(s.ID, e.Step, false), Attempt: e.Attempt, IssuedAt: e.At, Deadline: e.Deadline, Payload: s.payload(i, false)})
			timers = append(timers, Timer{SagaID: s.ID, Kind: TimerAttemptTimeout, Step: e.Step, Attempt: e.Attempt, At: e.Deadline})
		case *CompensationStarted:
			i := s.StepIndex(e.Step)
			if i < 0 {
				continue
			}
			cmds = append(cmds, Command{SagaID: s.ID, Step: e.Step, Type: s.Definition.Steps[i].Compensation,
				Compensation: true, Key: Key(s.ID, e.Step, true), Attempt: e.Attempt, IssuedAt: e.At, Deadline: e.Deadline,
				Payload: s.payload(i, true)})
			timers = append(timers, Timer{SagaID: s.ID, Kind: TimerCompensationTimeout, Step: e.Step, Attempt: e.Attempt, At: e.Deadline})
			if e.Attempt == e.RoundStart {
				timers = append(timers, Timer{SagaID: s.ID, Kind: TimerCompensationDeadline, Step: e.Step,
					Attempt: e.RoundStart, At: e.GiveUpAt})
			}
		case *RetryScheduled:
			kind := TimerRetryDue
			if e.Compensation {
				kind = TimerCompensationRetryDue
			}
			timers = append(timers, Timer{SagaID: s.ID, Kind: kind, Step: e.Step, Attempt: e.Attempt, At: e.Due})
		}
	}
	return cmds, timers
}

// payload is the payload of step i's action (or compensation): the input
// and the outputs of the steps before it (and its own).
func (s State) payload(i int, compensation bool) Payload {
	p := Payload{SagaID: s.ID, SagaType: s.Definition.Type, Step: s.Steps[i].Name, Input: s.Input}
	last := i - 1
	if compensation {
		last = i
	}
	for j := 0; j <= last; j++ {
		if out := s.Steps[j].Output; out != nil {
			if p.Outputs == nil {
				p.Outputs = map[string]json.RawMessage{}
			}
			p.Outputs[s.Steps[j].Name] = out
		}
	}
	return p
}

// Outstanding returns what saga s is waiting on: the command of the
// attempt in flight with its timeout timer, or the timer of the attempt
// due later, and while compensating the compensation's deadline timer. A
// process manager that restarts, or finds a saga whose last decision's
// effects may have been lost between the append and the sends, issues
// these again: participants dedupe on the key, timers on their ID. A
// terminal saga waits on nothing.
func Outstanding(s State) ([]Command, []Timer) {
	if s.Current < 0 || s.Current >= len(s.Steps) || len(s.Steps) != len(s.Definition.Steps) {
		return nil, nil
	}
	i, st := s.Current, s.Steps[s.Current]
	var cmds []Command
	var timers []Timer
	timer := func(kind TimerKind, attempt int, at time.Time) {
		timers = append(timers, Timer{SagaID: s.ID, Kind: kind, Step: st.Name, Attempt: attempt, At: at})
	}
	switch s.Status {
	case StatusRunning:
		switch {
		case st.Action.InFlight:
			cmds = append(cmds, Command{SagaID: s.ID, Step: st.Name, Type: s.Definition.Steps[i].Action,
				Key: Key(s.ID, st.Name, false), Attempt: st.Action.Attempt, IssuedAt: st.Action.Started, Deadline: st.Action.Deadline,
				Payload: s.payload(i, false)})
			timer(TimerAttemptTimeout, st.Action.Attempt, st.Action.Deadline)
		case !st.Action.RetryAt.IsZero():
			timer(TimerRetryDue, st.Action.Attempt, st.Action.RetryAt)
		}
	case StatusCompensating:
		switch {
		case st.Comp.InFlight:
			cmds = append(cmds, Command{SagaID: s.ID, Step: st.Name, Type: s.Definition.Steps[i].Compensation,
				Compensation: true, Key: Key(s.ID, st.Name, true), Attempt: st.Comp.Attempt, IssuedAt: st.Comp.Started,
				Deadline: st.Comp.Deadline, Payload: s.payload(i, true)})
			timer(TimerCompensationTimeout, st.Comp.Attempt, st.Comp.Deadline)
		case !st.Comp.RetryAt.IsZero():
			timer(TimerCompensationRetryDue, st.Comp.Attempt, st.Comp.RetryAt)
		}
		timer(TimerCompensationDeadline, st.Comp.RoundStart, st.GiveUpAt)
	}
	return cmds, timers
}
