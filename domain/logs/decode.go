package logs

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// MaxBatchEntries is the most entries one batch request may hold.
const MaxBatchEntries = 10000

// ErrTooManyEntries reports a batch over MaxBatchEntries.
var ErrTooManyEntries = fmt.Errorf("a batch holds at most %d entries", MaxBatchEntries)

// Entries are read by strictJSON in one pass: each string is checked and
// decoded as it is read, so nothing is silently rewritten (encoding/json
// turns invalid UTF-8 and unpaired surrogates into U+FFFD), and the context
// is checked for what PostgreSQL's jsonb refuses. Field names match as
// encoding/json matches them (case-insensitively); unknown fields are
// refused so that a typo ("mesage") is reported instead of dropped.

// entryFields are the fields of an entry, by their canonical names.
var entryFields = [...]string{"level", "message", "context", "source"}

// fieldOf returns the canonical name of the field whose key token is tok
// and the key itself.
func fieldOf(tok []byte) (field, key string) {
	switch string(tok) {
	case `"level"`:
		return "level", "level"
	case `"message"`:
		return "message", "message"
	case `"context"`:
		return "context", "context"
	case `"source"`:
		return "source", "source"
	}
	key = decodeString(tok)
	for _, f := range entryFields {
		if strings.EqualFold(key, f) {
			return f, key
		}
	}
	return "", key
}

// isValueStart reports whether c can begin a JSON value.
func isValueStart(c byte) bool {
	switch c {
	case '{', '[', '"', '-', 't', 'f', 'n':
		return true
	}
	return c >= '0' && c <= '9'
}

// syntaxFieldError turns a syntax problem into an entry's error.
func syntaxFieldError(p *jsonProblem, index int) *FieldError {
	if p.truncated {
		return &FieldError{Index: index, Reason: "is empty or truncated JSON"}
	}
	return &FieldError{Index: index, Reason: fmt.Sprintf("is not valid JSON (%s at byte %d)", p.reason, p.at)}
}

// entry reads one entry object at s.i. The context comes back compacted
// and checked; the other fields are for Input.check.
func (s *strictJSON) entry(index int) (Input, []byte, *FieldError) {
	var in Input
	var ctx []byte
	s.ws()
	switch c := s.peek(); {
	case c == '{':
	case isValueStart(c):
		return in, nil, &FieldError{Index: index, Reason: "must be a JSON object"}
	default:
		s.syntaxError("looking for beginning of value")
		return in, nil, syntaxFieldError(s.err, index)
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		s.i++
		return in, nil, nil
	}
	for {
		s.ws()
		if s.peek() != '"' {
			s.syntaxError("looking for beginning of object key string")
			return in, nil, syntaxFieldError(s.err, index)
		}
		start := s.i
		if _, fault := s.str(); fault != faultNone {
			if fault == faultSyntax || fault == faultTruncated {
				s.stringFault(fault, start, false)
				return in, nil, syntaxFieldError(s.err, index)
			}
			return in, nil, &FieldError{Index: index, Reason: fault.keyReason()}
		}
		field, key := fieldOf(s.b[start:s.i])
		s.ws()
		if s.peek() != ':' {
			s.syntaxError("after object key")
			return in, nil, syntaxFieldError(s.err, index)
		}
		s.i++
		s.ws()
		switch field {
		case "":
			return in, nil, &FieldError{Index: index, Field: key, Reason: "is not a known field"}
		case "context":
			var fe *FieldError
			if ctx, fe = s.contextValue(index); fe != nil {
				return in, nil, fe
			}
			in.Context = ctx
		default:
			str, isNull, fe := s.stringField(field, index)
			if fe != nil {
				return in, nil, fe
			}
			switch {
			case field == "message" && isNull:
				in.Message = nil
			case field == "message":
				in.Message = &str
			case isNull: // as encoding/json: null leaves a string alone
			case field == "level":
				in.Level = str
			default:
				in.Source = str
			}
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case '}':
			s.i++
			return in, ctx, nil
		}
		s.syntaxError("after object key:value pair")
		return in, nil, syntaxFieldError(s.err, index)
	}
}

// stringField reads the string (or null) value of field.
func (s *strictJSON) stringField(field string, index int) (str string, isNull bool, fe *FieldError) {
	switch c := s.peek(); {
	case c == 'n':
		if !s.literal("null") {
			return "", false, syntaxFieldError(s.err, index)
		}
		return "", true, nil
	case c == '"':
	case isValueStart(c):
		return "", false, &FieldError{Index: index, Field: field, Reason: "must be a string"}
	default:
		s.syntaxError("looking for beginning of value")
		return "", false, syntaxFieldError(s.err, index)
	}
	start := s.i
	escaped, fault := s.str()
	switch fault {
	case faultNone:
	case faultSyntax, faultTruncated:
		s.stringFault(fault, start, false)
		return "", false, syntaxFieldError(s.err, index)
	default:
		return "", false, &FieldError{Index: index, Field: field, Reason: fault.valueReason()}
	}
	if !escaped {
		return string(s.b[start+1 : s.i-1]), false, nil
	}
	return decodeString(s.b[start:s.i]), false, nil
}

