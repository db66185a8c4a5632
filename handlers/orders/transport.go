package orders

import (
	"strconv"
	"time"

	json "github.com/go-json-experiment/json/v1"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
)

// Streams of the saga's transport, beside saga.Stream and orders.Stream.
const (
	// CommandStream holds the commands the saga sends to its participants
	// and the confirm messages.
	CommandStream = "ORDERS_CMD"
	// TimerStream holds the saga's durable timers and the subjects they
	// fire on: a stream of its own, since schedules can never be turned
	// off on a stream again.
	TimerStream = "SAGA_TIMERS"
)

// Message types of the transport.
const (
	// CommandV1 is a saga.Command sent to a participant.
	CommandV1 = "orders.saga_command.v1"
	// ConfirmV1 is the order of a saga whose payment went through, to be
	// confirmed and its reservations sold.
	ConfirmV1 = "orders.saga_confirm.v1"
	// TimerV1 is a saga.Timer, scheduled and then fired.
	TimerV1 = "orders.saga_timer.v1"
)

// Subject prefixes.
const (
	commandPrefix  = "ordercmd."
	confirmSubject = "ordercmd.confirm."
	timerPrefix    = "sagatimer."
)

// Streams returns the streams of the order saga: its events, its
// participants' events, its commands and its timers.
func Streams() []eventstore.StreamSpec {
	return []eventstore.StreamSpec{
		{Name: saga.Stream, Subjects: []string{saga.Subjects}, Description: "saga events", AllowAtomicPublish: true,
			Duplicates: dedupeWindow, MediumBlocks: true},
		{Name: order.Stream, Subjects: order.Subjects(), Description: "order saga participants' events", AllowAtomicPublish: true,
			Duplicates: dedupeWindow, MediumBlocks: true},
		// A command older than a day was handled or is lost to its saga's
		// timeout timer, which re-issues it.
		{Name: CommandStream, Subjects: []string{commandPrefix + ">"}, Description: "order saga commands to participants",
			MaxAge: 24 * time.Hour, Duplicates: dedupeWindow},
		{Name: TimerStream, Subjects: []string{"sagatimer.>"}, Description: "saga durable timers", AllowMsgSchedules: true,
			Duplicates: dedupeWindow},
	}
}

// dedupeWindow is the duplicate window of the saga's streams. Every append
// there is guarded otherwise — the saga's and the participants' events by
// their expected sequence, commands by the participants' dedupe on the
// key, timers by one schedule per subject and stale timers deciding
// nothing — so message ids only need to catch a client's own publish
// retry; JetStream holds each id of the window in memory, and a saga
// appends a dozen.
const dedupeWindow = 2 * time.Second

// CommandSubject is the subject of saga sagaID's commands of type typ.
func CommandSubject(typ, sagaID string) string { return commandPrefix + typ + "." + sagaID }

// ConfirmSubject is the subject of saga sagaID's confirm message.
func ConfirmSubject(sagaID string) string { return confirmSubject + sagaID }

// TimerSubject is the subject timer t is scheduled on,
// sagatimer.<saga>.at.<step>.<kind>.<attempt>: one per timer, since a
// stream keeps one schedule per subject.
func TimerSubject(t saga.Timer) string {
	return timerPrefix + t.SagaID + ".at." + t.Step + "." + string(t.Kind) + "." + strconv.Itoa(t.Attempt)
}

// FiredSubject is the subject saga sagaID's timers fire on,
// sagatimer.<saga>.fired.
func FiredSubject(sagaID string) string { return timerPrefix + sagaID + ".fired" }

// TimersOf is the filter of every timer subject of saga sagaID, scheduled
// or fired: what is purged when the saga ends.
func TimersOf(sagaID string) string { return timerPrefix + sagaID + ".>" }

// CommandMessage is the body of a CommandV1 message.
type CommandMessage struct {
	SagaID       string `json:"saga_id"`
	Step         string `json:"step"`
	Type         string `json:"type"`
	Compensation bool   `json:"compensation,omitempty"`
	Key          string `json:"key"`
	Attempt      int    `json:"attempt"`
	// IssuedAt is absent from the messages of older versions: such a
	// command never expires.
	IssuedAt time.Time    `json:"issued_at,omitzero"`
	Deadline time.Time    `json:"deadline"`
	Payload  saga.Payload `json:"payload"`
}

func newCommandMessage(c saga.Command) CommandMessage {
	return CommandMessage{SagaID: c.SagaID, Step: c.Step, Type: c.Type, Compensation: c.Compensation, Key: c.Key,
		Attempt: c.Attempt, IssuedAt: c.IssuedAt, Deadline: c.Deadline, Payload: c.Payload}
}

// Command returns the saga.Command m carries.
func (m CommandMessage) Command() saga.Command {
	return saga.Command{SagaID: m.SagaID, Step: m.Step, Type: m.Type, Compensation: m.Compensation, Key: m.Key,
		Attempt: m.Attempt, IssuedAt: m.IssuedAt, Deadline: m.Deadline, Payload: m.Payload}
}

// ConfirmMessage is the body of a ConfirmV1 message.
type ConfirmMessage struct {
	SagaID string          `json:"saga_id"`
	Input  json.RawMessage `json:"input"`
}

// Events returns the decode table of the order saga's module: the saga's
// events, the participants' and the transport's messages.
func Events() map[string]func(data []byte) (any, error) {
	out := map[string]func([]byte) (any, error){}
	for k, v := range saga.Events() {
		out[k] = v
	}
	for k, v := range order.Events() {
		out[k] = v
	}
	out[CommandV1] = eventstore.JSON[CommandMessage]()
	out[ConfirmV1] = eventstore.JSON[ConfirmMessage]()
	out[TimerV1] = eventstore.JSON[saga.Timer]()
	return out
}
