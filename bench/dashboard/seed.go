package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// volumes are the row counts seeded into the read models.
type volumes struct {
	LogEntries, Sagas, StepsPerSaga, Customers, Workflows, SyncRunsPerCustomer int
}

// volumesAt is the volumes times scale (at least one of each).
func volumesAt(scale float64) volumes {
	n := func(v int) int { return max(1, int(float64(v)*scale)) }
	return volumes{LogEntries: n(1_000_000), Sagas: n(100_000), StepsPerSaga: 5, Customers: max(1, min(100, n(100))),
		Workflows: n(10_000), SyncRunsPerCustomer: 20}
}

// seeded is what seed wrote: the volumes, how long it took, and ids of a
// saga and a customer to open.
type seeded struct {
	volumes
	Took       time.Duration
	SagaID     string
	CustomerID string
}

// The seed statements: every row satisfies its table's constraints
// (migrations/sql); ids are deterministic UUIDs (md5 of a label), times
// spread over the last days, so that the pages' newest-first listings and
// filters see a realistic mix. The running and compensating sagas were
// "updated" in the future: the orders module's sweeper re-issues sagas
// idle in the read model, and these have no events to load.
var seedSQL = []struct{ what, sql string }{
	{"log_entries", `INSERT INTO log_entries (id, seq, level, message, context, source, received_at, persisted_at)
	SELECT md5('log' || i)::uuid, 1000000000 + i,
	       (ARRAY['debug','info','info','info','notice','warning','error','critical'])[1 + i % 8],
	       'bench entry ' || i || ' of the dashboard benchmark',
	       jsonb_build_object('n', i, 'host', 'node-' || (i % 50)),
	       'node-' || (i % 50),
	       now() - make_interval(secs => ($1::bigint - i) * 0.25),
	       now() - make_interval(secs => ($1::bigint - i) * 0.25)
	FROM generate_series(1, $1::bigint) AS i`},
	{"sagas", `INSERT INTO sagas (id, type, status, current_step, reason, aborted, created_at, updated_at, seq)
	SELECT md5('saga' || i)::uuid::text, 'create_order',
	       (ARRAY['completed','completed','completed','compensated','failed','needs_attention','running','compensating'])[1 + i % 8],
	       (ARRAY['validate_user','reserve_inventory','create_order','process_payment','send_notification'])[1 + i % 5],
	       CASE WHEN i % 8 IN (3, 4, 5) THEN 'payment declined' ELSE '' END,
	       false,
	       now() - make_interval(secs => ($1::bigint - i) * 2),
	       CASE WHEN i % 8 IN (6, 7) THEN now() + interval '1 day'
	            ELSE now() - make_interval(secs => ($1::bigint - i) * 2) + interval '120 ms' END,
	       1000000000 + i
	FROM generate_series(1, $1::bigint) AS i`},
	{"saga_steps", `INSERT INTO saga_steps (saga_id, position, name, status, attempts, started_at, finished_at, error,
	       comp_status, comp_attempts, comp_error, seq)
	SELECT md5('saga' || i)::uuid::text, p,
	       (ARRAY['validate_user','reserve_inventory','create_order','process_payment','send_notification'])[1 + p],
	       CASE WHEN i % 8 IN (3, 4) AND p = 3 THEN 'failed' WHEN i % 8 IN (3, 4) AND p > 3 THEN 'skipped'
	            WHEN i % 8 IN (3, 4) THEN 'compensated' ELSE 'completed' END,
	       1 + (i + p) % 2,
	       now() - make_interval(secs => ($1::bigint - i) * 2) + p * interval '20 ms',
	       now() - make_interval(secs => ($1::bigint - i) * 2) + p * interval '20 ms' + interval '15 ms',
	       CASE WHEN i % 8 IN (3, 4) AND p = 3 THEN 'card declined' ELSE '' END,
	       CASE WHEN i % 8 IN (3, 4) AND p < 3 AND p > 0 THEN 'compensated' ELSE '' END,
	       CASE WHEN i % 8 IN (3, 4) AND p < 3 AND p > 0 THEN 1 ELSE 0 END,
	       '', 1000000000 + i
	FROM generate_series(1, $1::bigint) AS i, generate_series(0, $2::int - 1) AS p`},
	{"customers", `INSERT INTO customers (id, name, base_url, client_id, created_at, last_sync_id, last_sync_status, last_sync_at, seq)
	SELECT md5('customer' || c)::uuid, 'Customer ' || lpad(c::text, 3, '0'), 'https://zuora-' || c || '.example',
	       'client-' || c, now() - interval '30 days', 'sync-' || c || '-' || $2::int, 'completed', now() - interval '1 minute', c
	FROM generate_series(1, $1::int) AS c`},
	{"workflows", `INSERT INTO workflows (id, customer_id, zuora_id, name, description, status, created_at, updated_at,
	       last_synced_at, deleting_sync, seq)
	SELECT md5('workflow' || w)::uuid, md5('customer' || (1 + w % $2::int))::uuid, w, 'Workflow ' || w,
	       'billing workflow number ' || w, (ARRAY['Active','Active','Active','Inactive'])[1 + w % 4],
	       now() - interval '30 days', now() - make_interval(secs => w), now() - interval '1 minute', NULL, w
	FROM generate_series(1, $1::int) AS w`},
	{"sync_runs", `INSERT INTO sync_runs (sync_id, customer_id, status, trigger, slot, started_at, finished_at, created, updated,
	       deleted, unchanged, total, errors, pages, reason, seq)
	SELECT 'sync-' || c || '-' || r, md5('customer' || c)::uuid,
	       CASE WHEN r % 10 = 0 THEN 'failed' ELSE 'completed' END, 'schedule', 'slot-' || r,
	       now() - make_interval(hours => $2::int - r), now() - make_interval(hours => $2::int - r) + interval '4 s',
	       r % 3, r % 7, r % 2, 100 - r, 100, '[]'::jsonb, 2,
	       CASE WHEN r % 10 = 0 THEN 'upstream timed out' ELSE '' END, r
	FROM generate_series(1, $1::int) AS c, generate_series(1, $2::int) AS r`},
}

