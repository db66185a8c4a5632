package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
)

type accepted struct {
	ID  string `json:"id"`
	Seq uint64 `json:"seq"`
}

type entry struct {
	ID         string          `json:"id"`
	Seq        uint64          `json:"seq"`
	Level      string          `json:"level"`
	Message    string          `json:"message"`
	Context    json.RawMessage `json:"context"`
	Source     string          `json:"source"`
	ReceivedAt time.Time       `json:"received_at"`
	Persisted  bool            `json:"persisted"`
}

type page struct {
	Items      []entry `json:"items"`
	NextCursor string  `json:"next_cursor"`
}

type stats struct {
	Received      int64   `json:"received"`
	Persisted     int64   `json:"persisted"`
	Pending       int64   `json:"pending"`
	Batches       int64   `json:"batches"`
	AvgBatchSize  float64 `json:"avg_batch_size"`
	LagSeq        uint64  `json:"lag_seq"`
	OldestPending int64   `json:"oldest_pending_age_ms"`
}

func postLog(t *testing.T, base, body string) accepted {
	t.Helper()
	var a accepted
	resp := call(t, "POST", base+"/api/logs", "application/json", []byte(body), nil, &a)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, strconv.FormatUint(a.Seq, 10), resp.Header.Get("X-Eventline-Seq"))
	return a
}

func TestLogsWriteThenRead(t *testing.T) {
	s := startServe(t, nil)
	a := postLog(t, s.URL, `{"level":"warning","message":"disk 91% full","context":{"disk":"/dev/sda"},"source":"node-7"}`)
	require.NotEmpty(t, a.ID)
	require.Positive(t, a.Seq)

	// Read-your-writes: the list waits for the projection to reach the seq.
	var p page
	resp := call(t, "GET", fmt.Sprintf("%s/api/logs?min_seq=%d", s.URL, a.Seq), "", nil, nil, &p)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, resp.Header.Get("X-Eventline-Stale"))
	require.Len(t, p.Items, 1)
	got := p.Items[0]
	require.Equal(t, a.ID, got.ID)
	require.Equal(t, "warning", got.Level)
	require.Equal(t, "disk 91% full", got.Message)
	require.JSONEq(t, `{"disk":"/dev/sda"}`, string(got.Context))
	require.Equal(t, "node-7", got.Source)
	require.True(t, got.Persisted)

	var one entry
	resp = call(t, "GET", s.URL+"/api/logs/"+a.ID, "", nil, nil, &one)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, got, one)

	var st stats
	require.Eventually(t, func() bool {
		call(t, "GET", s.URL+"/api/logs/stats", "", nil, nil, &st)
		return st.Pending == 0
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, int64(1), st.Received)
	require.Equal(t, int64(1), st.Persisted)
	require.Equal(t, uint64(0), st.LagSeq)
	require.Positive(t, st.Batches)
}

