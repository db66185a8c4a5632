package saga

import (
	"slices"
	"time"

	json "github.com/go-json-experiment/json/v1"
)

// Status is a saga's status.
type Status string

// Saga statuses (the contract's).
const (
	StatusRunning        Status = "running"
	StatusCompleted      Status = "completed"
	StatusCompensating   Status = "compensating"
	StatusCompensated    Status = "compensated"
	StatusNeedsAttention Status = "needs_attention"
	StatusFailed         Status = "failed"
)

// Terminal reports whether a saga in status st does nothing more by itself
// (needs_attention and failed wait for an operator).
func (st Status) Terminal() bool {
	switch st {
	case StatusCompleted, StatusCompensated, StatusNeedsAttention, StatusFailed:
		return true
	}
	return false
}

// Final reports whether a saga in status st can never change again: no
// input decides anything on a completed or compensated saga (an operator
// retries or aborts only sagas that need attention, failed or run).
func (st Status) Final() bool { return st == StatusCompleted || st == StatusCompensated }

// StepStatus is a step's status.
type StepStatus string

// Step statuses (the contract's).
const (
	StepStatusPending      StepStatus = "pending"
	StepStatusRunning      StepStatus = "running"
	StepStatusCompleted    StepStatus = "completed"
	StepStatusFailed       StepStatus = "failed"
	StepStatusCompensating StepStatus = "compensating"
	StepStatusCompensated  StepStatus = "compensated"
	// StepStatusSkipped is a step that never ran because the saga compensated
	// before reaching it.
	StepStatusSkipped StepStatus = "skipped"
	// StepStatusResolved is a step after the pivot that failed and that an
	// operator marked resolved (done by hand), with a reason.
	StepStatusResolved StepStatus = "resolved"
)

// CompStatus is the status of a step's compensation.
type CompStatus string

// Compensation statuses.
const (
	// CompNone: the step's compensation has not run.
	CompNone    CompStatus = ""
	CompRunning CompStatus = "running"
	CompDone    CompStatus = "compensated"
	// CompFailed: the compensation kept failing past its timeout (or
	// failed permanently); the saga is failed.
	CompFailed CompStatus = "failed"
)

// Progress is where the attempts of a step's action, or of its
// compensation, stand.
type Progress struct {
	// Attempts is how many attempts were started.
	Attempts int
	// RoundStart is the first attempt of the current budget (an operator's
	// retry starts a new one).
	RoundStart int
	// Attempt is the current attempt: sent and awaited when InFlight, or
	// due at RetryAt.
	Attempt  int
	InFlight bool
	// Started is when the current attempt started (its command's
	// IssuedAt).
	Started time.Time
	// Deadline is when the attempt in flight times out.
	Deadline time.Time
	// RetryAt is when the scheduled attempt starts (zero: none scheduled).
	RetryAt time.Time
	// Error is the last attempt's error.
	Error string
}

// StepState is the state of one step of a saga.
type StepState struct {
	Name       string
	Status     StepStatus
	Action     Progress
	StartedAt  time.Time
	FinishedAt time.Time
	// Output is the step's output, recorded once when it completed.
	Output json.RawMessage
	// Uncertain is true when an attempt timed out (or was in flight when
	// the saga was aborted): the step may have taken effect, so it is
	// compensated as if it had completed.
	Uncertain bool
	// Compensation is the status of the step's compensation.
	Compensation CompStatus
	Comp         Progress
	// CompensatedAt is when the compensation succeeded.
	CompensatedAt time.Time
	// ResolvedBy and Resolution are who marked the step resolved, and why.
	ResolvedBy, Resolution string
	// GiveUpAt is when the current round of the compensation gives up.
	GiveUpAt time.Time
}

