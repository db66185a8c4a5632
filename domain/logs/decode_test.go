package logs

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func TestDecodeSingle(t *testing.T) {
	long := strings.Repeat("x", MaxMessageBytes+1)
	tests := []struct {
		name      string
		body      string
		wantField string
		wantErr   string
		check     func(t *testing.T, e Entry)
	}{
		{name: "full entry", body: `{"level":"error","message":"disk full","context":{"disk":"/dev/sda","pct":99},"source":"node-1"}`,
			check: func(t *testing.T, e Entry) {
				require.Equal(t, "error", e.Level)
				require.Equal(t, "disk full", e.Message)
				require.JSONEq(t, `{"disk":"/dev/sda","pct":99}`, string(e.Context))
				require.Equal(t, "node-1", e.Source)
				require.Equal(t, now, e.ReceivedAt)
				require.EqualValues(t, 7, e.ID.Version())
			}},
		{name: "level defaults to info", body: `{"message":"m"}`, check: func(t *testing.T, e Entry) { require.Equal(t, "info", e.Level) }},
		{name: "level is case-insensitive", body: `{"level":"WARNING","message":"m"}`, check: func(t *testing.T, e Entry) { require.Equal(t, "warning", e.Level) }},
		{name: "null context is no context", body: `{"message":"m","context":null}`, check: func(t *testing.T, e Entry) { require.Nil(t, e.Context) }},
		{name: "context is compacted", body: `{"message":"m","context":{ "a" : [1, 2] }}`, check: func(t *testing.T, e Entry) { require.Equal(t, `{"a":[1,2]}`, string(e.Context)) }},
		{name: "message at the limit", body: `{"message":"` + strings.Repeat("y", MaxMessageBytes) + `"}`},
		{name: "unknown level", body: `{"level":"loud","message":"m"}`, wantField: "level"},
		{name: "missing message", body: `{"level":"info"}`, wantField: "message", wantErr: "required"},
		{name: "empty message", body: `{"message":""}`, wantField: "message"},
		{name: "message too long", body: `{"message":"` + long + `"}`, wantField: "message", wantErr: "65536"},
		{name: "message with NUL", body: `{"message":"a\u0000b"}`, wantField: "message"},
		{name: "message not a string", body: `{"message":42}`, wantField: "message"},
		{name: "context not an object", body: `{"message":"m","context":[1]}`, wantField: "context"},
		{name: "context with NUL", body: `{"message":"m","context":{"k":"\u0000"}}`, wantField: "context.k", wantErr: "NUL"},
		{name: "unknown field", body: `{"mesage":"m"}`, wantField: "mesage"},
		{name: "source too long", body: `{"message":"m","source":"` + strings.Repeat("s", 257) + `"}`, wantField: "source"},
		{name: "not JSON", body: `level=info`, wantErr: "not valid JSON"},
		{name: "array instead of object", body: `[{"message":"m"}]`, wantErr: "JSON object"},
		{name: "two objects", body: `{"message":"a"}{"message":"b"}`, wantErr: "exactly one"},
		{name: "empty body", body: ``, wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, fe := DecodeSingle([]byte(tt.body), now)
			if tt.wantField == "" && tt.wantErr == "" {
				require.Nil(t, fe)
				if tt.check != nil {
					tt.check(t, e)
				}
				return
			}
			require.NotNil(t, fe, "want an error")
			require.Equal(t, -1, fe.Index)
			require.Equal(t, tt.wantField, fe.Field)
			require.Contains(t, fe.Error(), tt.wantErr)
		})
	}
}

