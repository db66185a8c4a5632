package projections

import (
	"bytes"
	"time"

	"github.com/google/uuid"

	"github.com/eventline/eventline/eventstore"
)

// envelopeDecoder decodes the envelopes of a bulk read. Envelopes written
// by eventstore.Envelope.Marshal have a fixed layout; for those, and for
// event types the full decoder has already accepted, it slices the fields
// out instead of running encoding/json over every message (a third of a
// rebuild's CPU otherwise). The payload is left for the projection, which
// decodes (and so validates) it anyway. Anything unusual goes through
// eventstore.UnmarshalEnvelope.
type envelopeDecoder struct {
	known map[string]bool
}

func newEnvelopeDecoder() *envelopeDecoder {
	return &envelopeDecoder{known: map[string]bool{}}
}

// decode returns the envelope in b.
func (d *envelopeDecoder) decode(b []byte) (eventstore.Envelope, error) {
	if e, ok := d.fast(b); ok {
		return e, nil
	}
	e, err := eventstore.UnmarshalEnvelope(b)
	if err == nil {
		d.known[e.Type] = true
	}
	return e, err
}

// fast parses `{"id":"<uuid>","type":"<type>","occurred_at":"<time>","data":<payload>}`.
func (d *envelopeDecoder) fast(b []byte) (eventstore.Envelope, bool) {
	var e eventstore.Envelope
	rest, ok := bytes.CutPrefix(b, []byte(`{"id":"`))
	if !ok || len(rest) < 36 {
		return e, false
	}
	id, err := uuid.ParseBytes(rest[:36])
	if err != nil || id == uuid.Nil {
		return e, false
	}
	if rest, ok = bytes.CutPrefix(rest[36:], []byte(`","type":"`)); !ok {
		return e, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 || !d.known[string(rest[:i])] {
		return e, false
	}
	typ := string(rest[:i])
	if rest, ok = bytes.CutPrefix(rest[i:], []byte(`","occurred_at":"`)); !ok {
		return e, false
	}
	if i = bytes.IndexByte(rest, '"'); i < 0 {
		return e, false
	}
	at, err := time.Parse(time.RFC3339Nano, string(rest[:i]))
	if err != nil {
		return e, false
	}
	// Correlation and causation ids take the full decoder.
	if rest, ok = bytes.CutPrefix(rest[i:], []byte(`","data":`)); !ok || len(rest) < 3 || rest[len(rest)-1] != '}' {
		return e, false
	}
	data := bytes.TrimSpace(rest[:len(rest)-1])
	if len(data) == 0 || (data[0] != '{' && data[0] != '[') {
		return e, false
	}
	return eventstore.Envelope{ID: id, Type: typ, OccurredAt: at, Data: data}, true
}
