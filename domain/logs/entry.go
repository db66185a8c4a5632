package logs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits of one entry.
const (
	// MaxMessageBytes is the largest message accepted.
	MaxMessageBytes = 65536
	// MaxSourceBytes is the longest source name accepted.
	MaxSourceBytes = 256
	// MaxContextBytes bounds the encoded context object.
	MaxContextBytes = 512 << 10
	// MaxContextDepth bounds how deeply the context nests objects and
	// arrays, the context object itself being level 1. PostgreSQL parses
	// jsonb recursively and refuses deep documents once it runs out of
	// stack: about 630 levels at its smallest max_stack_depth (100kB).
	MaxContextDepth = 100
)

// Levels are the accepted log levels, least severe first (syslog's names).
var Levels = []string{"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}

// ValidLevel reports whether level is one of Levels.
func ValidLevel(level string) bool {
	for _, l := range Levels {
		if l == level {
			return true
		}
	}
	return false
}

// Entry is one accepted log entry, as carried by events and stored.
type Entry struct {
	ID         uuid.UUID       `json:"id"`
	Level      string          `json:"level"`
	Message    string          `json:"message"`
	Context    json.RawMessage `json:"context,omitempty"`
	Source     string          `json:"source,omitempty"`
	ReceivedAt time.Time       `json:"received_at"`
	// TraceID and SpanID are an OpenTelemetry record's trace context, as
	// lower-case hex (32 and 16 digits); empty when the record had none.
	TraceID string `json:"trace_id,omitempty"`
	SpanID  string `json:"span_id,omitempty"`
	// Time is when the event happened by its source's clock, and
	// ObservedTime when a collector first saw it (OpenTelemetry's
	// time_unix_nano and observed_time_unix_nano); zero when not given.
	Time         time.Time `json:"time,omitzero"`
	ObservedTime time.Time `json:"observed_time,omitzero"`
}

// Input is an entry as a client sends it.
type Input struct {
	Level   string          `json:"level"`
	Message *string         `json:"message"`
	Context json.RawMessage `json:"context"`
	Source  string          `json:"source"`
}

// FieldError is a validation failure of one field of one entry.
type FieldError struct {
	// Index is the entry's position in a batch (-1 for a single entry).
	Index int
	// Field names the offending field ("" when the entry as a whole is bad).
	Field string
	// Reason is a human sentence.
	Reason string
}

// Error implements error: "entry N: field: reason".
func (e *FieldError) Error() string {
	prefix := ""
	if e.Index >= 0 {
		prefix = fmt.Sprintf("entry %d: ", e.Index)
	}
	if e.Field != "" {
		return prefix + e.Field + ": " + e.Reason
	}
	return prefix + e.Reason
}

// Validate checks in and turns it into an Entry with a fresh time-ordered id
// received at now. Everything it accepts, PostgreSQL stores unchanged.
func (in Input) Validate(now time.Time) (Entry, *FieldError) {
	level, fe := in.check()
	if fe != nil {
		return Entry{}, fe
	}
	ctx, fe := normalizeContext(in.Context)
	if fe != nil {
		return Entry{}, fe
	}
	return in.newEntry(level, ctx, now), nil
}

// entry validates in, whose context has already been read and compacted
// into ctx.
func (in Input) entry(ctx []byte, now time.Time) (Entry, *FieldError) {
	level, fe := in.check()
	if fe != nil {
		return Entry{}, fe
	}
	return in.newEntry(level, ctx, now), nil
}

func (in Input) newEntry(level string, ctx []byte, now time.Time) Entry {
	return Entry{ID: uuid.Must(uuid.NewV7()), Level: level, Message: *in.Message, Context: ctx, Source: in.Source, ReceivedAt: now.UTC()}
}

// check validates the text fields and returns the level, lower-cased.
func (in Input) check() (string, *FieldError) {
	level := in.Level
	if level == "" {
		level = "info"
	}
	if !utf8.ValidString(level) {
		return "", &FieldError{Index: -1, Field: "level", Reason: "must be valid UTF-8"}
	}
	level = strings.ToLower(level)
	if !ValidLevel(level) {
		return "", &FieldError{Index: -1, Field: "level", Reason: fmt.Sprintf("must be one of %s", strings.Join(Levels, ", "))}
	}
	if in.Message == nil {
		return "", &FieldError{Index: -1, Field: "message", Reason: "is required"}
	}
	msg := *in.Message
	switch {
	case len(msg) == 0:
		return "", &FieldError{Index: -1, Field: "message", Reason: "must not be empty"}
	case len(msg) > MaxMessageBytes:
		return "", &FieldError{Index: -1, Field: "message", Reason: fmt.Sprintf("must be at most %d bytes", MaxMessageBytes)}
	}
	if fe := checkText("message", msg); fe != nil {
		return "", fe
	}
	if len(in.Source) > MaxSourceBytes {
		return "", &FieldError{Index: -1, Field: "source", Reason: fmt.Sprintf("must be at most %d bytes", MaxSourceBytes)}
	}
	if fe := checkText("source", in.Source); fe != nil {
		return "", fe
	}
	return level, nil
}

// checkText refuses what a PostgreSQL text column cannot hold.
func checkText(field, s string) *FieldError {
	if strings.IndexByte(s, 0) >= 0 {
		return &FieldError{Index: -1, Field: field, Reason: "must not contain NUL characters"}
	}
	if !utf8.ValidString(s) {
		return &FieldError{Index: -1, Field: field, Reason: "must be valid UTF-8"}
	}
	return nil
}

// normalizeContext accepts a JSON object or null and returns the object
// compacted; it refuses what PostgreSQL's jsonb cannot store (see
// jsonReader), naming where: "context.a[2].b".
func normalizeContext(raw json.RawMessage) (json.RawMessage, *FieldError) {
	raw = bytes.Trim(raw, " \t\r\n")
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, &FieldError{Index: -1, Field: "context", Reason: "must be a JSON object"}
	}
	r := newJSONReader(raw)
	defer r.release()
	ctx, p := r.context()
	switch {
	case p == nil && r.dec.InputOffset() == int64(len(raw)):
		return ctx, nil
	case p == nil || p.syntax:
		return nil, &FieldError{Index: -1, Field: "context", Reason: "must be valid JSON"}
	}
	return nil, &FieldError{Index: -1, Field: "context" + p.path, Reason: p.reason}
}
