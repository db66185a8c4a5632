package saga

import (
	"encoding/json"
	"errors"
	"fmt"
)

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

// recordedJSON is an event of a Decided as stored.
type recordedJSON struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// MarshalJSON implements json.Marshaler: {"events":[{"type","data"},…]}.
func (d Decided) MarshalJSON() ([]byte, error) {
	out := struct {
		Events []recordedJSON `json:"events"`
	}{Events: make([]recordedJSON, len(d.Events))}
	for i, e := range d.Events {
		if e.Type == DecidedV1 {
			return nil, errors.New("saga: a decided event cannot hold another")
		}
		data, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("saga: decided event %d (%s): %w", i, e.Type, err)
		}
		out.Events[i] = recordedJSON{Type: e.Type, Data: data}
	}
	return json.Marshal(out)
}

// UnmarshalJSON implements json.Unmarshaler, decoding each event through
// the decode table of the saga events (Events).
func (d *Decided) UnmarshalJSON(b []byte) error {
	var in struct {
		Events []recordedJSON `json:"events"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if len(in.Events) == 0 || len(in.Events) > maxDecided {
		return fmt.Errorf("saga: decided event holds %d events, want 1..%d", len(in.Events), maxDecided)
	}
	table := singleEvents()
	d.Events = make([]Event, len(in.Events))
	for i, r := range in.Events {
		dec, ok := table[r.Type]
		if !ok {
			return fmt.Errorf("saga: decided event %d: unknown type %q", i, r.Type)
		}
		data, err := dec(r.Data)
		if err != nil {
			return fmt.Errorf("saga: decided event %d (%s): %w", i, r.Type, err)
		}
		d.Events[i] = Event{Type: r.Type, Data: data}
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
