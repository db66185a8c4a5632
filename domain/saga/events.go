package saga

import (
	"time"

	json "github.com/go-json-experiment/json/v1"
)

// Stream is the JetStream stream of the saga events.
const Stream = "SAGAS"

// Subjects is the stream's subject filter.
const Subjects = "saga.>"

// Subject is the subject of saga id's events.
func Subject(sagaID string) string { return "saga." + sagaID }

// Event type names of a saga.
const (
	StartedV1             = "saga.started.v1"
	StepStartedV1         = "saga.step_started.v1"
	StepCompletedV1       = "saga.step_completed.v1"
	StepFailedV1          = "saga.step_failed.v1"
	StepTimedOutV1        = "saga.step_timed_out.v1"
	RetryScheduledV1      = "saga.retry_scheduled.v1"
	CompensationStartedV1 = "saga.compensation_started.v1"
	StepCompensatedV1     = "saga.step_compensated.v1"
	CompensationFailedV1  = "saga.compensation_failed.v1"
	CompletedV1           = "saga.completed.v1"
	CompensatedV1         = "saga.compensated.v1"
	NeedsAttentionV1      = "saga.needs_attention.v1"
	FailedV1              = "saga.failed.v1"
	RetriedV1             = "saga.retried.v1"
	AbortedV1             = "saga.aborted.v1"
	ResolvedV1            = "saga.resolved.v1"
)

// Started is the payload of StartedV1: the saga, the definition it runs
// (pinned for its whole life) and its input.
type Started struct {
	SagaID     string          `json:"saga_id"`
	Definition Definition      `json:"definition"`
	Input      json.RawMessage `json:"input"`
	At         time.Time       `json:"at"`
}

// StepStarted is the payload of StepStartedV1: attempt Attempt of step
// Step was sent; it times out at Deadline. RoundStart is the first attempt
// of the current budget of attempts (1, or the attempt an operator's retry
// started).
type StepStarted struct {
	Step       string    `json:"step"`
	Attempt    int       `json:"attempt"`
	RoundStart int       `json:"round_start"`
	Deadline   time.Time `json:"deadline"`
	At         time.Time `json:"at"`
}

// StepCompleted is the payload of StepCompletedV1: the step's output,
// recorded once.
type StepCompleted struct {
	Step    string          `json:"step"`
	Attempt int             `json:"attempt"`
	Output  json.RawMessage `json:"output,omitempty"`
	At      time.Time       `json:"at"`
}

// Failure classifies a failed attempt.
type Failure string

// Failures of an attempt.
const (
	// Transient failures may succeed when retried.
	Transient Failure = "transient"
	// Permanent failures will not.
	Permanent Failure = "permanent"
)

// StepFailed is the payload of StepFailedV1. Final is true when the step
// gets no more attempts: it failed.
type StepFailed struct {
	Step    string    `json:"step"`
	Attempt int       `json:"attempt"`
	Failure Failure   `json:"failure"`
	Error   string    `json:"error"`
	Final   bool      `json:"final,omitempty"`
	At      time.Time `json:"at"`
}

// StepTimedOut is the payload of StepTimedOutV1: no reply to the attempt
// before its deadline; its outcome is unknown. Final is true when the step
// gets no more attempts.
type StepTimedOut struct {
	Step     string    `json:"step"`
	Attempt  int       `json:"attempt"`
	Deadline time.Time `json:"deadline"`
	Final    bool      `json:"final,omitempty"`
	At       time.Time `json:"at"`
}

// RetryScheduled is the payload of RetryScheduledV1: attempt Attempt of
// step Step (of its compensation when Compensation) starts at Due.
type RetryScheduled struct {
	Step         string    `json:"step"`
	Attempt      int       `json:"attempt"`
	Compensation bool      `json:"compensation,omitempty"`
	Due          time.Time `json:"due"`
	At           time.Time `json:"at"`
}

