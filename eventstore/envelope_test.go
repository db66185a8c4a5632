package eventstore_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	env, err := eventstore.NewEnvelope("order.created.v1", map[string]any{"total": 12, "note": "a \"quoted\" <tag>"})
	require.NoError(t, err)
	env.CorrelationID = "corr-1"
	env.CausationID = "cause \"2\""
	b, err := env.Marshal()
	require.NoError(t, err)
	require.True(t, json.Valid(b), string(b))
	back, err := eventstore.UnmarshalEnvelope(b)
	require.NoError(t, err)
	require.Equal(t, env.ID, back.ID)
	require.Equal(t, env.Type, back.Type)
	require.True(t, env.OccurredAt.Equal(back.OccurredAt))
	require.Equal(t, "corr-1", back.CorrelationID)
	require.Equal(t, "cause \"2\"", back.CausationID)
	require.JSONEq(t, string(env.Data), string(back.Data))
}

func TestEnvelopeRejectsBadInput(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not json", `nope`},
		{"missing id", `{"type":"a.b.v1","data":{}}`},
		{"unversioned type", `{"id":"` + uuid.NewString() + `","type":"OrderCreated","data":{}}`},
		{"missing data", `{"id":"` + uuid.NewString() + `","type":"a.b.v1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eventstore.UnmarshalEnvelope([]byte(tt.body))
			require.ErrorIs(t, err, eventstore.ErrMalformed)
		})
	}
	_, err := eventstore.Envelope{ID: uuid.New(), Type: "Bad", Data: []byte(`{}`), OccurredAt: time.Now()}.Marshal()
	require.ErrorIs(t, err, eventstore.ErrMalformed)
}

type counted struct {
	N int `json:"n"`
}

func TestRegistryDecodesKnownTypesOnly(t *testing.T) {
	reg := eventstore.NewRegistry()
	reg.Register("test.counted.v1", eventstore.JSON[counted]())
	require.Panics(t, func() { reg.Register("test.counted.v1", eventstore.JSON[counted]()) }, "registering twice is a programming error")
	require.Panics(t, func() { reg.Register("Counted", eventstore.JSON[counted]()) }, "an unversioned name is a programming error")

	_, err := reg.Decode(eventstore.Envelope{Type: "nobody.knows.v1", Data: []byte(`{}`)})
	require.ErrorIs(t, err, eventstore.ErrUnknownType)

	_, err = reg.Decode(eventstore.Envelope{Type: "test.counted.v1", Data: []byte(`{"n":"no"}`)})
	require.Error(t, err)
	v, err := reg.Decode(eventstore.Envelope{Type: "test.counted.v1", Data: []byte(`{"n":3}`)})
	require.NoError(t, err)
	require.Equal(t, &counted{N: 3}, v)
	require.True(t, reg.Known("test.counted.v1"))
	require.Equal(t, []string{"test.counted.v1"}, reg.Types())
}

func FuzzUnmarshalEnvelope(f *testing.F) {
	f.Add([]byte(`{"id":"01a20629-e92e-7002-a6d6-e5121bc53bac","type":"log.entries_received.v1","occurred_at":"2026-11-23T02:08:59.693805Z","data":{"entries":[{"id":"01a20629-e92e-7001-a6d6-e5121bc53bac","level":"info","message":"hello"}]}}`))
	f.Add([]byte(`{"id":"x"}`))
	f.Add([]byte(`{"ID":"01a20629-e92e-7002-a6d6-e5121bc53bac","type":"a.b.v1","type":"c.d.v2","x":null,"data":[{"a":"\u00e9"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		requireReadsAsEncodingJSON(t, data)
		env, err := eventstore.UnmarshalEnvelope(data)
		if err != nil {
			return
		}
		out, err := env.Marshal()
		require.NoError(t, err)
		again, err := eventstore.UnmarshalEnvelope(out)
		require.NoError(t, err)
		require.Equal(t, env.ID, again.ID)
		require.Equal(t, env.Type, again.Type)
	})
}

// stdEnvelope decodes b with encoding/json and the envelope's checks, as
// UnmarshalEnvelope did before it read with jsontext.
func stdEnvelope(b []byte) (eventstore.Envelope, bool) {
	var e eventstore.Envelope
	if json.Unmarshal(b, &e) != nil || e.ID == uuid.Nil || len(e.Data) == 0 {
		return e, false
	}
	_, err := e.Marshal() // checks the type
	return e, err == nil
}

func requireReadsAsEncodingJSON(t *testing.T, b []byte) {
	t.Helper()
	want, ok := stdEnvelope(b)
	got, err := eventstore.UnmarshalEnvelope(b)
	if !ok {
		require.ErrorIs(t, err, eventstore.ErrMalformed, "encoding/json refuses %q", b)
		return
	}
	require.NoError(t, err, "encoding/json accepts %q", b)
	require.Equal(t, want.ID, got.ID)
	require.Equal(t, want.Type, got.Type)
	require.True(t, want.OccurredAt.Equal(got.OccurredAt))
	require.Equal(t, want.CorrelationID, got.CorrelationID)
	require.Equal(t, want.CausationID, got.CausationID)
	require.Equal(t, string(want.Data), string(got.Data))
}

// UnmarshalEnvelope reads what encoding/json reads: keys in any case and
// order, the last of a duplicate, unknown keys ignored, nulls.
func TestEnvelopeReadsAsEncodingJSON(t *testing.T) {
	const id = `"0190c1a2-0000-7000-8000-000000000001"`
	for _, body := range []string{
		`{"id":` + id + `,"type":"a.b.v1","data":{}}`,
		`{"ID":` + id + `,"Type":"a.b.v1","DATA":[1]}`,
		`{"type":"c.d.v2","data":{"x":1},"id":` + id + `,"type":"a.b.v1","data":{"y":2}}`,
		`{"id":` + id + `,"type":"a.b.v1","extra":{"deep":[1,{"k":"v"}]},"data":{}}`,
		`{"id":` + id + `,"type":"a.b\u002ev1","correlation_id":"\u00e9\ud83d\ude00","causation_id":null,"data":null}`,
		"{\"id\":" + id + ",\"type\":\"a.b.v1\",\"correlation_id\":\"a\xffb\",\"data\":{\"s\":\"\xfe\"}}",
		` { "id" : ` + id + ` , "occurred_at" : "2026-01-02T03:04:05.000000006+02:00" , "type" : "a.b.v1" , "data" : { } } `,
		`{"id":` + id + `,"type":"a.b.v1","occurred_at":null,"data":{}}`,
		`{"id":` + id + `,"type":"a.b.v1","occurred_at":"yesterday","data":{}}`,
		`{"id":` + id + `,"type":"a.b.v1","data":{}} x`,
		`{"id":` + id + `,"type":"a.b.v1","data":{}}{}`,
		`{"id":` + id + `,"type":"a.b.v1","data":{"a":}}`,
		`{"id":7,"type":"a.b.v1","data":{}}`,
		`{"id":null,"type":"a.b.v1","data":{}}`,
		`{"id":` + id + `,"type":["a.b.v1"],"data":{}}`,
		`[1,2]`, `null`, ``, `{"id":`,
	} {
		requireReadsAsEncodingJSON(t, []byte(body))
	}
}
