package logsapi

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
)

// requireSameEncoding checks that appendEntry writes what logs.EncodeEntry
// does, or leaves the entry to it exactly when encoding/json fails.
func requireSameEncoding(t *testing.T, e logs.Entry) {
	t.Helper()
	want, err := logs.EncodeEntry(e)
	got, ok := appendEntry([]byte("prefix"), e)
	if err != nil {
		require.False(t, ok, "encoding/json refused the entry (%v) but appendEntry wrote %s", err, got)
		require.Equal(t, "prefix", string(got), "a refused entry leaves the buffer as it was")
		return
	}
	if !ok {
		// Allowed (encodeReq falls back to encoding/json), but none of
		// the cases here should need it.
		t.Fatalf("appendEntry left to encoding/json an entry it encodes: %s", want)
	}
	require.Equal(t, "prefix"+string(want), string(got))
}

// TestAppendEntryMatchesEncodeEntry: the hand-written encoding of an entry
// is encoding/json's, byte for byte, including its escaping of HTML
// characters, U+2028/U+2029 and bytes that are not UTF-8, its compaction
// of the context, and the fields it omits.
func TestAppendEntryMatchesEncodeEntry(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 123456789, time.UTC)
	id := uuid.MustParse("0193a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b")
	strs := []string{
		"", "plain", `a "quoted" \ backslash`, "tab\tnew\nline\rret\bback\fform", "\x00\x01\x1f\x7f",
		"<script>&amp;</script>", "é ü 日本 🙂", "line\u2028para\u2029", "bad \xff\xfe utf8 \xe2\x80", "\xe2\x80\xa8",
	}
	contexts := []string{
		"", "null", `{}`, `{"k":[1,2]}`, `{"resource":{"service.name":"svc-3"},"attributes":{"user_id":42,"http.status":200},"scope":{"name":"bench"},"severity_number":9}`,
		` { "a" : [ 1 , 2.5e3 , -0 ] ,	"b":"x y\tz" }` + "\n", `{"html":"<b>&</b>"}`, `{"sep":"a` + "\u2028" + `b"}`,
		`{"esc":"\" \\ \u003c \n","k\"ey":true}`, `{"dup":1,"dup":2}`, `{"bad":"` + "\xff" + `"}`, `[{"nested":{"deep":[null,false]}}]`,
		`"just a string"`, `12`,
		// Not JSON: encoding/json's error, and appendEntry leaves it.
		`{`, `{"a":}`, `{"a":1}x`, `{'a':1}`, `{"a":"` + "\x01" + `"}`, `{"a":"\q"}`,
	}
	for _, s := range strs {
		requireSameEncoding(t, logs.Entry{ID: id, Level: s, Message: s, Source: s, TraceID: s, SpanID: s, ReceivedAt: at})
	}
	for _, c := range contexts {
		requireSameEncoding(t, logs.Entry{ID: id, Level: "info", Message: "m", Context: []byte(c), ReceivedAt: at})
	}
	zones := []time.Time{
		at, at.In(time.FixedZone("", -5*3600-30*60)), time.Unix(0, 0).UTC(), time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		// A year encoding/json refuses.
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, z := range zones {
		requireSameEncoding(t, logs.Entry{ID: id, Level: "info", Message: "m", ReceivedAt: z, Time: z, ObservedTime: z})
		requireSameEncoding(t, logs.Entry{ID: id, Level: "info", Message: "m", ReceivedAt: at, ObservedTime: z})
	}
	requireSameEncoding(t, logs.Entry{})
	requireSameEncoding(t, logs.Entry{ID: uuid.Max, Level: "info", Message: "m", ReceivedAt: at,
		TraceID: "5b8efff798038103d269b633813fc60c", SpanID: "eee19b7ec3c1b174"})
}

// FuzzAppendEntryMatchesEncodeEntry looks for text and contexts on which
// the two encodings differ.
func FuzzAppendEntryMatchesEncodeEntry(f *testing.F) {
	f.Add("message <&>", `{"a":"b"}`, "svc")
	f.Add("\xff\u2028", ` {"a" : [1, "x y"]} `, "")
	f.Add("", `{"a":"\u0041\"","b":1e9}`, "\x00")
	f.Fuzz(func(t *testing.T, msg, ctx, source string) {
		at := time.Date(2026, 12, 7, 12, 0, 0, 1, time.UTC)
		requireSameEncoding(t, logs.Entry{ID: uuid.Max, Level: msg, Message: msg, Context: []byte(ctx), Source: source, ReceivedAt: at})
	})
}