// CompensationStarted is the payload of CompensationStartedV1: attempt
// Attempt of step Step's compensation was sent; it times out at Deadline.
// The compensation gives up at GiveUpAt, set when its round (first attempt
// RoundStart) began.
type CompensationStarted struct {
	Step       string    `json:"step"`
	Attempt    int       `json:"attempt"`
	RoundStart int       `json:"round_start"`
	Deadline   time.Time `json:"deadline"`
	GiveUpAt   time.Time `json:"give_up_at"`
	At         time.Time `json:"at"`
}

// StepCompensated is the payload of StepCompensatedV1.
type StepCompensated struct {
	Step    string    `json:"step"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
}

// CompensationFailed is the payload of CompensationFailedV1: an attempt of
// a compensation failed (TimedOut: got no reply in time).
type CompensationFailed struct {
	Step     string    `json:"step"`
	Attempt  int       `json:"attempt"`
	Failure  Failure   `json:"failure"`
	Error    string    `json:"error"`
	TimedOut bool      `json:"timed_out,omitempty"`
	At       time.Time `json:"at"`
}

// Completed is the payload of CompletedV1: every step succeeded.
type Completed struct {
	At time.Time `json:"at"`
}

// Compensated is the payload of CompensatedV1: a step failed before the
// pivot and everything that could be undone was.
type Compensated struct {
	At time.Time `json:"at"`
}

// NeedsAttention is the payload of NeedsAttentionV1: step Step cannot go
// forward and must not be compensated; an operator retries it.
type NeedsAttention struct {
	Step   string    `json:"step"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// SagaFailed is the payload of FailedV1: the compensation of step Step did
// not succeed in time; an operator retries it.
type SagaFailed struct {
	Step   string    `json:"step"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Retried is the payload of RetriedV1: an operator resumed the saga, or,
// with Now, started at once an attempt that waited for a retry's delay.
type Retried struct {
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Now    bool      `json:"now,omitempty"`
	At     time.Time `json:"at"`
}

// Resolved is the payload of ResolvedV1: an operator marked step Step,
// after the pivot, resolved (done by hand), saying why.
type Resolved struct {
	Step   string    `json:"step"`
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Aborted is the payload of AbortedV1: an operator stopped the saga before
// its pivot; what can be undone is compensated.
type Aborted struct {
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Events is the decode table of the saga events; production code decodes
// through it (each decoder returns a pointer to the payload type) and old
// payloads in testdata/ must keep decoding.
func Events() map[string]func(data []byte) (any, error) {
	table := singleEvents()
	table[DecidedV1] = decodeJSON[Decided]
	return table
}

// singleEvents is the decode table of the events a decision emits (every
// event but DecidedV1, which packs them).
func singleEvents() map[string]func(data []byte) (any, error) {
	return map[string]func([]byte) (any, error){
		StartedV1:             decodeJSON[Started],
		StepStartedV1:         decodeJSON[StepStarted],
		StepCompletedV1:       decodeJSON[StepCompleted],
		StepFailedV1:          decodeJSON[StepFailed],
		StepTimedOutV1:        decodeJSON[StepTimedOut],
		RetryScheduledV1:      decodeJSON[RetryScheduled],
		CompensationStartedV1: decodeJSON[CompensationStarted],
		StepCompensatedV1:     decodeJSON[StepCompensated],
		CompensationFailedV1:  decodeJSON[CompensationFailed],
		CompletedV1:           decodeJSON[Completed],
		CompensatedV1:         decodeJSON[Compensated],
		NeedsAttentionV1:      decodeJSON[NeedsAttention],
		FailedV1:              decodeJSON[SagaFailed],
		RetriedV1:             decodeJSON[Retried],
		AbortedV1:             decodeJSON[Aborted],
		ResolvedV1:            decodeJSON[Resolved],
	}
}

func decodeJSON[T any](data []byte) (any, error) {
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, err
	}
	return v, nil
}
