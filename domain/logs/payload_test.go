package logs

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// stdDecode is the reference: encoding/json.
func stdDecode(data []byte) ([]Entry, error) {
	var p EntriesReceived
	err := json.Unmarshal(data, &p)
	return p.Entries, err
}

func payloadOf(t testing.TB, bodies ...string) []byte {
	var encoded [][]byte
	for _, body := range bodies {
		e, fe := DecodeSingle([]byte(body), now)
		require.Nil(t, fe, body)
		b, err := EncodeEntry(e)
		require.NoError(t, err)
		encoded = append(encoded, b)
	}
	return AppendPayload(nil, encoded)
}

func TestDecodeEntriesReceivedMatchesEncodingJSON(t *testing.T) {
	tests := map[string][]byte{
		"plain":        payloadOf(t, `{"message":"m"}`),
		"all fields":   payloadOf(t, `{"level":"error","message":"disk full","context":{"a":[1,{"b":"}"}],"c":null},"source":"node-7"}`),
		"escapes":      payloadOf(t, `{"message":"quote \" backslash \\ tab \t <b>&amp; \u2028 é 😀","source":"a\"b"}`),
		"many":         payloadOf(t, `{"message":"a"}`, `{"message":"b","context":{}}`, `{"message":"c","source":"s"}`),
		"empty list":   []byte(`{"entries":[]}`),
		"other layout": []byte(`{"entries":[{"level":"info","id":"01a20629-e92e-7002-a6d6-e5121bc53bac","message":"m","received_at":"2026-11-23T02:08:59Z"}]}`),
		"spaces":       []byte(`{ "entries": [ ] }`),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			want, err := stdDecode(data)
			require.NoError(t, err)
			got, err := DecodeEntriesReceived(data)
			require.NoError(t, err)
			require.Equal(t, len(want), len(got))
			for i := range want {
				require.Equal(t, want[i].ID, got[i].ID)
				require.Equal(t, want[i].Message, got[i].Message)
				require.Equal(t, want[i].Source, got[i].Source)
				require.Equal(t, want[i].Level, got[i].Level)
				require.True(t, want[i].ReceivedAt.Equal(got[i].ReceivedAt))
				require.Equal(t, string(want[i].Context), string(got[i].Context))
			}
		})
	}
	_, err := DecodeEntriesReceived([]byte(`{"entries":"nope"}`))
	require.Error(t, err)
}

// FuzzDecodeEntriesReceived: whatever the bytes, the fast path either steps
// aside or agrees with encoding/json.
func FuzzDecodeEntriesReceived(f *testing.F) {
	f.Add(payloadOf(f, `{"level":"error","message":"x \" y","context":{"k":"}{"},"source":"s"}`))
	f.Add(payloadOf(f, `{"message":"a"}`, `{"message":"b"}`))
	f.Add([]byte(`{"entries":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeFast(data)
		if !ok {
			return
		}
		want, err := stdDecode(data)
		require.NoError(t, err, "fast path accepted what encoding/json refuses: %q", data)
		require.Equal(t, len(want), len(fast))
		for i := range want {
			require.Equal(t, fmt.Sprint(want[i].ID, want[i].Level, want[i].Message, want[i].Source, string(want[i].Context)),
				fmt.Sprint(fast[i].ID, fast[i].Level, fast[i].Message, fast[i].Source, string(fast[i].Context)))
			require.True(t, want[i].ReceivedAt.Equal(fast[i].ReceivedAt))
		}
	})
}

// FuzzEntryRoundTrip: any entry we accept comes back identical through the
// fast path.
func FuzzEntryRoundTrip(f *testing.F) {
	f.Add("m", "src", `{"a":1}`)
	f.Add("tab\there \"quoted\" <html>", "", `{"k":"\\"}`)
	f.Add(`\u0000`, `\u0000`, `{"k":"\\u0000","n":1e-16383,"big":1e131071}`)
	f.Add("\U0001F600 \u2028", "é", `{"s":"\ud83d\ude00","x":"\ud800"}`)
	f.Add("m", "", `{"n":1e999999}`)
	f.Fuzz(func(t *testing.T, msg, source, ctx string) {
		body, _ := json.Marshal(map[string]any{"message": msg, "source": source, "context": json.RawMessage(ctx)})
		e, fe := DecodeSingle(body, now)
		if fe != nil {
			return
		}
		enc, err := EncodeEntry(e)
		require.NoError(t, err)
		got, ok := decodeFast(AppendPayload(nil, [][]byte{enc}))
		require.True(t, ok, "our own layout must take the fast path: %s", enc)
		require.Len(t, got, 1)
		require.Equal(t, e.Message, got[0].Message)
		require.Equal(t, e.Source, got[0].Source)
		require.Equal(t, string(e.Context), string(got[0].Context))
		require.Equal(t, e.ID, got[0].ID)
		require.True(t, e.ReceivedAt.Equal(got[0].ReceivedAt))
	})
}
