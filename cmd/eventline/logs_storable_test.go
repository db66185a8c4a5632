package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestUnstorableEntriesAreRefusedAtTheDoor: what PostgreSQL cannot store gets
// a 400 naming the field, never a 202 followed by a parked event; valid text
// that merely looks like an escape is accepted and stored as sent.
func TestUnstorableEntriesAreRefusedAtTheDoor(t *testing.T) {
	s := startServe(t, nil)
	tests := []struct {
		name, path, body, field string
	}{
		{"number overflows numeric", "/api/logs", `{"message":"x","context":{"n":1e999999}}`, "context.n"},
		{"lone surrogate", "/api/logs", `{"message":"y","context":{"s":"\ud800"}}`, "context.s"},
		{"raw 0xff in a context string", "/api/logs", "{\"message\":\"m\",\"context\":{\"s\":\"\xff\"}}", "context.s"},
		{"number below numeric's scale", "/api/logs", `{"message":"m","context":{"n":1e-999999}}`, "context.n"},
		{"200000-digit integer", "/api/logs", `{"message":"m","context":{"n":1` + strings.Repeat("0", 199999) + `}}`, "context.n"},
		{"invalid UTF-8 in message", "/api/logs", "{\"message\":\"a\xffb\"}", "message"},
		{"lone surrogate in source", "/api/logs", `{"message":"m","source":"\udfff"}`, "source"},
		{"in a batch, by index", "/api/logs/batch", `[{"message":"ok"},{"message":"x","context":{"a":[{"n":1e999999}]}}]`, "[1].context.a[0].n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e apiError
			resp := call(t, "POST", s.URL+tt.path, "application/json", []byte(tt.body), nil, &e)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			require.Equal(t, tt.field, e.Error.Field)
			require.NotEmpty(t, e.Error.Message)
		})
	}

	// An escaped backslash before u0000 is six characters of text.
	a := postLog(t, s.URL, `{"message":"path C:\\u0000","source":"\\u0000","context":{"k":"\\u0000","pair":"\ud83d\ude00"}}`)
	var got entry
	resp := call(t, "GET", fmt.Sprintf("%s/api/logs/%s", s.URL, a.ID), "", nil, nil, &got)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var p page
	require.Eventually(t, func() bool {
		call(t, "GET", fmt.Sprintf("%s/api/logs?min_seq=%d", s.URL, a.Seq), "", nil, nil, &p)
		return len(p.Items) == 1 && p.Items[0].Persisted
	}, 10*time.Second, 20*time.Millisecond)
	stored := p.Items[0]
	require.Equal(t, a.ID, stored.ID)
	require.Equal(t, `path C:\u0000`, stored.Message)
	require.Equal(t, `\u0000`, stored.Source)
	require.JSONEq(t, `{"k":"\\u0000","pair":"😀"}`, string(stored.Context))

	// Nothing was received but that entry, and nothing is parked.
	var st map[string]any
	call(t, "GET", s.URL+"/api/logs/stats", "", nil, nil, &st)
	require.EqualValues(t, 1, st["received"])
	require.EqualValues(t, 1, st["persisted"])
	require.EqualValues(t, 0, st["parked"])
}