// State is a saga's state, folded from its events by Evolve.
type State struct {
	ID         string
	Definition Definition
	Input      json.RawMessage
	Status     Status
	Steps      []StepState
	// Current is the index of the step running (or awaiting an operator),
	// or of the step being compensated.
	Current int
	// Aborted is true when an operator aborted the saga.
	Aborted bool
	// Reason says why the saga needs attention or failed, or why it
	// compensated (the step that failed and its error, or an abort).
	Reason    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Exists reports whether the saga has started.
func (s State) Exists() bool { return s.Status != "" }

// StepIndex returns the index of the step named name, -1 when none.
func (s State) StepIndex(name string) int {
	return slices.IndexFunc(s.Steps, func(st StepState) bool { return st.Name == name })
}

// Evolve folds one event of type eventType, decoded through Events (a
// pointer to its payload), into s and returns the new state; s is not
// changed (states are shared by the command loop's cache).
func Evolve(s State, eventType string, data any) State { return evolve(s, eventType, data, true) }

// EvolveOwned is Evolve for a caller that owns s's steps (no other state
// shares them, e.g. a state it folds from rows it read): it changes them in
// place instead of copying them per event.
func EvolveOwned(s State, eventType string, data any) State { return evolve(s, eventType, data, false) }

// evolve is Evolve; with clone false it changes the steps of s in place,
// which the caller owns (a decision's events, after one copy).
func evolve(s State, eventType string, data any, clone bool) State {
	switch e := data.(type) {
	case *Decided:
		if clone {
			s.Steps = slices.Clone(s.Steps) // one copy for the whole decision
		}
		for _, ev := range e.Events {
			s = evolve(s, ev.Type, ev.Data, false)
		}
	case *Started:
		s = State{ID: e.SagaID, Definition: e.Definition, Input: e.Input, Status: StatusRunning, CreatedAt: e.At}
		s.Steps = make([]StepState, len(e.Definition.Steps))
		for i, st := range e.Definition.Steps {
			s.Steps[i] = StepState{Name: st.Name, Status: StepStatusPending}
		}
	case *StepStarted:
		if s.StepIndex(e.Step) < 0 {
			return s
		}
		s = s.step(clone, e.Step, func(st *StepState) {
			st.Status = StepStatusRunning
			st.Action = Progress{Attempts: max(st.Action.Attempts, e.Attempt), RoundStart: e.RoundStart, Attempt: e.Attempt,
				InFlight: true, Started: e.At, Deadline: e.Deadline, Error: st.Action.Error}
			if st.StartedAt.IsZero() {
				st.StartedAt = e.At
			}
			st.FinishedAt = time.Time{}
		})
		s.Current, s.Status, s.Reason = s.StepIndex(e.Step), StatusRunning, ""
	case *StepCompleted:
		s = s.step(clone, e.Step, func(st *StepState) {
			st.Status, st.Output, st.FinishedAt = StepStatusCompleted, e.Output, e.At
			st.Action.InFlight, st.Action.Error = false, ""
		})
	case *StepFailed:
		s = s.step(clone, e.Step, func(st *StepState) {
			st.Action.InFlight, st.Action.Error = false, e.Error
			if e.Final {
				st.Status, st.FinishedAt = StepStatusFailed, e.At
			}
		})
	case *StepTimedOut:
		s = s.step(clone, e.Step, func(st *StepState) {
			st.Action.InFlight, st.Action.Error, st.Uncertain = false, "attempt timed out", true
			if e.Final {
				st.Status, st.FinishedAt = StepStatusFailed, e.At
			}
		})
	case *RetryScheduled:
		s = s.step(clone, e.Step, func(st *StepState) {
			p := &st.Action
			if e.Compensation {
				p = &st.Comp
			}
			p.Attempt, p.RetryAt, p.InFlight = e.Attempt, e.Due, false
		})
	case *CompensationStarted:
		if s.StepIndex(e.Step) < 0 {
			return s
		}
		if clone {
			s.Steps = slices.Clone(s.Steps)
		}
		for i := range s.Steps {
			if s.Steps[i].Status == StepStatusPending {
				s.Steps[i].Status = StepStatusSkipped
			}
		}
		s = s.step(clone, e.Step, func(st *StepState) {
			st.Status, st.Compensation, st.GiveUpAt = StepStatusCompensating, CompRunning, e.GiveUpAt
			st.Comp = Progress{Attempts: max(st.Comp.Attempts, e.Attempt), RoundStart: e.RoundStart, Attempt: e.Attempt,
				InFlight: true, Started: e.At, Deadline: e.Deadline, Error: st.Comp.Error}
		})
		s.Current, s.Status, s.Reason = s.StepIndex(e.Step), StatusCompensating, ""
	case *StepCompensated:
		s = s.step(clone, e.Step, func(st *StepState) {
			st.Status, st.Compensation, st.CompensatedAt = StepStatusCompensated, CompDone, e.At
			st.Comp.InFlight, st.Comp.Error = false, ""
		})
	case *Resolved:
		s = s.step(clone, e.Step, func(st *StepState) {
			st.Status, st.FinishedAt, st.ResolvedBy, st.Resolution = StepStatusResolved, e.At, e.By, e.Reason
		})
		s.Reason = ""
	case *CompensationFailed:
		s = s.step(clone, e.Step, func(st *StepState) { st.Comp.InFlight, st.Comp.Error = false, e.Error })
	case *Completed:
		s.Status = StatusCompleted
	case *Compensated:
		if clone {
			s.Steps = slices.Clone(s.Steps)
		}
		for i := range s.Steps {
			if s.Steps[i].Status == StepStatusPending {
				s.Steps[i].Status = StepStatusSkipped
			}
		}
		s.Status, s.Reason = StatusCompensated, compensatedReason(s)
	case *NeedsAttention:
		s.Status, s.Reason = StatusNeedsAttention, e.Reason
	case *SagaFailed:
		s = s.step(clone, e.Step, func(st *StepState) {
			st.Compensation, st.Comp.InFlight, st.Comp.RetryAt = CompFailed, false, time.Time{}
		})
		s.Status, s.Reason = StatusFailed, e.Reason
	case *Retried:
		s.Reason = ""
	case *Aborted:
		s.Aborted = true
		if s.Current >= 0 && s.Current < len(s.Steps) && s.Steps[s.Current].Status == StepStatusRunning {
			if clone {
				s.Steps = slices.Clone(s.Steps)
			}
			st := &s.Steps[s.Current]
			st.Uncertain = st.Uncertain || st.Action.InFlight
			st.Status, st.FinishedAt, st.Action.Error = StepStatusFailed, e.At, "aborted"
			st.Action.InFlight, st.Action.RetryAt = false, time.Time{}
		}
	default:
		return s
	}
	if at := eventTime(data); !at.IsZero() {
		s.UpdatedAt = at
	}
	return s
}

// compensatedReason says why saga s compensated: an operator aborted it,
// or which step failed and with what error.
func compensatedReason(s State) string {
	if s.Aborted {
		return "aborted by an operator"
	}
	for _, st := range s.Steps {
		if st.Status == StepStatusFailed {
			if st.Action.Error == "" {
				return st.Name + " failed"
			}
			return st.Name + " failed: " + st.Action.Error
		}
	}
	return ""
}

// step returns s with the step named name changed by f, on a copy of the
// steps when clone; s is returned unchanged when it has no such step.
func (s State) step(clone bool, name string, f func(*StepState)) State {
	i := s.StepIndex(name)
	if i < 0 {
		return s
	}
	if clone {
		s.Steps = slices.Clone(s.Steps)
	}
	f(&s.Steps[i])
	return s
}

func eventTime(data any) time.Time {
	switch e := data.(type) {
	case *Started:
		return e.At
	case *StepStarted:
		return e.At
	case *StepCompleted:
		return e.At
	case *StepFailed:
		return e.At
	case *StepTimedOut:
		return e.At
	case *RetryScheduled:
		return e.At
	case *CompensationStarted:
		return e.At
	case *StepCompensated:
		return e.At
	case *CompensationFailed:
		return e.At
	case *Completed:
		return e.At
	case *Compensated:
		return e.At
	case *NeedsAttention:
		return e.At
	case *SagaFailed:
		return e.At
	case *Retried:
		return e.At
	case *Aborted:
		return e.At
	case *Resolved:
		return e.At
	}
	return time.Time{}
}
