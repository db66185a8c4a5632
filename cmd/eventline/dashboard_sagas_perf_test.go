package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
)

// TestDashboardSagasPerf seeds 100,000 sagas (500,000 steps) into the read
// model and prints the plans of the sagas pages' queries and the pages'
// first-byte times. It runs with EVENTLINE_DASH_PERF=1 only (it takes a
// minute); the formal bench is make bench's.
func TestDashboardSagasPerf(t *testing.T) {
	if os.Getenv("EVENTLINE_DASH_PERF") == "" {
		t.Skip("EVENTLINE_DASH_PERF is not set")
	}
	db := testenv.Postgres(t)
	s := startServe(t, map[string]string{"DATABASE_URL": db})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	require.NoError(t, err)
	defer conn.Close(ctx)

	start := time.Now()
	_, err = conn.Exec(ctx, `
		INSERT INTO sagas (id, type, status, current_step, reason, aborted, created_at, updated_at, seq)
		SELECT 'seed-' || lpad(i::text, 7, '0'), 'create_order',
			(ARRAY['completed','completed','completed','completed','compensated','compensated','running','needs_attention','failed','compensating'])[1 + i % 10],
			'process_payment', '', false, now() - (100000 - i) * interval '1 second', now() - (100000 - i) * interval '1 second', i
		FROM generate_series(1, 100000) i`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `
		INSERT INTO saga_steps (saga_id, position, name, status, attempts, started_at, finished_at, error, comp_status,
			comp_attempts, comp_error, seq)
		SELECT 'seed-' || lpad(i::text, 7, '0'), p,
			(ARRAY['validate_user','reserve_inventory','create_order','process_payment','send_notification'])[1 + p],
			'completed', 1, now(), now(), '', '', 0, '', i
		FROM generate_series(1, 100000) i, generate_series(0, 4) p`)
	require.NoError(t, err)
	for _, table := range []string{"sagas", "saga_steps"} {
		_, err = conn.Exec(ctx, "VACUUM ANALYZE "+table)
		require.NoError(t, err)
	}
	fmt.Printf("seeded 100000 sagas and 500000 steps in %s\n", time.Since(start).Round(time.Millisecond))

	var cursorAt time.Time
	require.NoError(t, conn.QueryRow(ctx, `SELECT created_at FROM sagas WHERE id = 'seed-0050000'`).Scan(&cursorAt))
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`SELECT status, count(*) FROM sagas GROUP BY status`, nil},
		{`SELECT s, (SELECT count(*) FROM (SELECT 1 FROM sagas WHERE status = s LIMIT $2) x) FROM unnest($1::text[]) s`,
			[]any{[]string{"running", "compensating", "completed", "compensated", "needs_attention", "failed"}, 10001}},
		{`SELECT v.status, (v.freq * greatest(c.reltuples, 0))::bigint FROM pg_class c
			JOIN pg_stats s ON s.schemaname = c.relnamespace::regnamespace::text AND s.tablename = c.relname AND s.attname = 'status'
			CROSS JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS v(status, freq)
			WHERE c.oid = 'sagas'::regclass`, nil},
		{`SELECT id, type, status, current_step, reason, created_at, updated_at FROM sagas WHERE true ORDER BY created_at DESC, id DESC LIMIT 51`, nil},
		{`SELECT id, type, status, current_step, reason, created_at, updated_at FROM sagas WHERE true AND status = $1 AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT 51`,
			[]any{"running", cursorAt, "seed-0050000"}},
		{`SELECT name, status, attempts, started_at, finished_at, error, comp_status, comp_attempts, comp_error FROM saga_steps WHERE saga_id = $1 ORDER BY position LIMIT 100`,
			[]any{"seed-0050000"}},
	} {
		rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q.sql, q.args...)
		require.NoError(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		fmt.Printf("\n%s\n  %s\n", q.sql, strings.Join(lines, "\n  "))
	}

	for _, path := range []string{"/sagas", "/sagas/list", "/sagas?status=running", "/sagas/card", "/sagas/seed-0050000",
		"/sagas/seed-0050000/live"} {
		best := time.Hour
		var total time.Duration
		for range 20 {
			fb, all := firstByte(t, s.URL+path)
			best = min(best, fb)
			total += all
		}
		if path == "/sagas/card" {
			fmt.Printf("card: %s\n", strings.Join(strings.Fields(get(t, s.URL+path)), " "))
		}
		fmt.Printf("GET %-26s first byte best %6.2f ms, full avg %6.2f ms (20 runs)\n", path,
			float64(best)/1e6, float64(total/20)/1e6)
	}
}

// firstByte times a GET: to its first byte, and to its end.
func firstByte(t *testing.T, url string) (time.Duration, time.Duration) {
	t.Helper()
	var fb time.Duration
	start := time.Now()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("HX-Request", "true")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotFirstResponseByte: func() { fb = time.Since(start) },
	}))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, url)
	return fb, time.Since(start)
}

// get returns the body of a GET (as htmx asks it).
func get(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("HX-Request", "true")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b)
}
