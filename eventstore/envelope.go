package eventstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
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

// validType reports whether t has the shape of an event type name, dotted
// lowercase words ending in a version, e.g. "order.created.v1":
// `^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+\.v[0-9]+$`, without a regexp (it
// runs on every envelope read).
func validType(t string) bool {
	dot := strings.LastIndexByte(t, '.')
	if dot < 0 || len(t)-dot < 3 || t[dot+1] != 'v' {
		return false
	}
	for _, c := range []byte(t[dot+2:]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	words := 0
	for w := range strings.SplitSeq(t[:dot], ".") {
		if w == "" || w[0] < 'a' || w[0] > 'z' {
			return false
		}
		for _, c := range []byte(w[1:]) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
				return false
			}
		}
		words++
	}
	return words >= 2
}

// ErrUnknownType reports an event type missing from the decode table.
var ErrUnknownType = errors.New("eventstore: unknown event type")

// ErrMalformed reports bytes that are not a valid envelope.
var ErrMalformed = errors.New("eventstore: malformed envelope")

// NewEnvelope builds an envelope with a fresh time-ordered id for payload,
// which is marshalled to JSON.
func NewEnvelope(eventType string, payload any) (Envelope, error) {
	data, err := jsonv1.Marshal(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("marshal %s: %w", eventType, err)
	}
	return Envelope{ID: uuid.Must(uuid.NewV7()), Type: eventType, OccurredAt: time.Now().UTC(), Data: data}, nil
}

// Marshal encodes the envelope. It assembles the JSON by hand around the
// already-encoded payload, so that large payloads are not re-scanned.
func (e Envelope) Marshal() ([]byte, error) {
	if !validType(e.Type) {
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
	b, _ = jsontext.AppendQuote(b, s) // invalid UTF-8 becomes U+FFFD, as encoding/json does
	return b
}

// envelopeReader is a reusable jsontext decoder for UnmarshalEnvelope.
type envelopeReader struct {
	src bytes.Buffer
	dec jsontext.Decoder
}

var envelopeReaders = sync.Pool{New: func() any { return new(envelopeReader) }}

// envelopeOptions read as encoding/json reads: duplicate keys (the last
// wins) and invalid UTF-8 (inside the payload, kept as is) are allowed.
var envelopeOptions = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

// UnmarshalEnvelope decodes and checks an envelope: the one envelope
// decoder, used by the store, the reactors and the projections. It reads
// the fields with jsontext's streaming decoder as encoding/json would
// (keys matched case-insensitively, unknown keys ignored, the last of a
// duplicate key wins) and checks that the payload is JSON, but leaves it
// as it is: Data shares b's bytes.
func UnmarshalEnvelope(b []byte) (Envelope, error) {
	r := envelopeReaders.Get().(*envelopeReader)
	r.src = *bytes.NewBuffer(b)
	r.dec.Reset(&r.src, envelopeOptions...)
	e, err := r.envelope()
	r.src = bytes.Buffer{}
	r.dec.Reset(&r.src)
	envelopeReaders.Put(r)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.ID == uuid.Nil {
		return Envelope{}, fmt.Errorf("%w: missing id", ErrMalformed)
	}
	if !validType(e.Type) {
		return Envelope{}, fmt.Errorf("%w: invalid type %q", ErrMalformed, e.Type)
	}
	if len(e.Data) == 0 {
		return Envelope{}, fmt.Errorf("%w: missing data", ErrMalformed)
	}
	return e, nil
}

// envelope reads the one JSON object the decoder holds.
func (r *envelopeReader) envelope() (Envelope, error) {
	var e Envelope
	if tok, err := r.dec.ReadToken(); err != nil {
		return e, err
	} else if tok.Kind() != '{' {
		return e, fmt.Errorf("%v, not an object", tok.Kind())
	}
	for r.dec.PeekKind() != '}' {
		name, err := r.dec.ReadValue()
		if err != nil {
			return e, err
		}
		field := envelopeField(name)
		v, err := r.dec.ReadValue()
		if err != nil {
			return e, err
		}
		if field == "data" {
			e.Data = json.RawMessage(v)
			continue
		}
		if field == "" || v.Kind() == 'n' { // as encoding/json: null changes nothing
			continue
		}
		if v.Kind() != '"' {
			return e, fmt.Errorf("%s is a %v, not a string", field, v.Kind())
		}
		switch field {
		case "occurred_at":
			err = e.OccurredAt.UnmarshalJSON(v)
		case "id":
			e.ID, err = uuid.ParseBytes(unquote(v))
		case "type":
			e.Type = string(unquote(v))
		case "correlation_id":
			e.CorrelationID = string(unquote(v))
		case "causation_id":
			e.CausationID = string(unquote(v))
		}
		if err != nil {
			return e, fmt.Errorf("%s: %w", field, err)
		}
	}
	if _, err := r.dec.ReadToken(); err != nil {
		return e, err
	}
	if _, err := r.dec.ReadValue(); err != io.EOF {
		return e, errors.New("data after the envelope")
	}
	return e, nil
}

// envelopeFields are the envelope's keys, as Marshal writes them.
var envelopeFields = [...]string{"id", "type", "occurred_at", "correlation_id", "causation_id", "data"}

// envelopeField returns the field the key token name stands for, or "".
func envelopeField(name []byte) string {
	for _, f := range envelopeFields {
		if len(name) == len(f)+2 && string(name[1:len(name)-1]) == f {
			return f
		}
	}
	key := string(unquote(name))
	for _, f := range envelopeFields {
		if strings.EqualFold(key, f) {
			return f
		}
	}
	return ""
}

// unquote returns the text of a string token (invalid UTF-8 as U+FFFD).
func unquote(tok []byte) []byte {
	if bytes.IndexByte(tok, '\\') < 0 && len(tok) >= 2 {
		if s := tok[1 : len(tok)-1]; utf8.Valid(s) {
			return s
		}
	}
	s, _ := jsontext.AppendUnquote(nil, tok)
	return s
}

// Decoder turns an event's JSON payload into the Go value of its type.
type Decoder func(data []byte) (any, error)

// JSON returns a Decoder that unmarshals a payload into a new T as
// encoding/json does (with go-json-experiment's v1 implementation, faster:
// see bench/jsonlibs).
func JSON[T any]() Decoder {
	return func(data []byte) (any, error) {
		v := new(T)
		if err := jsonv1.Unmarshal(data, v); err != nil {
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
	if !validType(eventType) {
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
