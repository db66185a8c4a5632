package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/browsertest"
	"github.com/eventline/eventline/internal/testenv"
)

// An operator sees in the overview's banner what is parked and which
// customer's last sync failed, and retries and skips parked projection
// items from /streams, as the CLI does: two log entries PostgreSQL refuses (a constraint added for
// the test) are parked; one is skipped with who and why, the constraint is
// dropped, and "Retry all" applies the other.
func TestDashboardRetriesAndSkipsParkedItems(t *testing.T) {
	db := testenv.Postgres(t)
	s := startServe(t, map[string]string{"DATABASE_URL": db, "EVENTLINE_SYNC_RETRY_ATTEMPTS": "0"})
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx, `ALTER TABLE log_entries ADD CONSTRAINT test_no_boom CHECK (message NOT LIKE 'boom%')`)
	require.NoError(t, err)
	for _, msg := range []string{"boom-retry", "boom-skip", "fine"} {
		resp := call(t, "POST", s.URL+"/api/logs", "application/json", []byte(`{"message":"`+msg+`"}`), nil, nil)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
	}
	require.Eventually(t, func() bool { st := getStats(t, s.URL); return st.Parked == 2 && st.Pending == 0 },
		30*time.Second, 50*time.Millisecond)

	// The API refuses a skip without a reason.
	var e map[string]map[string]string
	resp := call(t, "POST", s.URL+"/api/ops/projections/logs/retry", "application/json", []byte(`{"skip":1,"by":"x"}`), nil, &e)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "reason", e["error"]["field"])
	var listed struct {
		Items []struct {
			Kind, Name string
			Total      int
			Items      []struct{ Seq uint64 }
		} `json:"items"`
	}
	resp = call(t, "GET", s.URL+"/api/ops/parked", "", nil, nil, &listed)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, listed.Items, 1)
	require.Equal(t, "logs", listed.Items[0].Name)
	require.Equal(t, 2, listed.Items[0].Total)

	// A customer whose Zuora refuses its credentials: its first sync fails.
	zuora := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
	}))
	t.Cleanup(zuora.Close)
	resp = call(t, "POST", s.URL+"/api/customers", "application/json",
		[]byte(`{"name":"Refused","zuora":{"base_url":"`+zuora.URL+`","client_id":"gone","client_secret":"gone-secret"}}`), nil, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	// The overview's banner counts both, each linking to where it is acted on.
	b := browsertest.New(t)
	b.Run(30*time.Second, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(s.URL+"/"))
	b.WaitText("#overview-banner", "2 projection items parked", 15*time.Second)
	require.Equal(t, 1, b.Nodes(`#overview-banner a[href="/streams#h-parked"]`))
	b.WaitText("#overview-banner", "1 customer whose last sync failed", 30*time.Second)

	b.Run(30*time.Second, chromedp.Navigate(s.URL+"/streams"))
	b.WaitText("#parked", "projection logs: 2 parked", 15*time.Second)
	require.Equal(t, 2, b.Nodes("#parked tr.parked-row"))
	rows := b.Text("#parked tbody")
	require.Contains(t, rows, "SQLSTATE 23514", "the error says why")

	// Skip the second (by its row), saying who and why.
	b.Run(10*time.Second,
		chromedp.SetValue("#pk-by", "ops-alice", chromedp.ByQuery),
		chromedp.Click("#parked tr.parked-row:nth-child(2) button.parked-skip", chromedp.ByQuery))
	b.WaitText("#parked-result", "Refused: Say why", 10*time.Second)
	b.Run(10*time.Second,
		chromedp.SetValue("#pk-reason", "test payload", chromedp.ByQuery),
		chromedp.Click("#parked tr.parked-row:nth-child(2) button.parked-skip", chromedp.ByQuery))
	b.WaitText("#parked-result", "skipped #", 15*time.Second)
	b.WaitText("#parked-result", "by ops-alice (test payload), recorded", 5*time.Second)
	b.WaitText("#parked", "projection logs: 1 parked", 10*time.Second)

	_, err = pool.Exec(ctx, `ALTER TABLE log_entries DROP CONSTRAINT test_no_boom`)
	require.NoError(t, err)
	b.Run(10*time.Second, chromedp.Click("#retry-projection-logs", chromedp.ByQuery))
	b.WaitText("#parked-result", "retried 1 parked: 1 done, 0 still parked", 15*time.Second)
	b.WaitText("#parked", "Nothing is parked.", 10*time.Second)
	b.Run(30*time.Second, chromedp.Navigate(s.URL+"/"))
	b.WaitText("#overview-banner", "1 customer whose last sync failed", 15*time.Second)
	require.NotContains(t, b.Text("#overview-banner"), "parked", "the parked items went from the banner")
	b.Screenshot("streams-parked")
	b.NoProblems()

	st := getStats(t, s.URL)
	require.Zero(t, st.Parked)
	require.Equal(t, int64(1), st.Skipped)
	var by, reason, msg string
	require.NoError(t, pool.QueryRow(ctx, `SELECT skipped_by, reason FROM projection_skipped WHERE projection = 'logs'`).Scan(&by, &reason))
	require.Equal(t, "ops-alice", by)
	require.Equal(t, "test payload", reason)
	require.NoError(t, pool.QueryRow(ctx, `SELECT message FROM log_entries WHERE message LIKE 'boom%'`).Scan(&msg))
	require.Equal(t, "boom-retry", msg, "the retried entry landed, the skipped one did not")
}