func TestEntryNotYetPersistedIsServedFromTheLog(t *testing.T) {
	nats := testenv.NATS(t)
	db := testenv.Postgres(t)
	// Two API processes and no projector: nothing reaches PostgreSQL.
	a := startServe(t, map[string]string{"EVENTLINE_ROLES": "api", "NATS_URL": nats.ClientURL(), "DATABASE_URL": db})
	b := startServe(t, map[string]string{"EVENTLINE_ROLES": "api", "NATS_URL": nats.ClientURL(), "DATABASE_URL": db})

	first := postLog(t, a.URL, `{"message":"first"}`)
	second := postLog(t, a.URL, `{"level":"error","message":"second"}`)

	for _, base := range []string{a.URL, b.URL} { // b did not accept it: it scans the log
		var e entry
		resp := call(t, "GET", base+"/api/logs/"+second.ID, "", nil, nil, &e)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.False(t, e.Persisted)
		require.Equal(t, "second", e.Message)
		require.Equal(t, "error", e.Level)
		require.Equal(t, second.Seq, e.Seq)
	}
	// Made-up ids are 404, at once, whatever their time.
	for _, id := range []string{"ffffffff-ffff-7fff-bfff-ffffffffffff", "00000000-0000-7000-8000-000000000000", "3b241101-e2bb-4255-8caf-4136c566a962"} {
		var e apiError
		resp := call(t, "GET", b.URL+"/api/logs/"+id, "", nil, nil, &e)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, id)
		require.Equal(t, "not_found", e.Error.Code)
	}

	var st stats
	resp := call(t, "GET", b.URL+"/api/logs/stats", "", nil, nil, &st)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, int64(2), st.Received)
	require.Equal(t, int64(0), st.Persisted)
	require.Equal(t, int64(2), st.Pending)
	require.Equal(t, second.Seq, st.LagSeq)
	require.GreaterOrEqual(t, st.OldestPending, int64(0))

	// The list cannot catch up without a projector: it answers stale after the bound.
	var p page
	start := time.Now()
	resp = call(t, "GET", fmt.Sprintf("%s/api/logs?min_seq=%d", a.URL, first.Seq), "", nil, nil, &p)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "true", resp.Header.Get("X-Eventline-Stale"))
	require.GreaterOrEqual(t, time.Since(start), 4*time.Second)

	// A projector joins and the entries move to PostgreSQL.
	startServe(t, map[string]string{"EVENTLINE_ROLES": "projector", "NATS_URL": nats.ClientURL(), "DATABASE_URL": db})
	require.Eventually(t, func() bool {
		var e entry
		call(t, "GET", b.URL+"/api/logs/"+first.ID, "", nil, nil, &e)
		return e.Persisted
	}, 20*time.Second, 50*time.Millisecond)
	resp = call(t, "GET", b.URL+"/api/logs/stats", "", nil, nil, &st)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Eventually(t, func() bool {
		call(t, "GET", b.URL+"/api/logs/stats", "", nil, nil, &st)
		return st.Pending == 0
	}, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, st.Received, st.Persisted)
	require.Equal(t, int64(2), st.Persisted)
}

type batchAccepted struct {
	Accepted int      `json:"accepted"`
	IDs      []string `json:"ids"`
	LastSeq  uint64   `json:"last_seq"`
}

func TestBatchIngest(t *testing.T) {
	s := startServe(t, nil)
	var ba batchAccepted
	resp := call(t, "POST", s.URL+"/api/logs/batch", "application/json",
		[]byte(`[{"message":"a"},{"message":"b","level":"error"},{"message":"c","source":"svc"}]`), nil, &ba)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, 3, ba.Accepted)
	require.Len(t, ba.IDs, 3)
	require.Equal(t, strconv.FormatUint(ba.LastSeq, 10), resp.Header.Get("X-Eventline-Seq"))

	var nd batchAccepted
	resp = call(t, "POST", s.URL+"/api/logs/batch", "application/x-ndjson",
		[]byte("{\"message\":\"d\"}\n{\"message\":\"e\"}\n"), nil, &nd)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, 2, nd.Accepted)

	var p page
	call(t, "GET", fmt.Sprintf("%s/api/logs?min_seq=%d&limit=10", s.URL, nd.LastSeq), "", nil, nil, &p)
	require.Len(t, p.Items, 5)

	// All or nothing: a bad entry is named by index and nothing is stored.
	var e apiError
	resp = call(t, "POST", s.URL+"/api/logs/batch", "application/json",
		[]byte(`[{"message":"ok"},{"message":"ok"},{"level":"shouty","message":"x"}]`), nil, &e)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "[2].level", e.Error.Field)
	require.Contains(t, e.Error.Message, "entry 2")
	var st stats
	require.Eventually(t, func() bool {
		call(t, "GET", s.URL+"/api/logs/stats", "", nil, nil, &st)
		return st.Pending == 0
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, int64(5), st.Received, "the rejected batch stored nothing")

	// The biggest allowed batch goes through in one piece.
	big := "[" + strings.TrimSuffix(strings.Repeat(`{"message":"bulk entry with some text in it","context":{"k":"v"}},`, 10000), ",") + "]"
	resp = call(t, "POST", s.URL+"/api/logs/batch", "application/json", []byte(big), nil, &ba)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, 10000, ba.Accepted)
}