// seed fills the read models with v's rows (replacing any there) and
// ANALYZEs them.
func seed(ctx context.Context, conn *pgx.Conn, v volumes, logf func(string, ...any)) (seeded, error) {
	s := seeded{volumes: v, SagaID: uuidOf(fmt.Sprintf("saga%d", max(1, v.Sagas/2))),
		CustomerID: uuidOf("customer1")}
	start := time.Now()
	if _, err := conn.Exec(ctx, `TRUNCATE log_entries, sagas, saga_steps, customers, workflows, sync_runs`); err != nil {
		return s, fmt.Errorf("truncate: %w", err)
	}
	args := map[string][]any{
		"log_entries": {v.LogEntries}, "sagas": {v.Sagas}, "saga_steps": {v.Sagas, v.StepsPerSaga},
		"customers": {v.Customers, v.SyncRunsPerCustomer}, "workflows": {v.Workflows, v.Customers},
		"sync_runs": {v.Customers, v.SyncRunsPerCustomer},
	}
	for _, st := range seedSQL {
		t := time.Now()
		tag, err := conn.Exec(ctx, st.sql, args[st.what]...)
		if err != nil {
			return s, fmt.Errorf("%s: %w", st.what, err)
		}
		logf("seeded %d %s in %.1f s", tag.RowsAffected(), st.what, time.Since(t).Seconds())
	}
	if _, err := conn.Exec(ctx, `ANALYZE log_entries, sagas, saga_steps, customers, workflows, sync_runs`); err != nil {
		return s, fmt.Errorf("analyze: %w", err)
	}
	s.Took = time.Since(start)
	return s, nil
}

// uuidOf is PostgreSQL's md5(label)::uuid.
func uuidOf(label string) string {
	h := md5.Sum([]byte(label))
	x := hex.EncodeToString(h[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
