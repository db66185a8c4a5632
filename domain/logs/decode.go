package logs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// MaxBatchEntries is the most entries one batch request may hold.
const MaxBatchEntries = 10000

// ErrTooManyEntries reports a batch over MaxBatchEntries.
var ErrTooManyEntries = fmt.Errorf("a batch holds at most %d entries", MaxBatchEntries)

// decodeInput decodes one JSON object strictly: unknown fields are refused so
// that a typo ("mesage") is reported instead of silently dropped.
func decodeInput(data []byte, index int) (Input, *FieldError) {
	var in Input
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return Input{}, jsonFieldError(err, index)
	}
	if dec.More() {
		return Input{}, &FieldError{Index: index, Reason: "must hold exactly one JSON object"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Input{}, &FieldError{Index: index, Reason: "has trailing data after the JSON object"}
	}
	return in, nil
}

func jsonFieldError(err error, index int) *FieldError {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return &FieldError{Index: index, Reason: "must be a JSON object"}
		}
		return &FieldError{Index: index, Field: field, Reason: fmt.Sprintf("must be a %s", jsonKind(typeErr.Type.Kind().String()))}
	case errors.As(err, &syntaxErr):
		return &FieldError{Index: index, Reason: fmt.Sprintf("is not valid JSON (%s at byte %d)", syntaxErr.Error(), syntaxErr.Offset)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &FieldError{Index: index, Reason: "is empty or truncated JSON"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &FieldError{Index: index, Field: name, Reason: "is not a known field"}
	}
	return &FieldError{Index: index, Reason: "is not valid JSON: " + err.Error()}
}

func jsonKind(k string) string {
	switch k {
	case "ptr", "string":
		return "string"
	case "slice":
		return "JSON value"
	}
	return k
}

func withIndex(fe *FieldError, index int) *FieldError {
	fe.Index = index
	return fe
}

// DecodeSingle decodes and validates one entry.
func DecodeSingle(data []byte, now time.Time) (Entry, *FieldError) {
	in, fe := decodeInput(data, -1)
	if fe != nil {
		return Entry{}, fe
	}
	return in.Validate(now)
}

// DecodeArray decodes and validates a JSON array of entries. All or nothing:
// the first bad entry is reported with its index.
func DecodeArray(data []byte, now time.Time) ([]Entry, *FieldError) {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, &FieldError{Index: -1, Reason: "body must be a JSON array of entries"}
		}
		return nil, &FieldError{Index: -1, Reason: "body is not valid JSON: " + err.Error()}
	}
	return validateAll(raws, now)
}

// DecodeNDJSON decodes and validates newline-delimited JSON entries; blank
// lines are skipped and an entry's index counts entries, not lines.
func DecodeNDJSON(data []byte, now time.Time) ([]Entry, *FieldError) {
	var raws []json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), len(data)+1)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(raws) == MaxBatchEntries {
			return nil, &FieldError{Index: -1, Reason: ErrTooManyEntries.Error()}
		}
		raws = append(raws, json.RawMessage(line))
	}
	if err := sc.Err(); err != nil {
		return nil, &FieldError{Index: len(raws), Reason: "cannot be read: " + err.Error()}
	}
	return validateAll(raws, now)
}

func validateAll(raws []json.RawMessage, now time.Time) ([]Entry, *FieldError) {
	if len(raws) == 0 {
		return nil, &FieldError{Index: -1, Reason: "a batch needs at least one entry"}
	}
	if len(raws) > MaxBatchEntries {
		return nil, &FieldError{Index: -1, Reason: ErrTooManyEntries.Error()}
	}
	entries := make([]Entry, len(raws))
	for i, raw := range raws {
		in, fe := decodeInput(raw, i)
		if fe != nil {
			return nil, fe
		}
		e, fe := in.Validate(now)
		if fe != nil {
			return nil, withIndex(fe, i)
		}
		entries[i] = e
	}
	return entries, nil
}