func TestBadInputGetsClearErrors(t *testing.T) {
	s := startServe(t, map[string]string{})
	huge := `{"message":"` + strings.Repeat("x", 1<<20) + `"}`
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		code, field                     string
	}{
		{"malformed json", "POST", "/api/logs", "application/json", `{"message":`, 400, "invalid_entry", ""},
		{"unknown level", "POST", "/api/logs", "application/json", `{"level":"loud","message":"m"}`, 400, "invalid_entry", "level"},
		{"empty message", "POST", "/api/logs", "application/json", `{"message":""}`, 400, "invalid_entry", "message"},
		{"message too long", "POST", "/api/logs", "application/json", `{"message":"` + strings.Repeat("x", 65537) + `"}`, 400, "invalid_entry", "message"},
		{"body too large", "POST", "/api/logs", "application/json", huge, 413, "body_too_large", ""},
		{"wrong media type", "POST", "/api/logs", "text/plain", `{"message":"m"}`, 415, "unsupported_media_type", ""},
		{"form post", "POST", "/api/logs/batch", "application/x-www-form-urlencoded", `a=b`, 415, "unsupported_media_type", ""},
		{"batch not array", "POST", "/api/logs/batch", "application/json", `{"message":"m"}`, 400, "invalid_entry", ""},
		{"unknown id", "GET", "/api/logs/01a2062a-0000-7000-8000-000000000000", "", "", 404, "not_found", ""},
		{"bad id", "GET", "/api/logs/not-a-uuid", "", "", 400, "invalid_field", "id"},
		{"bad limit", "GET", "/api/logs?limit=abc", "", "", 400, "invalid_field", "limit"},
		{"limit too big", "GET", "/api/logs?limit=5000", "", "", 400, "invalid_field", "limit"},
		{"bad level filter", "GET", "/api/logs?level=loud", "", "", 400, "invalid_field", "level"},
		{"bad since", "GET", "/api/logs?since=yesterday", "", "", 400, "invalid_field", "since"},
		{"bad cursor", "GET", "/api/logs?cursor=bm9wZQ", "", "", 400, "invalid_field", "cursor"},
		{"bad min_seq", "GET", "/api/logs?min_seq=-1", "", "", 400, "invalid_field", "min_seq"},
		{"unknown route", "GET", "/api/nothing", "", "", 404, "not_found", ""},
		{"wrong method", "DELETE", "/api/logs", "", "", 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e apiError
			resp := call(t, tt.method, s.URL+tt.path, tt.ctype, []byte(tt.body), nil, &e)
			require.Equal(t, tt.status, resp.StatusCode)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			require.Equal(t, tt.code, e.Error.Code)
			require.Equal(t, tt.field, e.Error.Field)
			require.NotEmpty(t, e.Error.Message)
		})
	}
}

func TestAPITokenIsRequiredWhenSet(t *testing.T) {
	s := startServe(t, map[string]string{"EVENTLINE_API_TOKEN": "s3cret"})
	var e apiError
	resp := call(t, "POST", s.URL+"/api/logs", "application/json", []byte(`{"message":"m"}`), nil, &e)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, "unauthorized", e.Error.Code)
	resp = call(t, "GET", s.URL+"/api/logs", "", nil, map[string]string{"Authorization": "Bearer wrong"}, &e)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	var a accepted
	resp = call(t, "POST", s.URL+"/api/logs", "application/json", []byte(`{"message":"m"}`), map[string]string{"Authorization": "Bearer s3cret"}, &a)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	resp = call(t, "GET", s.URL+"/healthz", "", nil, nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "health checks stay open")
}

