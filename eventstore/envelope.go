package eventstore

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	json "github.com/segmentio/encoding/json"

	"github.com/google/uuid"
)

// Envelope is the versioned wrapper every event travels in. The payload is
// kept as raw JSON; Registry.Decode turns it into the Go value registered for
// its Type.
type Envelope struct {
	// ID identifies the event; it is also the publish dedupe id.
	ID uuid.UUID `json:"id"`
	// Type is a fixed, versioned name such as "log.entries_received.v1".
	Type string `json:"type"`
	// OccurredAt is when the decision that produced the event was taken.
	OccurredAt time.Time `json:"occurred_at"`
	// CorrelationID ties together every event of one business flow.
	CorrelationID string `json:"correlation_id,omitempty"`
	// CausationID is the id of the command or event that caused this one.
	CausationID string `json:"causation_id,omitempty"`
	// Data is the payload as JSON.
	Data json.RawMessage `json:"data"`
}

// typePattern is the shape of an event type name: dotted lowercase words
// ending in a version, e.g. "order.created.v1".
var typePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[0-9]+$`)

// ErrUnknownType reports an event type missing from the decode table.
var ErrUnknownType = errors.New("eventstore: unknown event type")

// ErrMalformed reports bytes that are not a valid envelope.
var ErrMalformed = errors.New("eventstore: malformed envelope")

// NewEnvelope builds an envelope with a fresh time-ordered id for payload,
// which is marshalled to JSON.
func NewEnvelope(eventType string, payload any) (Envelope, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("marshal %s: %w", eventType, err)
	}
	return Envelope{ID: uuid.Must(uuid.NewV7()), Type: eventType, OccurredAt: time.Now().UTC(), Data: data}, nil
}

// Marshal encodes the envelope. It assembles the JSON by hand around the
// already-encoded payload, so that large payloads are not re-scanned.
func (e Envelope) Marshal() ([]byte, error) {
	if !typePattern.MatchString(e.Type) {
		return nil, fmt.Errorf("%w: invalid type %q", ErrMalformed, e.Type)
	}
	if len(e.Data) == 0 {
		return nil, fmt.Errorf("%w: %s has no data", ErrMalformed, e.Type)
	}
	// The fields around the payload, with room for escapes in the ids.
	b := make([]byte, 0, len(e.Data)+160+len(e.Type)+2*(len(e.CorrelationID)+len(e.CausationID)))
	b = append(b, `{"id":"`...)
	b = append(b, e.ID.String()...)
	b = append(b, `","type":`...)
	b = strconv.AppendQuote(b, e.Type)
	b = append(b, `,"occurred_at":"`...)
	b = e.OccurredAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if e.CorrelationID != "" {
		b = append(b, `,"correlation_id":`...)
		b = appendJSONString(b, e.CorrelationID)
	}
	if e.CausationID != "" {
		b = append(b, `,"causation_id":`...)
		b = appendJSONString(b, e.CausationID)
	}
	b = append(b, `,"data":`...)
	b = append(b, e.Data...)
	b = append(b, '}')
	return b, nil
}

func appendJSONString(b []byte, s string) []byte {
	enc, _ := json.Marshal(s) // a string always marshals
	return append(b, enc...)
}

// UnmarshalEnvelope decodes and checks an envelope.
func UnmarshalEnvelope(b []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.ID == uuid.Nil {
		return Envelope{}, fmt.Errorf("%w: missing id", ErrMalformed)
	}
	if !typePattern.MatchString(e.Type) {
		return Envelope{}, fmt.Errorf("%w: invalid type %q", ErrMalformed, e.Type)
	}
	if len(e.Data) == 0 {
		return Envelope{}, fmt.Errorf("%w: missing data", ErrMalformed)
	}
	return e, nil
}

// Decoder turns an event's JSON payload into the Go value of its type.
type Decoder func(data []byte) (any, error)

// JSON returns a Decoder that unmarshals a payload into a new T with
// encoding/json.
func JSON[T any]() Decoder {
	return func(data []byte) (any, error) {
		v := new(T)
		if err := json.Unmarshal(data, v); err != nil {
			return nil, err
		}
		return v, nil
	}
}

// Registry is the explicit decode table from event type names to payload
// decoders, joined from the tables of every domain module. Build one at
// start-up and pass it to whoever decodes.
type Registry struct {
	types map[string]Decoder
}

// NewRegistry returns an empty decode table.
func NewRegistry() *Registry {
	return &Registry{types: make(map[string]Decoder)}
}

// Register adds eventType, whose payload decode turns into its Go value.
// Registering a type twice or with an invalid name panics: both are
// programming errors found at start-up.
func (r *Registry) Register(eventType string, decode Decoder) {
	if !typePattern.MatchString(eventType) {
		panic(fmt.Sprintf("eventstore: invalid event type name %q", eventType))
	}
	if _, dup := r.types[eventType]; dup {
		panic(fmt.Sprintf("eventstore: event type %q registered twice", eventType))
	}
	r.types[eventType] = decode
}

// RegisterAll adds every type of table (a domain's decode table).
func (r *Registry) RegisterAll(table map[string]func([]byte) (any, error)) {
	for t, dec := range table {
		r.Register(t, dec)
	}
}

// Known reports whether eventType is in the table.
func (r *Registry) Known(eventType string) bool {
	_, ok := r.types[eventType]
	return ok
}

// Types lists the registered event types, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.types))
	for t := range r.types {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Decode returns the payload of e as the registered Go value.
func (r *Registry) Decode(e Envelope) (any, error) {
	decode, ok := r.types[e.Type]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, e.Type)
	}
	v, err := decode(e.Data)
	if err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", e.Type, e.ID, err)
	}
	return v, nil
}
