package projections

import (
	"fmt"
	"time"
)

// Decode reads ev's payload through a module's decode table (event type →
// decoder) and returns it with when the event occurred (the envelope's
// time, else the stream's). An unknown type or a payload that does not read
// is a Permanent error naming the event: an updated-in-place projection
// parks it and holds its aggregate.
func Decode(ev Event, table map[string]func([]byte) (any, error)) (any, time.Time, error) {
	dec, ok := table[ev.Envelope.Type]
	if !ok {
		return nil, time.Time{}, Permanent(fmt.Errorf("event #%d: unknown type %q", ev.Seq, ev.Envelope.Type))
	}
	data, err := dec(ev.Envelope.Data)
	if err != nil {
		return nil, time.Time{}, Permanent(fmt.Errorf("event #%d (%s): %w", ev.Seq, ev.Envelope.Type, err))
	}
	at := ev.Envelope.OccurredAt
	if at.IsZero() {
		at = ev.Time
	}
	return data, at, nil
}
