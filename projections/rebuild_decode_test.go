package projections

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

func TestEnvelopeDecoderAgreesWithTheFullDecoder(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	id := uuid.Must(uuid.NewV7())
	env := eventstore.Envelope{ID: id, Type: "log.entries_received.v1", OccurredAt: at, Data: json.RawMessage(`{"entries":[]}`)}
	plain, err := env.Marshal()
	require.NoError(t, err)
	withIDs := env
	withIDs.CorrelationID, withIDs.CausationID = "corr", "cause"
	correlated, err := withIDs.Marshal()
	require.NoError(t, err)
	tests := []struct {
		name    string
		in      []byte
		want    eventstore.Envelope
		wantErr bool
	}{
		{"plain", plain, env, false},
		{"with correlation and causation", correlated, withIDs, false},
		{"other field order", []byte(`{"type":"log.entries_received.v1","id":"` + id.String() + `","occurred_at":"2026-01-02T03:04:05.0000006Z","data":{"entries":[]}}`), env, false},
		{"bad type", []byte(`{"id":"` + id.String() + `","type":"Bad","occurred_at":"2026-01-02T03:04:05Z","data":{}}`), eventstore.Envelope{}, true},
		{"nil id", []byte(`{"id":"00000000-0000-0000-0000-000000000000","type":"log.entries_received.v1","occurred_at":"2026-01-02T03:04:05Z","data":{}}`), eventstore.Envelope{}, true},
		{"no data", []byte(`{"id":"` + id.String() + `","type":"log.entries_received.v1","occurred_at":"2026-01-02T03:04:05Z"}`), eventstore.Envelope{}, true},
		{"not json", []byte(`garbage`), eventstore.Envelope{}, true},
	}
	d := newEnvelopeDecoder()
	for round := range 2 { // the second round takes the fast path for known types
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := d.decode(tt.in)
				if tt.wantErr {
					require.Error(t, err)
					return
				}
				require.NoError(t, err)
				require.Equal(t, tt.want.ID, got.ID)
				require.Equal(t, tt.want.Type, got.Type)
				require.True(t, tt.want.OccurredAt.Equal(got.OccurredAt), "round %d", round)
				require.Equal(t, tt.want.CorrelationID, got.CorrelationID)
				require.Equal(t, tt.want.CausationID, got.CausationID)
				require.JSONEq(t, string(tt.want.Data), string(got.Data))
			})
		}
	}
	_, ok := d.fast(plain)
	require.True(t, ok, "a known type in Marshal's layout takes the fast path")
}
