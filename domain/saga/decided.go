package saga

import "github.com/eventline/eventline/domain/internal/packed"

// DecidedV1 is the type of an event that records, in one message, every
// event of one decision that decided more than one. A decision is stored
// as one message because an atomic batch of several costs a staging file
// store with an fsync on a one-replica stream: a saga decides five or six
// times, and that would be its whole cost. Evolve folds the events it
// holds in order, so readers of the history see the same events either
// way (Flatten).
const DecidedV1 = "saga.decided.v1"

// maxDecided bounds the events of one Decided (a decision emits a handful).
const maxDecided = 64

// Decided is the payload of DecidedV1: the events of one decision, in
// order. None of them is itself a Decided.
type Decided struct {
	Events []Event
}

// MarshalJSON implements json.Marshaler: {"events":[{"type","data"},…]}.
func (d Decided) MarshalJSON() ([]byte, error) {
	events := make([]packed.Event, len(d.Events))
	for i, e := range d.Events {
		events[i] = packed.Event(e)
	}
	return packed.Marshal("saga: decided event", events, func(t string) bool { return t != DecidedV1 })
}

// UnmarshalJSON implements json.Unmarshaler, decoding each event through
// the decode table of the saga events (Events).
func (d *Decided) UnmarshalJSON(b []byte) error {
	events, err := packed.Unmarshal("saga: decided event", b, singleEvents(), maxDecided)
	if err != nil {
		return err
	}
	d.Events = make([]Event, len(events))
	for i, e := range events {
		d.Events[i] = Event(e)
	}
	return nil
}

// Pack returns the one event that records events (at least one): the
// event itself when there is one, a DecidedV1 holding them all when there
// are more.
func Pack(events []Event) Event {
	if len(events) == 1 {
		return events[0]
	}
	return Event{Type: DecidedV1, Data: &Decided{Events: events}}
}

// Flatten returns the events a stored event records: those a DecidedV1
// holds, or the event itself. data is the decoded payload (Events' table).
func Flatten(eventType string, data any) []Event {
	if d, ok := data.(*Decided); ok {
		return d.Events
	}
	return []Event{{Type: eventType, Data: data}}
}
