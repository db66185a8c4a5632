package reactor

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

// decodeEnvelope agrees with eventstore.UnmarshalEnvelope: the same
// envelope for what the store accepts, an error for what it refuses.
func TestDecodeEnvelopeAgreesWithTheStore(t *testing.T) {
	good, err := eventstore.NewEnvelope("order.created.v1", map[string]any{"n": 1, "s": "é\u2028"})
	require.NoError(t, err)
	good.CorrelationID, good.CausationID = "corr \"x\"", "cause"
	body, err := good.Marshal()
	require.NoError(t, err)
	tests := []struct {
		name string
		body string
	}{
		{"full", string(body)},
		{"minimal", `{"id":"0190c1a2-0000-7000-8000-000000000001","type":"a.b.v1","data":{}}`},
		{"nil id", `{"id":"00000000-0000-0000-0000-000000000000","type":"a.b.v1","data":{}}`},
		{"bad type", `{"id":"0190c1a2-0000-7000-8000-000000000001","type":"A.b","data":{}}`},
		{"no data", `{"id":"0190c1a2-0000-7000-8000-000000000001","type":"a.b.v1"}`},
		{"not json", `{"id":`},
		{"array", `[1,2]`},
		{"escaped type", `{"id":"0190c1a2-0000-7000-8000-000000000001","type":"a.b\u002ev1","data":[1]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requireSameDecode(t, []byte(tc.body))
		})
	}
}

func requireSameDecode(t *testing.T, b []byte) {
	t.Helper()
	want, wantErr := eventstore.UnmarshalEnvelope(b)
	got, err := decodeEnvelope(b)
	if wantErr != nil {
		require.Error(t, err)
		return
	}
	require.NoError(t, err)
	require.Equal(t, want.ID, got.ID)
	require.Equal(t, want.Type, got.Type)
	require.True(t, want.OccurredAt.Equal(got.OccurredAt))
	require.Equal(t, want.CorrelationID, got.CorrelationID)
	require.Equal(t, want.CausationID, got.CausationID)
	require.JSONEq(t, string(want.Data), string(got.Data))
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"id":"0190c1a2-0000-7000-8000-000000000001","type":"a.b.v1","occurred_at":"2026-01-02T03:04:05.000000006Z","data":{"x":[1,"y"]}}`))
	f.Add([]byte(`{"id":"0190c1a2-0000-7000-8000-000000000001","type":"a.b.v1","data":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		want, wantErr := eventstore.UnmarshalEnvelope(b)
		got, err := decodeEnvelope(b)
		if wantErr != nil {
			if err == nil {
				t.Fatalf("store refuses %q (%v), decodeEnvelope accepts it", b, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("store accepts %q, decodeEnvelope refuses it: %v", b, err)
		}
		if want.ID != got.ID || want.Type != got.Type || want.CorrelationID != got.CorrelationID ||
			want.CausationID != got.CausationID || !want.OccurredAt.Equal(got.OccurredAt) {
			t.Fatalf("decoded differently: %+v vs %+v", want, got)
		}
		var a, c any
		if json.Unmarshal(want.Data, &a) != nil || json.Unmarshal(got.Data, &c) != nil {
			return
		}
		wa, _ := json.Marshal(a)
		wc, _ := json.Marshal(c)
		if string(wa) != string(wc) {
			t.Fatalf("data differs: %s vs %s", want.Data, got.Data)
		}
	})
}

// Keys encoding/json reads differently (case, duplicates) fall back to it.
func TestDecodeEnvelopeFallsBackLikeEncodingJSON(t *testing.T) {
	for _, body := range []string{
		`{"ID":"0190c1a2-0000-7000-8000-000000000001","type":"a.b.v1","data":{}}`,
		`{"id":"0190c1a2-0000-7000-8000-000000000001","type":"a.b.v1","type":"c.d.v2","data":{}}`,
		`{"id":"0190c1a2-0000-7000-8000-000000000001","type":"a.b.v1","correlation_id":"\xff","data":{}}`,
		`{"id":"0190c1a2-0000-7000-8000-000000000001","type":"a.b.v1","extra":1,"data":{}}`,
	} {
		requireSameDecode(t, []byte(body))
	}
}

// validType accepts exactly what eventstore's type pattern does.
func TestValidType(t *testing.T) {
	tests := []struct {
		typ  string
		want bool
	}{
		{"order.created.v1", true}, {"a.b.v12", true}, {"a_1.b_2.c.v0", true},
		{"a.v1", false}, {"order.created", false}, {"Order.created.v1", false}, {"1a.b.v1", false},
		{"a..b.v1", false}, {"a.b.v", false}, {"a.b.v1x", false}, {"a.b.V1", false}, {".a.b.v1", false}, {"", false},
		{"a.b-c.v1", false}, {"a._b.v1", false},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, validType(tc.typ), tc.typ)
	}
}
