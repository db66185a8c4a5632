package workflowsync

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/migrations"
	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
)

// queryLog records the statements a pool runs, with their arguments.
type queryLog struct {
	mu      sync.Mutex
	queries []loggedQuery
}

type loggedQuery struct {
	sql  string
	args []any
}

func (l *queryLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.HasPrefix(data.SQL, "EXPLAIN") {
		return ctx
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, loggedQuery{sql: data.SQL, args: data.Args})
	return ctx
}

func (l *queryLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *queryLog) take() []loggedQuery {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queries
	l.queries = nil
	return q
}

// seedDashboard fills the read model: customer 0 with 10,000 workflows,
// customers 1..100 with 100 each, and 100 sync runs per customer (every
// tenth failed with 1,000 errors).
func seedDashboard(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for _, stmt := range []string{
		`INSERT INTO customers (id, name, base_url, client_id, created_at, last_sync_id, last_sync_status, last_sync_at, seq)
		 SELECT ('00000000-0000-0000-0000-' || lpad(to_hex(i), 12, '0'))::uuid, 'customer ' || i,
		        'https://t' || i || '.zuora.example', 'client-' || i, now() - i * interval '1 hour', NULL, NULL, NULL, 1
		 FROM generate_series(0, 100) i`,
		`INSERT INTO workflows (id, customer_id, zuora_id, name, description, status, created_at, updated_at, last_synced_at, seq)
		 SELECT gen_random_uuid(), c.id, z, 'Workflow ' || z, 'Generated workflow number ' || z,
		        CASE WHEN z % 4 = 0 THEN 'Inactive' ELSE 'Active' END, now(), now(), now(), 1
		 FROM customers c, generate_series(1, CASE WHEN c.name = 'customer 0' THEN 10000 ELSE 100 END) z`,
		`INSERT INTO sync_runs (sync_id, customer_id, status, trigger, slot, started_at, finished_at, created, updated,
		        deleted, unchanged, total, errors, pages, reason, seq)
		 SELECT gen_random_uuid()::text, c.id, CASE WHEN n % 10 = 0 THEN 'failed' ELSE 'completed' END, 'interval', '',
		        now() - n * interval '15 minutes', now() - n * interval '15 minutes' + interval '2 seconds',
		        n, n, 0, 100, 100, CASE WHEN n % 10 = 0 THEN e.errs ELSE '[]' END, 2,
		        CASE WHEN n % 10 = 0 THEN 'listing failed' ELSE '' END, 1
		 FROM customers c, generate_series(1, 100) n,
		      (SELECT jsonb_agg('page 1: workflow ' || g || ': bad') AS errs FROM generate_series(1, 1000) g) e`,
		// As autovacuum leaves them: statistics and the visibility map
		// (index-only counts).
		`VACUUM ANALYZE customers`, `VACUUM ANALYZE workflows`, `VACUUM ANALYZE sync_runs`,
	} {
		_, err := pool.Exec(context.Background(), stmt)
		require.NoError(t, err)
	}
}

// firstByte is the median and the worst time to first byte of n GETs.
func firstByte(t *testing.T, url string, n int) (time.Duration, time.Duration, string) {
	t.Helper()
	var took []time.Duration
	var body string
	for range n {
		var start, first time.Time
		trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url, nil)
		require.NoError(t, err)
		req.Header.Set("HX-Request", "true")
		start = time.Now()
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "%s: %s", url, b)
		took = append(took, first.Sub(start))
		body = string(b)
	}
	slices.Sort(took)
	return took[len(took)/2], took[len(took)-1], body
}

// The customers pages over a seeded read model: every statement they run
// uses an index on the big tables (EXPLAIN), and the figures are logged
// (no timing assertion here; the benchmark owns the targets).
func TestDashboardCustomersPagesOverABigReadModel(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 20,000 workflows")
	}
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testenv.Postgres(t))
	require.NoError(t, err)
	log := &queryLog{}
	cfg.ConnConfig.Tracer = log
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(ctx, pool)
	require.NoError(t, err)
	seedDashboard(t, pool)

	d, err := dashboard.New(dashboard.Config{})
	require.NoError(t, err)
	mountDashboard(d, pool, nil, Schedule{Interval: time.Hour, DailyAt: "02:00"}, nil)
	srv := httpapi.NewServer(httpapi.ServerConfig{})
	d.Mount(srv)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)

	big, small := "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000005"
	far := readCursor{ZuoraID: 9000}.encode()
	log.take()
	for _, path := range []string{
		"/customers", "/customers/list", "/customers/last-syncs",
		"/customers/" + big, "/customers/" + big + "?status=inactive", "/customers/" + big + "?q=Workflow+9999",
		"/customers/" + big + "?q=no+such+thing", "/customers/" + big + "?cursor=" + far,
		"/customers/" + big + "/summary", "/customers/" + big + "/workflows", "/customers/" + big + "/syncs",
		"/customers/" + small,
	} {
		median, worst, body := firstByte(t, ts.URL+path, 20)
		queries := log.take()
		var plans []string
		seen := map[string]bool{}
		for _, q := range queries {
			if seen[q.sql] {
				continue
			}
			seen[q.sql] = true
			plan := explain(t, pool, q)
			for _, table := range []string{"workflows", "sync_runs"} {
				if table == "workflows" && strings.Contains(path, "q=") {
					// A substring search reads the customer's workflows
					// (ILIKE '%…%' has no B-tree index); logged below.
					continue
				}
				require.NotContains(t, plan.text, "Seq Scan on "+table, "%s: %s\n%s", path, q.sql, plan.text)
			}
			plans = append(plans, plan.summary)
			if testing.Verbose() && (path == "/customers" || strings.Contains(q.sql, "ILIKE")) {
				t.Logf("plan of %s:\n%s", path, plan.text)
			}
		}
		require.NotContains(t, body, "10,000+", path)
		t.Logf("%-75s first byte median %6.2f ms, worst %6.2f ms; %d statements: %s", path,
			float64(median.Microseconds())/1000, float64(worst.Microseconds())/1000, len(seen), strings.Join(plans, "; "))
	}
}

type plan struct{ text, summary string }

// explain runs EXPLAIN ANALYZE of q and sums it up: execution time and
// buffers hit or read.
func explain(t *testing.T, pool *pgxpool.Pool, q loggedQuery) plan {
	t.Helper()
	rows, err := pool.Query(context.Background(), "EXPLAIN (ANALYZE, BUFFERS) "+q.sql, q.args...)
	require.NoError(t, err)
	defer rows.Close()
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	text := strings.Join(lines, "\n")
	exec := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "Execution Time:") {
			exec = strings.TrimSpace(strings.TrimPrefix(l, "Execution Time:"))
		}
	}
	return plan{text: text, summary: fmt.Sprintf("exec %s", exec)}
}
