package logsapi

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
)

// TestIngesterBoundsWhenEntriesAreStored: every event carries the range of
// its entries' id times, and entries that waited past the ack timeout are
// refused instead of being stored later than a lookup would look.
func TestIngesterBoundsWhenEntriesAreStored(t *testing.T) {
	st, _ := testenv.Store(t)
	g := NewIngester(st, IngestConfig{AckTimeout: time.Second}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	entry := func(at time.Time) logs.Entry {
		return logs.Entry{ID: idAt(at), Level: "info", Message: "m", ReceivedAt: at}
	}
	now := time.Now()
	fresh := []logs.Entry{entry(now.Add(-20 * time.Millisecond)), entry(now)}
	tests := []struct {
		name   string
		submit func([]logs.Entry) (uint64, error)
	}{
		{"grouped", func(es []logs.Entry) (uint64, error) { return g.Submit(ctx, es) }},
		{"alone", func(es []logs.Entry) (uint64, error) {
			seq, _, err := g.SubmitAlone(ctx, es, uuid.NewString())
			return seq, err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, err := tt.submit(fresh)
			require.NoError(t, err)
			msg, err := st.Get(ctx, logs.Stream, seq)
			require.NoError(t, err)
			r, ok := parseMsRange(msg.Header.Get(HeaderEntryTimes))
			require.True(t, ok, "header %q", msg.Header.Get(HeaderEntryTimes))
			lo, _ := idMillis(fresh[0].ID)
			hi, _ := idMillis(fresh[1].ID)
			require.Equal(t, msRange{min: lo, max: hi, set: true}, r)

			_, err = tt.submit([]logs.Entry{entry(time.Now().Add(-2 * time.Second))})
			require.ErrorIs(t, err, eventstore.ErrUnavailable)
		})
	}
}

// TestEncodedRequestIsTheEventPayload: a request is encoded straight into
// the payload layout the projector reads.
func TestEncodedRequestIsTheEventPayload(t *testing.T) {
	at := time.Now()
	entries := []logs.Entry{
		{ID: idAt(at), Level: "info", Message: "a \"quoted\" \u00e9 message", Context: []byte(`{"k":[1,2]}`), Source: "s", ReceivedAt: at},
		{ID: idAt(at), Level: "error", Message: "b", ReceivedAt: at},
	}
	var encoded [][]byte
	for _, e := range entries {
		b, err := logs.EncodeEntry(e)
		require.NoError(t, err)
		encoded = append(encoded, b)
	}
	req, err := encodeReq(entries)
	require.NoError(t, err)
	require.Equal(t, string(logs.AppendPayload(nil, encoded)), string(append(req.buf, "]}"...)))
	require.Equal(t, string(logs.AppendPayload(nil, [][]byte{req.entries(), req.entries()})),
		string(logs.AppendPayload(nil, append(encoded, encoded...))), "requests join like entries")
	back, err := logs.DecodeEntriesReceived(append(req.buf, "]}"...))
	require.NoError(t, err)
	require.Len(t, back, 2)
	require.Equal(t, entries[0].Message, back[0].Message)
}
