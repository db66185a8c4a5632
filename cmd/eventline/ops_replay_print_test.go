package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

// TestReplayJSONLines prints stored messages, well-formed or not, and checks
// that every line is one valid JSON object saying what it holds.
func TestReplayJSONLines(t *testing.T) {
	at := time.Date(2026, 11, 23, 3, 4, 5, 6, time.UTC)
	good := `{"id":"019ab0c1-8a3e-7c4f-9d2e-1f2a3b4c5d6e","type":"log.entries_received.v1","occurred_at":"2026-11-23T03:04:05Z","data":{"entries":[]}}`
	tests := []struct {
		name, data string
		want       map[string]any
	}{
		{"envelope spliced as stored", good, map[string]any{"seq": 7.0, "subject": "logs.entries", "time": "2026-11-23T03:04:05.000000006Z",
			"id": "019ab0c1-8a3e-7c4f-9d2e-1f2a3b4c5d6e", "type": "log.entries_received.v1", "occurred_at": "2026-11-23T03:04:05Z",
			"data": map[string]any{"entries": []any{}}}},
		{"truncated envelope", good[:len(good)-3], map[string]any{"seq": 7.0, "subject": "logs.entries", "time": "2026-11-23T03:04:05.000000006Z",
			"type": "log.test.v1", "error": "not a valid event envelope", "raw": good[:len(good)-3]}},
		{"control character in a string", `{"id":"a` + "\x01" + `","data":{}}`, map[string]any{"seq": 7.0, "subject": "logs.entries",
			"time": "2026-11-23T03:04:05.000000006Z", "type": "log.test.v1", "error": "not a valid event envelope", "raw": `{"id":"a` + "\x01" + `","data":{}}`}},
		{"not json at all", "hello", map[string]any{"seq": 7.0, "subject": "logs.entries", "time": "2026-11-23T03:04:05.000000006Z",
			"type": "log.test.v1", "error": "not a valid event envelope", "raw": "hello"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w := bufio.NewWriter(&out)
			p := &replayPrinter{w: w, o: replayOptions{asJSON: true}, start: 1}
			h := nats.Header{}
			h.Set(eventstore.HeaderType, "log.test.v1")
			require.NoError(t, p.event(eventstore.RawEvent{Seq: 7, Subject: "logs.entries", Time: at, Header: h, Data: []byte(tt.data)}))
			require.NoError(t, w.Flush())
			line := bytes.TrimSuffix(out.Bytes(), []byte("\n"))
			require.NotContains(t, string(line), "\n", "one line per event")
			var got map[string]any
			require.NoError(t, json.Unmarshal(line, &got), "line %q", line)
			require.Equal(t, tt.want, got)
		})
	}
}
