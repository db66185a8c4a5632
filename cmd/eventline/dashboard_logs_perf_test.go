package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
)

// TestDashboardLogsMillionRows times /logs and its fragments with 1,000,000
// rows in log_entries and prints the plans of the list's queries. Seeding
// takes a while: it runs only with EVENTLINE_DASHBOARD_1M=1. It reports
// figures and asserts no timing (the formal figures are bench/dashboard's).
func TestDashboardLogsMillionRows(t *testing.T) {
	if os.Getenv("EVENTLINE_DASHBOARD_1M") == "" {
		t.Skip("set EVENTLINE_DASHBOARD_1M=1 to seed 1,000,000 log entries and time the logs pages")
	}
	dbURL := testenv.Postgres(t)
	s := startServe(t, map[string]string{"DATABASE_URL": dbURL})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	start := time.Now()
	_, err = conn.Exec(ctx, `INSERT INTO log_entries (id, seq, level, message, source, received_at)
		SELECT gen_random_uuid(), i / 100 + 1,
		       (ARRAY['debug','info','notice','warning','error','critical','alert','emergency'])[1 + i % 8],
		       'seeded message ' || i || ' ' || md5(i::text), 'src-' || (i % 100),
		       now() - make_interval(secs => i / 1000.0)
		FROM generate_series(1, 1000000) AS i`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `ANALYZE log_entries`)
	require.NoError(t, err)
	t.Logf("seeded 1,000,000 rows in %s", time.Since(start).Round(time.Millisecond))

	for _, q := range []string{
		`SELECT id FROM log_entries ORDER BY received_at DESC, id DESC LIMIT 51`,
		`SELECT id FROM log_entries WHERE level = 'error' ORDER BY received_at DESC, id DESC LIMIT 51`,
		`SELECT id FROM log_entries WHERE source = 'src-7' ORDER BY received_at DESC, id DESC LIMIT 51`,
		`SELECT id FROM log_entries WHERE level = 'error' AND source = 'src-4' ORDER BY received_at DESC, id DESC LIMIT 51`,
		`SELECT id FROM log_entries WHERE message ILIKE '%999%' ORDER BY received_at DESC, id DESC LIMIT 51`,
		`SELECT id FROM log_entries WHERE message ILIKE '%no such text%' ORDER BY received_at DESC, id DESC LIMIT 51`,
	} {
		rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF) "+q)
		require.NoError(t, err)
		defer rows.Close()
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		t.Logf("%s\n    %s", q, strings.Join(plan, "\n    "))
	}

	client := &http.Client{}
	timeGet := func(path string, hx bool) (firstByte, total time.Duration, status int) {
		req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
		require.NoError(t, err)
		if hx {
			req.Header.Set("HX-Request", "true")
		}
		t0 := time.Now()
		res, err := client.Do(req)
		require.NoError(t, err)
		firstByte = time.Since(t0)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return firstByte, time.Since(t0), res.StatusCode
	}
	// The cursor of the second page, from the first.
	_, _, _ = timeGet("/logs/entries", true)
	for _, p := range []struct {
		path string
		hx   bool
	}{
		{"/logs", false},
		{"/logs/entries", true},
		{"/logs/entries?level=error", true},
		{"/logs/entries?source=src-7", true},
		{"/logs/entries?level=error&source=src-4", true},
		{"/logs/entries?q=999", true},
		{"/logs/entries?q=no+such+text", true},
		{"/logs/stats", true},
		{"/logs/chart", true},
		{"/logs/card", true},
	} {
		var worstFB, worstTotal time.Duration
		var status int
		for range 5 {
			fb, total, st := timeGet(p.path, p.hx)
			worstFB, worstTotal, status = max(worstFB, fb), max(worstTotal, total), st
		}
		t.Logf("%-45s status %d, worst of 5: first byte %6.1f ms, whole %6.1f ms", p.path, status,
			float64(worstFB.Microseconds())/1000, float64(worstTotal.Microseconds())/1000)
	}
}