// contextValue reads the context field's value: null, or an object that
// PostgreSQL can store, returned compacted.
func (s *strictJSON) contextValue(index int) ([]byte, *FieldError) {
	switch c := s.peek(); {
	case c == 'n':
		if !s.literal("null") {
			return nil, syntaxFieldError(s.err, index)
		}
		return nil, nil
	case c == '{':
	case isValueStart(c):
		return nil, &FieldError{Index: index, Field: "context", Reason: "must be a JSON object"}
	default:
		s.syntaxError("looking for beginning of value")
		return nil, syntaxFieldError(s.err, index)
	}
	ctx, p := s.context()
	switch {
	case p == nil:
		return ctx, nil
	case p.syntax:
		return nil, syntaxFieldError(p, index)
	}
	return nil, &FieldError{Index: index, Field: "context" + p.path, Reason: p.reason}
}

// context reads the object at s.i (an opening brace) and returns a compacted
// copy of it, or the problem that keeps PostgreSQL from storing it.
func (s *strictJSON) context() ([]byte, *jsonProblem) {
	start := s.i
	s.spaced = false
	s.path = s.path[:0]
	if !s.object(1) {
		return nil, s.err
	}
	raw := s.b[start:s.i]
	if len(raw) > MaxContextBytes {
		return nil, &jsonProblem{at: start, reason: fmt.Sprintf("must be at most %d bytes", MaxContextBytes)}
	}
	if s.spaced {
		return compactJSON(make([]byte, 0, len(raw)), raw), nil
	}
	return bytes.Clone(raw), nil
}

// end checks that nothing but whitespace follows the entry just read.
func (s *strictJSON) end(index int) *FieldError {
	s.ws()
	switch {
	case s.i == len(s.b):
		return nil
	case isValueStart(s.peek()):
		return &FieldError{Index: index, Reason: "must hold exactly one JSON object"}
	}
	return &FieldError{Index: index, Reason: "has trailing data after the JSON object"}
}

func withIndex(fe *FieldError, index int) *FieldError {
	fe.Index = index
	return fe
}

// DecodeSingle decodes and validates one entry.
func DecodeSingle(data []byte, now time.Time) (Entry, *FieldError) {
	s := strictJSON{b: data}
	in, ctx, fe := s.entry(-1)
	if fe != nil {
		return Entry{}, fe
	}
	if fe := s.end(-1); fe != nil {
		return Entry{}, fe
	}
	return in.entry(ctx, now)
}

// DecodeArray decodes and validates a JSON array of entries. All or nothing:
// the first bad entry is reported with its index.
func DecodeArray(data []byte, now time.Time) ([]Entry, *FieldError) {
	s := strictJSON{b: data}
	s.ws()
	switch c := s.peek(); {
	case c == '[':
	case isValueStart(c):
		return nil, &FieldError{Index: -1, Reason: "body must be a JSON array of entries"}
	default:
		s.syntaxError("looking for beginning of value")
		return nil, &FieldError{Index: -1, Reason: fmt.Sprintf("body is not valid JSON: %s at byte %d", s.err.reason, s.err.at)}
	}
	s.i++
	s.ws()
	if s.peek() == ']' {
		return nil, &FieldError{Index: -1, Reason: "a batch needs at least one entry"}
	}
	// Entries are at least 15 bytes ({"message":"m"}): do not over-allocate
	// for a body of a few big entries.
	entries := make([]Entry, 0, min(len(data)/128+1, MaxBatchEntries))
	for i := 0; ; i++ {
		if i == MaxBatchEntries {
			return nil, &FieldError{Index: -1, Reason: ErrTooManyEntries.Error()}
		}
		in, ctx, fe := s.entry(i)
		if fe != nil {
			return nil, fe
		}
		e, fe := in.entry(ctx, now)
		if fe != nil {
			return nil, withIndex(fe, i)
		}
		entries = append(entries, e)
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			continue
		case ']':
			s.i++
			s.ws()
			if s.i != len(data) {
				return nil, &FieldError{Index: -1, Reason: "body has trailing data after the JSON array"}
			}
			return entries, nil
		}
		s.syntaxError("after array element")
		return nil, &FieldError{Index: -1, Reason: fmt.Sprintf("body is not valid JSON: %s at byte %d", s.err.reason, s.err.at)}
	}
}

// DecodeNDJSON decodes and validates newline-delimited JSON entries; blank
// lines are skipped and an entry's index counts entries, not lines.
func DecodeNDJSON(data []byte, now time.Time) ([]Entry, *FieldError) {
	var entries []Entry
	for rest := data; len(rest) > 0; {
		line := rest
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			line, rest = rest[:nl], rest[nl+1:]
		} else {
			rest = nil
		}
		s := strictJSON{b: line}
		if s.ws(); s.i == len(line) {
			continue
		}
		i := len(entries)
		if i == MaxBatchEntries {
			return nil, &FieldError{Index: -1, Reason: ErrTooManyEntries.Error()}
		}
		in, ctx, fe := s.entry(i)
		if fe == nil {
			fe = s.end(i)
		}
		if fe != nil {
			return nil, fe
		}
		e, fe := in.entry(ctx, now)
		if fe != nil {
			return nil, withIndex(fe, i)
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, &FieldError{Index: -1, Reason: "a batch needs at least one entry"}
	}
	return entries, nil
}
