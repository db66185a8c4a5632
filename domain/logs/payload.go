package logs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// DecodeEntriesReceived decodes an EntriesReceived payload. Payloads written
// by AppendPayload and EncodeEntry have a fixed layout; those are sliced
// apart directly, which is several times cheaper than encoding/json and is
// most of a projector's CPU. Anything else (older layouts, other writers,
// damage) goes through encoding/json, so the result is the same either way.
func DecodeEntriesReceived(data []byte) ([]Entry, error) {
	if entries, ok := decodeFast(data); ok {
		return entries, nil
	}
	var p EntriesReceived
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decode %s: %w", EntriesReceivedV1, err)
	}
	return p.Entries, nil
}

// scanner walks a payload in EncodeEntry's layout; every method reports
// false as soon as the input is not exactly that layout.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) lit(l string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(l)) {
		s.i += len(l)
		return true
	}
	return false
}

// str reads a JSON string.
func (s *scanner) str() (string, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	start := s.i
	escaped := false
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '\\':
			escaped = true
			j++
		case c == '"':
			s.i = j + 1
			raw := s.b[start : j+1]
			if escaped {
				var out string
				if json.Unmarshal(raw, &out) != nil {
					return "", false
				}
				return out, true
			}
			if !utf8.Valid(raw) {
				return "", false
			}
			return string(raw[1 : len(raw)-1]), true
		case c < 0x20:
			return "", false
		}
	}
	return "", false
}

// object reads a JSON object as raw bytes (validated by encoding/json only
// when it contains something unusual).
func (s *scanner) object() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return nil, false
	}
	depth, inString := 0, false
	for j := s.i; j < len(s.b); j++ {
		c := s.b[j]
		if inString {
			switch c {
			case '\\':
				j++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				raw := s.b[s.i : j+1]
				s.i = j + 1
				if !json.Valid(raw) {
					return nil, false
				}
				return raw, true
			}
		}
	}
	return nil, false
}

func decodeFast(data []byte) ([]Entry, bool) {
	s := &scanner{b: data}
	if !s.lit(`{"entries":[`) {
		return nil, false
	}
	var entries []Entry
	if s.lit(`]}`) {
		return []Entry{}, s.i == len(data)
	}
	for {
		e, ok := s.entry()
		if !ok {
			return nil, false
		}
		entries = append(entries, e)
		if s.lit(`,`) {
			continue
		}
		return entries, s.lit(`]}`) && s.i == len(data)
	}
}

// entry reads {"id","level","message"[,"context"][,"source"],"received_at"
// [,"trace_id"][,"span_id"][,"time"][,"observed_time"]}.
func (s *scanner) entry() (Entry, bool) {
	var e Entry
	if !s.lit(`{"id":"`) || s.i+36 > len(s.b) {
		return e, false
	}
	id, err := uuid.ParseBytes(s.b[s.i : s.i+36])
	if err != nil {
		return e, false
	}
	e.ID = id
	s.i += 36
	var ok bool
	if !s.lit(`","level":`) {
		return e, false
	}
	if e.Level, ok = s.str(); !ok || !s.lit(`,"message":`) {
		return e, false
	}
	if e.Message, ok = s.str(); !ok {
		return e, false
	}
	if s.lit(`,"context":`) {
		if e.Context, ok = s.object(); !ok {
			return e, false
		}
	}
	if s.lit(`,"source":`) {
		if e.Source, ok = s.str(); !ok {
			return e, false
		}
	}
	if !s.lit(`,"received_at":"`) {
		return e, false
	}
	end := bytes.IndexByte(s.b[s.i:], '"')
	if end < 0 {
		return e, false
	}
	// The same (strict RFC 3339) parser encoding/json uses for time.Time.
	if err := e.ReceivedAt.UnmarshalText(s.b[s.i : s.i+end]); err != nil {
		return e, false
	}
	s.i += end + 1
	// OpenTelemetry's fields, each only when set (EncodeEntry's order).
	if s.lit(`,"trace_id":`) {
		if e.TraceID, ok = s.str(); !ok {
			return e, false
		}
	}
	if s.lit(`,"span_id":`) {
		if e.SpanID, ok = s.str(); !ok {
			return e, false
		}
	}
	if s.lit(`,"time":`) && !s.time(&e.Time) {
		return e, false
	}
	if s.lit(`,"observed_time":`) && !s.time(&e.ObservedTime) {
		return e, false
	}
	return e, s.lit(`}`)
}

// time reads a JSON string holding an RFC 3339 time.
func (s *scanner) time(t *time.Time) bool {
	if !s.lit(`"`) {
		return false
	}
	end := bytes.IndexByte(s.b[s.i:], '"')
	if end < 0 || t.UnmarshalText(s.b[s.i:s.i+end]) != nil {
		return false
	}
	s.i += end + 1
	return true
}
