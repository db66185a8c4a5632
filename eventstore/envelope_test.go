package eventstore_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
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

func TestRegistryDecodesKnownTypesOnly(t *testing.T) {
	reg := eventstore.NewRegistry()
	logs.RegisterEvents(reg)
	require.Panics(t, func() { logs.RegisterEvents(reg) }, "registering twice is a programming error")

	_, err := reg.Decode(eventstore.Envelope{Type: "nobody.knows.v1", Data: []byte(`{}`)})
	require.ErrorIs(t, err, eventstore.ErrUnknownType)

	_, err = reg.Decode(eventstore.Envelope{Type: logs.EntriesReceivedV1, Data: []byte(`{"entries":"no"}`)})
	require.Error(t, err)
}

// Old payloads in testdata/ must keep decoding: events are forever.
func TestOldPayloadsStillDecode(t *testing.T) {
	reg := eventstore.NewRegistry()
	logs.RegisterEvents(reg)
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			env, err := eventstore.UnmarshalEnvelope(b)
			require.NoError(t, err)
			require.Equal(t, strings.TrimSuffix(filepath.Base(f), ".json"), env.Type)
			v, err := reg.Decode(env)
			require.NoError(t, err)
			if p, ok := v.(*logs.EntriesReceived); ok {
				require.Len(t, p.Entries, 1)
				require.Equal(t, "hello", p.Entries[0].Message)
			}
		})
	}
}

func FuzzUnmarshalEnvelope(f *testing.F) {
	b, _ := os.ReadFile("testdata/log.entries_received.v1.json")
	f.Add(b)
	f.Add([]byte(`{"id":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
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
