package orders_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/saga"
)

// timeline returns GET /api/sagas/{id}/events?query.
func timeline(t *testing.T, url, id, query string) (int, map[string]any, []map[string]any) {
	t.Helper()
	code, v := call(t, "GET", url+"/api/sagas/"+id+"/events"+query, "", "")
	raw, _ := v["events"].([]any)
	events := make([]map[string]any, len(raw))
	for i, r := range raw {
		events[i] = r.(map[string]any)
	}
	return code, v, events
}

// types returns the entries' types.
func types(events []map[string]any) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e["type"].(string)
	}
	return out
}

func TestAPISagaEventsShowTheHistory(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	srv := e.api(t)
	e.start(t, "h1", input("h1", "u1", "tok_flaky", 1))
	e.start(t, "h2", input("h2", "u1", "tok_declined", 1))
	e.finish(t, "h1")
	e.finish(t, "h2")

	code, v, events := timeline(t, srv.URL, "h1", "")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, false, v["truncated"])
	got := types(events)
	require.Equal(t, saga.StartedV1, got[0])
	require.Equal(t, saga.CompletedV1, got[len(got)-1])
	require.Len(t, events[0]["steps"], 5)
	require.NotContains(t, events[0], "input", "the input holds the payment token")
	require.Contains(t, got, saga.StepFailedV1, "tok_flaky fails twice")
	require.Contains(t, got, saga.RetryScheduledV1)
	var attempts []float64
	var last float64
	for _, ev := range events {
		require.GreaterOrEqual(t, ev["seq"].(float64), last, "in stream order")
		last = ev["seq"].(float64)
		require.NotEmpty(t, ev["at"])
		if ev["type"] == saga.StepStartedV1 && ev["step"] == "process_payment" {
			attempts = append(attempts, ev["attempt"].(float64))
		}
	}
	require.Equal(t, []float64{1, 2, 3}, attempts)
	// The history holds every stored event, flattened.
	var stored int
	for _, s := range e.history(t, "h1") {
		if s.Envelope.Type != saga.DecidedV1 {
			stored++
			continue
		}
		data, err := saga.Events()[saga.DecidedV1](s.Envelope.Data)
		require.NoError(t, err)
		stored += len(saga.Flatten(s.Envelope.Type, data))
	}
	require.Len(t, events, stored)

	_, _, declined := timeline(t, srv.URL, "h2", "")
	got = types(declined)
	require.Contains(t, got, saga.CompensationStartedV1)
	require.Contains(t, got, saga.StepCompensatedV1)
	require.Equal(t, saga.CompensatedV1, got[len(got)-1])
	for _, ev := range declined {
		if ev["type"] == saga.StepCompensatedV1 {
			require.Equal(t, true, ev["compensation"])
		}
		if ev["type"] == saga.StepFailedV1 {
			require.Equal(t, "permanent", ev["failure"])
			require.NotEmpty(t, ev["error"])
		}
	}
}

func TestAPISagaEventsArePaged(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	srv := e.api(t)
	e.start(t, "h3", input("h3", "u1", "tok_ok", 1))
	e.finish(t, "h3")
	_, _, all := timeline(t, srv.URL, "h3", "")
	require.Greater(t, len(all), 8)

	var paged []map[string]any
	query := "?limit=8"
	for range len(all) {
		code, v, events := timeline(t, srv.URL, "h3", query)
		require.Equal(t, http.StatusOK, code, v)
		require.LessOrEqual(t, len(events), 8)
		paged = append(paged, events...)
		if v["truncated"] == false {
			break
		}
		require.NotEmpty(t, events, "a page moves on")
		query = "?limit=8&after=" + strconv.FormatFloat(v["next_after"].(float64), 'f', 0, 64)
	}
	require.Equal(t, all, paged, "pages never split a stored message")

	tests := []struct {
		name, id, query string
		code            int
	}{
		{"unknown saga", "nope", "", http.StatusNotFound},
		{"limit zero", "h3", "?limit=0", http.StatusBadRequest},
		{"limit too high", "h3", "?limit=1001", http.StatusBadRequest},
		{"bad after", "h3", "?after=x", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, v, _ := timeline(t, srv.URL, tt.id, tt.query)
			require.Equal(t, tt.code, code, v)
			require.Contains(t, v, "error")
		})
	}
	code, v, events := timeline(t, srv.URL, "h3", "?limit=1")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, true, v["truncated"])
	require.NotEmpty(t, events, "a page holds at least one message")
	code, v, events = timeline(t, srv.URL, "h3", "?after=1000000")
	require.Equal(t, http.StatusOK, code, v)
	require.Empty(t, events, "nothing after the end")
}