func TestDecodeBatchReportsTheBadIndex(t *testing.T) {
	tests := []struct {
		name      string
		decode    func([]byte, time.Time) ([]Entry, *FieldError)
		body      string
		wantN     int
		wantIndex int
		wantField string
	}{
		{name: "array ok", decode: DecodeArray, body: `[{"message":"a"},{"message":"b","level":"debug"}]`, wantN: 2},
		{name: "array bad second", decode: DecodeArray, body: `[{"message":"a"},{"message":""}]`, wantIndex: 1, wantField: "message"},
		{name: "array bad type", decode: DecodeArray, body: `[{"message":"a"},7]`, wantIndex: 1},
		{name: "array empty", decode: DecodeArray, body: `[]`, wantIndex: -1},
		{name: "not an array", decode: DecodeArray, body: `{"message":"a"}`, wantIndex: -1},
		{name: "ndjson ok with blank lines", decode: DecodeNDJSON, body: "{\"message\":\"a\"}\n\n{\"message\":\"b\"}\n", wantN: 2},
		{name: "ndjson crlf", decode: DecodeNDJSON, body: "{\"message\":\"a\"}\r\n{\"message\":\"b\"}\r\n", wantN: 2},
		{name: "ndjson bad third", decode: DecodeNDJSON, body: "{\"message\":\"a\"}\n{\"message\":\"b\"}\n{\"level\":\"nope\",\"message\":\"c\"}", wantIndex: 2, wantField: "level"},
		{name: "ndjson broken line", decode: DecodeNDJSON, body: "{\"message\":\"a\"}\n{\"message\":", wantIndex: 1},
		{name: "ndjson empty", decode: DecodeNDJSON, body: "\n\n", wantIndex: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, fe := tt.decode([]byte(tt.body), now)
			if tt.wantN > 0 {
				require.Nil(t, fe)
				require.Len(t, entries, tt.wantN)
				return
			}
			require.NotNil(t, fe)
			require.Nil(t, entries, "all or nothing")
			require.Equal(t, tt.wantIndex, fe.Index)
			require.Equal(t, tt.wantField, fe.Field)
		})
	}
}

func TestBatchLimit(t *testing.T) {
	var b strings.Builder
	for range MaxBatchEntries + 1 {
		b.WriteString(`{"message":"m"}` + "\n")
	}
	_, fe := DecodeNDJSON([]byte(b.String()), now)
	require.NotNil(t, fe)
	require.Contains(t, fe.Error(), "at most 10000")

	arr := "[" + strings.TrimSuffix(strings.Repeat(`{"message":"m"},`, MaxBatchEntries+1), ",") + "]"
	_, fe = DecodeArray([]byte(arr), now)
	require.NotNil(t, fe)

	ok := "[" + strings.TrimSuffix(strings.Repeat(`{"message":"m"},`, MaxBatchEntries), ",") + "]"
	entries, fe := DecodeArray([]byte(ok), now)
	require.Nil(t, fe)
	require.Len(t, entries, MaxBatchEntries)
}

func TestAppendPayloadDecodesBack(t *testing.T) {
	a, fe := DecodeSingle([]byte(`{"message":"one","context":{"k":1}}`), now)
	require.Nil(t, fe)
	b, fe := DecodeSingle([]byte(`{"message":"two \"quoted\"","source":"s"}`), now)
	require.Nil(t, fe)
	ea, err := EncodeEntry(a)
	require.NoError(t, err)
	eb, err := EncodeEntry(b)
	require.NoError(t, err)
	var p EntriesReceived
	require.NoError(t, json.Unmarshal(AppendPayload(nil, [][]byte{ea, eb}), &p))
	require.Equal(t, []Entry{a, b}, p.Entries)
}

// checkValid asserts what every accepted entry must satisfy, whatever the input.
func checkValid(t *testing.T, e Entry) {
	require.True(t, ValidLevel(e.Level))
	require.NotEmpty(t, e.Message)
	require.LessOrEqual(t, len(e.Message), MaxMessageBytes)
	require.NotContains(t, e.Message, "\x00")
	require.True(t, utf8.ValidString(e.Message))
	require.NotContains(t, e.Source, "\x00")
	require.True(t, utf8.ValidString(e.Source))
	if e.Context != nil {
		require.True(t, json.Valid(e.Context))
		require.True(t, utf8.Valid(e.Context))
		require.Equal(t, byte('{'), e.Context[0])
		var v any
		dec := json.NewDecoder(bytes.NewReader(e.Context))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&v))
		requireNoNUL(t, v)
	}
}

