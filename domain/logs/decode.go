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

// Entries are read by jsonReader in one pass: each string is checked and
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
	key = unquote(tok)
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

// syntaxError reads the value the decoder could not peek, for its error.
func (r *jsonReader) syntaxError(index int) *FieldError {
	_, err := r.dec.ReadValue()
	return syntaxFieldError(syntaxProblem(err), index)
}

// entry reads one entry object. The context comes back compacted and
// checked; the other fields are for Input.check.
func (r *jsonReader) entry(index int) (Input, []byte, *FieldError) {
	var in Input
	var ctx []byte
	switch r.peek() {
	case '{':
	case 0:
		return in, nil, r.syntaxError(index)
	default:
		return in, nil, &FieldError{Index: index, Reason: "must be a JSON object"}
	}
	if _, err := r.dec.ReadToken(); err != nil {
		return in, nil, syntaxFieldError(syntaxProblem(err), index)
	}
	for {
		switch r.peek() {
		case '}':
			if _, err := r.dec.ReadToken(); err != nil {
				return in, nil, syntaxFieldError(syntaxProblem(err), index)
			}
			return in, ctx, nil
		case '"':
		default:
			return in, nil, r.syntaxError(index)
		}
		tok, fault, err := r.readString()
		switch {
		case fault != faultNone:
			return in, nil, &FieldError{Index: index, Reason: fault.keyReason()}
		case err != nil:
			return in, nil, syntaxFieldError(syntaxProblem(err), index)
		}
		if rest := r.rest(); len(rest) == 0 || rest[0] != ':' {
			return in, nil, r.syntaxError(index)
		}
		field, key := fieldOf(tok)
		switch field {
		case "":
			return in, nil, &FieldError{Index: index, Field: key, Reason: "is not a known field"}
		case "context":
			var fe *FieldError
			if ctx, fe = r.contextValue(index); fe != nil {
				return in, nil, fe
			}
			in.Context = ctx
		default:
			str, isNull, fe := r.stringField(field, index)
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
	}
}

// stringField reads the string (or null) value of field.
func (r *jsonReader) stringField(field string, index int) (str string, isNull bool, fe *FieldError) {
	switch r.peek() {
	case 'n':
		if _, err := r.dec.ReadValue(); err != nil {
			return "", false, syntaxFieldError(syntaxProblem(err), index)
		}
		return "", true, nil
	case '"':
	case 0:
		return "", false, r.syntaxError(index)
	default:
		return "", false, &FieldError{Index: index, Field: field, Reason: "must be a string"}
	}
	tok, fault, err := r.readString()
	switch {
	case fault != faultNone:
		return "", false, &FieldError{Index: index, Field: field, Reason: fault.valueReason()}
	case err != nil:
		return "", false, syntaxFieldError(syntaxProblem(err), index)
	}
	return unquote(tok), false, nil
}

// contextValue reads the context field's value: null, or an object that
// PostgreSQL can store, returned compacted.
func (r *jsonReader) contextValue(index int) ([]byte, *FieldError) {
	switch r.peek() {
	case 'n':
		if _, err := r.dec.ReadValue(); err != nil {
			return nil, syntaxFieldError(syntaxProblem(err), index)
		}
		return nil, nil
	case '{':
	case 0:
		return nil, r.syntaxError(index)
	default:
		return nil, &FieldError{Index: index, Field: "context", Reason: "must be a JSON object"}
	}
	ctx, p := r.context()
	switch {
	case p == nil:
		return ctx, nil
	case p.syntax:
		return nil, syntaxFieldError(p, index)
	}
	return nil, &FieldError{Index: index, Field: "context" + p.path, Reason: p.reason}
}

// rest is the input after the last value read and the whitespace after it.
func (r *jsonReader) rest() []byte {
	return trimSpace(r.data[r.dec.InputOffset():])
}

// trimSpace drops JSON whitespace from the start of b.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// end checks that nothing but whitespace follows the entry just read.
func (r *jsonReader) end(index int) *FieldError {
	switch rest := r.rest(); {
	case len(rest) == 0:
		return nil
	case isValueStart(rest[0]):
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
	r := newJSONReader(data)
	defer r.release()
	in, ctx, fe := r.entry(-1)
	if fe != nil {
		return Entry{}, fe
	}
	if fe := r.end(-1); fe != nil {
		return Entry{}, fe
	}
	return in.entry(ctx, now)
}

// bodySyntaxError reports a batch body that is not JSON.
func bodySyntaxError(err error) *FieldError {
	p := syntaxProblem(err)
	return &FieldError{Index: -1, Reason: fmt.Sprintf("body is not valid JSON: %s at byte %d", p.reason, p.at)}
}

// DecodeArray decodes and validates a JSON array of entries. All or nothing:
// the first bad entry is reported with its index.
func DecodeArray(data []byte, now time.Time) ([]Entry, *FieldError) {
	r := newJSONReader(data)
	defer r.release()
	switch r.peek() {
	case '[':
	case 0:
		_, err := r.dec.ReadValue()
		return nil, bodySyntaxError(err)
	default:
		return nil, &FieldError{Index: -1, Reason: "body must be a JSON array of entries"}
	}
	if _, err := r.dec.ReadToken(); err != nil {
		return nil, bodySyntaxError(err)
	}
	if r.peek() == ']' {
		return nil, &FieldError{Index: -1, Reason: "a batch needs at least one entry"}
	}
	// Entries are at least 15 bytes ({"message":"m"}): do not over-allocate
	// for a body of a few big entries.
	entries := make([]Entry, 0, min(len(data)/128+1, MaxBatchEntries))
	for i := 0; ; i++ {
		if i == MaxBatchEntries {
			return nil, &FieldError{Index: -1, Reason: ErrTooManyEntries.Error()}
		}
		in, ctx, fe := r.entry(i)
		if fe != nil {
			return nil, fe
		}
		e, fe := in.entry(ctx, now)
		if fe != nil {
			return nil, withIndex(fe, i)
		}
		entries = append(entries, e)
		switch r.peek() {
		case ']':
			if _, err := r.dec.ReadToken(); err != nil {
				return nil, bodySyntaxError(err)
			}
			if len(r.rest()) != 0 {
				return nil, &FieldError{Index: -1, Reason: "body has trailing data after the JSON array"}
			}
			return entries, nil
		case 0:
			_, err := r.dec.ReadValue()
			return nil, bodySyntaxError(err)
		}
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
		if len(trimSpace(line)) == 0 {
			continue
		}
		i := len(entries)
		if i == MaxBatchEntries {
			return nil, &FieldError{Index: -1, Reason: ErrTooManyEntries.Error()}
		}
		r := newJSONReader(line)
		in, ctx, fe := r.entry(i)
		if fe == nil {
			fe = r.end(i)
		}
		r.release()
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
