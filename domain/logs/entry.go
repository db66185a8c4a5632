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
// received at now.
func (in Input) Validate(now time.Time) (Entry, *FieldError) {
	level := in.Level
	if level == "" {
		level = "info"
	}
	level = strings.ToLower(level)
	if !ValidLevel(level) {
		return Entry{}, &FieldError{Index: -1, Field: "level", Reason: fmt.Sprintf("must be one of %s", strings.Join(Levels, ", "))}
	}
	if in.Message == nil {
		return Entry{}, &FieldError{Index: -1, Field: "message", Reason: "is required"}
	}
	msg := *in.Message
	switch {
	case len(msg) == 0:
		return Entry{}, &FieldError{Index: -1, Field: "message", Reason: "must not be empty"}
	case len(msg) > MaxMessageBytes:
		return Entry{}, &FieldError{Index: -1, Field: "message", Reason: fmt.Sprintf("must be at most %d bytes", MaxMessageBytes)}
	case strings.IndexByte(msg, 0) >= 0:
		return Entry{}, &FieldError{Index: -1, Field: "message", Reason: "must not contain NUL characters"}
	case !utf8.ValidString(msg):
		return Entry{}, &FieldError{Index: -1, Field: "message", Reason: "must be valid UTF-8"}
	}
	if len(in.Source) > MaxSourceBytes {
		return Entry{}, &FieldError{Index: -1, Field: "source", Reason: fmt.Sprintf("must be at most %d bytes", MaxSourceBytes)}
	}
	if strings.IndexByte(in.Source, 0) >= 0 {
		return Entry{}, &FieldError{Index: -1, Field: "source", Reason: "must not contain NUL characters"}
	}
	ctx, ferr := normalizeContext(in.Context)
	if ferr != nil {
		return Entry{}, ferr
	}
	return Entry{ID: uuid.Must(uuid.NewV7()), Level: level, Message: msg, Context: ctx, Source: in.Source, ReceivedAt: now.UTC()}, nil
}

// normalizeContext accepts a JSON object or null. PostgreSQL's jsonb cannot
// hold the NUL character, so an escaped one is refused here rather than
// failing later in the projector.
func normalizeContext(raw json.RawMessage) (json.RawMessage, *FieldError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, &FieldError{Index: -1, Field: "context", Reason: "must be a JSON object"}
	}
	if len(raw) > MaxContextBytes {
		return nil, &FieldError{Index: -1, Field: "context", Reason: fmt.Sprintf("must be at most %d bytes", MaxContextBytes)}
	}
	if bytes.Contains(raw, []byte(`\u0000`)) {
		return nil, &FieldError{Index: -1, Field: "context", Reason: "must not contain NUL characters"}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, &FieldError{Index: -1, Field: "context", Reason: "must be valid JSON"}
	}
	return buf.Bytes(), nil
}