func TestIdempotencyKeyReplaysTheFirstAnswer(t *testing.T) {
	s := startServe(t, nil)
	key := map[string]string{"Idempotency-Key": "order-42-log"}
	var first, again accepted
	resp := call(t, "POST", s.URL+"/api/logs", "application/json", []byte(`{"message":"once"}`), key, &first)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	resp = call(t, "POST", s.URL+"/api/logs", "application/json", []byte(`{"message":"once"}`), key, &again)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, first, again)
	require.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"))
	require.Equal(t, strconv.FormatUint(first.Seq, 10), resp.Header.Get("X-Eventline-Seq"))

	var e apiError
	resp = call(t, "POST", s.URL+"/api/logs", "application/json", []byte(`{"message":"different"}`), key, &e)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Equal(t, "idempotency_key_reused", e.Error.Code)

	bkey := map[string]string{"Idempotency-Key": "batch-7"}
	var b1, b2 batchAccepted
	body := []byte(`[{"message":"x"},{"message":"y"}]`)
	call(t, "POST", s.URL+"/api/logs/batch", "application/json", body, bkey, &b1)
	call(t, "POST", s.URL+"/api/logs/batch", "application/json", body, bkey, &b2)
	require.Equal(t, b1, b2)

	var st stats
	require.Eventually(t, func() bool {
		call(t, "GET", s.URL+"/api/logs/stats", "", nil, nil, &st)
		return st.Pending == 0 && st.Persisted > 0
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, int64(3), st.Received, "retries appended nothing")
}

func TestListFiltersAndCursor(t *testing.T) {
	s := startServe(t, nil)
	var lines []string
	for i := range 12 {
		level := []string{"info", "error", "debug"}[i%3]
		src := []string{"api", "worker"}[i%2]
		lines = append(lines, fmt.Sprintf(`{"level":%q,"message":"event %02d %s","source":%q}`, level, i, map[bool]string{true: "needle", false: "hay"}[i%4 == 0], src))
	}
	var ba batchAccepted
	resp := call(t, "POST", s.URL+"/api/logs/batch", "application/x-ndjson", []byte(strings.Join(lines, "\n")), nil, &ba)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	wait := fmt.Sprintf("min_seq=%d", ba.LastSeq)

	list := func(q string) []entry {
		var p page
		resp := call(t, "GET", s.URL+"/api/logs?"+wait+"&"+q, "", nil, nil, &p)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return p.Items
	}
	require.Len(t, list("level=error"), 4)
	require.Len(t, list("level=error,debug"), 8)
	require.Len(t, list("source=worker"), 6)
	require.Len(t, list("q=needle"), 3)
	require.Len(t, list("q=NEEDLE&source=api"), 3)
	require.Len(t, list("q=%25"), 0, "LIKE wildcards in q are literal")
	require.Len(t, list("since=1h"), 12)
	require.Len(t, list("since=2000-01-01T00:00:00Z"), 12)
	require.Len(t, list("since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), 0)

	// Paging with the cursor visits every entry once, newest first.
	seen := map[string]bool{}
	var prev *entry
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		var p page
		call(t, "GET", s.URL+"/api/logs?limit=5&cursor="+cursor, "", nil, nil, &p)
		for i := range p.Items {
			it := p.Items[i]
			require.False(t, seen[it.ID], "entry %s seen twice", it.ID)
			seen[it.ID] = true
			if prev != nil {
				require.False(t, it.ReceivedAt.After(prev.ReceivedAt), "newest first")
			}
			prev = &it
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	require.Len(t, seen, 12)
}

func TestOperationsEndpoints(t *testing.T) {
	s := startServe(t, map[string]string{"EVENTLINE_PROCESS_ID": "ops"})
	postLog(t, s.URL, `{"message":"m"}`)
	resp := call(t, "GET", s.URL+"/healthz", "", nil, nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var ready struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	resp = call(t, "GET", s.URL+"/readyz", "", nil, nil, &ready)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, ready.Ready)
	require.Equal(t, "ok", ready.Checks["jetstream"])
	require.Equal(t, "ok", ready.Checks["postgres"])

	require.Eventually(t, func() bool {
		req, _ := http.NewRequest("GET", s.URL+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = fmt.Fprint(&b, readAll(resp))
		m := b.String()
		return strings.Contains(m, `eventline_logs_ingested_total{process="ops"} 1`) &&
			strings.Contains(m, `eventline_projection_batch_size_count{process="ops",projection="logs"}`) &&
			strings.Contains(m, "eventline_projection_flush_seconds") &&
			strings.Contains(m, "eventline_projection_retries_total") &&
			strings.Contains(m, "eventline_projection_pending")
	}, 10*time.Second, 50*time.Millisecond)
}