// requireNoNUL walks a decoded JSON value: no string or key holds NUL.
func requireNoNUL(t *testing.T, v any) {
	switch v := v.(type) {
	case string:
		require.NotContains(t, v, "\x00")
	case []any:
		for _, x := range v {
			requireNoNUL(t, x)
		}
	case map[string]any:
		for k, x := range v {
			require.NotContains(t, k, "\x00")
			requireNoNUL(t, x)
		}
	}
}

func FuzzDecodeSingle(f *testing.F) {
	for _, s := range []string{`{"message":"m"}`, `{"level":"error","message":"x","context":{"a":[1,{"b":null}]},"source":"s"}`,
		`{"message":"\u0000"}`, `{"message":"m","context":"str"}`, `[]`, `{`, `{"message":"\ud800"}`} {
		f.Add([]byte(s))
	}
	for _, c := range storableCases {
		if len(c.body) < 4096 {
			f.Add([]byte(c.body))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, fe := DecodeSingle(body, now)
		if fe != nil {
			require.NotEmpty(t, fe.Error())
			return
		}
		checkValid(t, e)
		// Nothing accepted is rewritten: encoding/json, which turns what we
		// refuse into U+FFFD, reads the very same text.
		require.True(t, json.Valid(body))
		var std struct {
			Message string
			Source  string
		}
		require.NoError(t, json.Unmarshal(body, &std))
		require.Equal(t, std.Message, e.Message)
		require.Equal(t, std.Source, e.Source)
		// What we accept must survive the trip through an event.
		enc, err := EncodeEntry(e)
		require.NoError(t, err)
		var back Entry
		require.NoError(t, json.Unmarshal(enc, &back))
		require.Equal(t, e.Message, back.Message)
	})
}

func FuzzDecodeNDJSON(f *testing.F) {
	f.Add([]byte("{\"message\":\"a\"}\n{\"message\":\"b\"}\n"))
	f.Add([]byte("\n\n{\"level\":\"x\"}"))
	f.Add([]byte("{\"message\":\"a\"}\n{\"message\":\"x\",\"context\":{\"n\":1e999999}}\n"))
	f.Add([]byte("{\"message\":\"\\\\u0000\"}\r\n{\"message\":\"y\",\"context\":{\"s\":\"\\ud800\"}}"))
	f.Add([]byte("{\"message\":\"a\xffb\"}\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		entries, fe := DecodeNDJSON(body, now)
		if fe != nil {
			require.Nil(t, entries)
			require.Less(t, fe.Index, MaxBatchEntries)
			return
		}
		require.NotEmpty(t, entries)
		for _, e := range entries {
			checkValid(t, e)
		}
	})
}

func FuzzDecodeArray(f *testing.F) {
	f.Add([]byte(`[{"message":"a"},{"message":"b","context":{}}]`))
	f.Add([]byte(`[null]`))
	f.Add([]byte(`[{"message":"ok"},{"message":"x","context":{"a":[{"n":1e999999}]}}]`))
	f.Add([]byte(`[{"message":"\\u0000","context":{"k":"\\u0000","n":1e-16383,"p":"\ud83d\ude00"}}]`))
	f.Add([]byte(`[{"message":"m","context":{"n":1e131071,"s":"\udfff"}}]`))
	f.Add([]byte("[{\"message\":\"m\",\"context\":{\"\xfe\":1}}]"))
	f.Fuzz(func(t *testing.T, body []byte) {
		entries, fe := DecodeArray(body, now)
		if fe != nil {
			require.Nil(t, entries)
			return
		}
		for _, e := range entries {
			checkValid(t, e)
		}
	})
}
