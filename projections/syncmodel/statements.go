package syncmodel

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/workflows"
)

// upsertRun is a run of workflow.created/updated events of one customer:
// the last version of each workflow, and what each sync counted.
type upsertRun struct {
	order  []int64
	rows   map[int64]upsertRow
	counts map[string]*syncCount
	syncs  []string
}

type upsertRow struct {
	w   workflows.Workflow
	at  time.Time
	seq uint64
}

type syncCount struct {
	created, updated int
	seq              uint64
}

// markRun is a run of workflow.deleted events of one customer.
type markRun struct {
	order []int64
	rows  map[int64]markRow
}

type markRow struct {
	sync string
	seq  uint64
}

// queuer queues the statements of one customer's events, grouping runs of
// workflow events into one statement each.
type queuer struct {
	m        *Model
	b        *pgx.Batch
	customer uuid.UUID
	upserts  *upsertRun
	marks    *markRun
}

// queueCustomer queues the statements of g's events after applied (the last
// of the customer's events already applied, 0 when it has no row).
func (m *Model) queueCustomer(b *pgx.Batch, g *customerEvents, applied uint64) {
	q := &queuer{m: m, b: b, customer: g.id}
	var last uint64
	for _, ev := range g.events {
		if ev.seq <= applied {
			continue
		}
		last = ev.seq
		q.add(ev)
	}
	if last == 0 {
		return
	}
	q.flush()
	b.Queue(`UPDATE `+m.customers+` SET seq = $2 WHERE id = $1 AND seq < $2`, g.id, int64(last))
}

// add queues ev, or adds it to the run of its kind.
func (q *queuer) add(ev event) {
	switch e := ev.data.(type) {
	case *workflows.WorkflowChanged:
		q.flushMarks()
		if q.upserts == nil {
			q.upserts = &upsertRun{rows: map[int64]upsertRow{}, counts: map[string]*syncCount{}}
		}
		q.upserts.add(ev, e)
	case *workflows.WorkflowDeleted:
		q.flushUpserts()
		if q.marks == nil {
			q.marks = &markRun{rows: map[int64]markRow{}}
		}
		if _, ok := q.marks.rows[e.ZuoraID]; !ok {
			q.marks.order = append(q.marks.order, e.ZuoraID)
		}
		q.marks.rows[e.ZuoraID] = markRow{sync: e.SyncID, seq: ev.seq}
	default:
		q.flush()
		q.queueSingle(ev)
	}
}

func (r *upsertRun) add(ev event, e *workflows.WorkflowChanged) {
	id := e.Workflow.ZuoraID
	if _, ok := r.rows[id]; !ok {
		r.order = append(r.order, id)
	}
	r.rows[id] = upsertRow{w: e.Workflow, at: ev.at, seq: ev.seq}
	c := r.counts[e.SyncID]
	if c == nil {
		c = &syncCount{}
		r.counts[e.SyncID] = c
		r.syncs = append(r.syncs, e.SyncID)
	}
	if ev.typ == workflows.WorkflowCreatedV1 {
		c.created++
	} else {
		c.updated++
	}
	c.seq = ev.seq
}

func (q *queuer) flush() {
	q.flushUpserts()
	q.flushMarks()
}

// flushUpserts queues the pending run of created/updated workflows: one
// upsert over arrays, each row written only by a later event than the one
// that wrote it, and the running counts of the syncs that listed them.
func (q *queuer) flushUpserts() {
	r := q.upserts
	if r == nil {
		return
	}
	q.upserts = nil
	n := len(r.order)
	ids, zids, seqs := make([]uuid.UUID, n), make([]int64, n), make([]int64, n)
	names, descs, statuses := make([]string, n), make([]string, n), make([]string, n)
	created, updated, synced := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	for i, zid := range r.order {
		row := r.rows[zid]
		ids[i], zids[i], seqs[i] = WorkflowID(q.customer, zid), zid, int64(row.seq)
		names[i], descs[i], statuses[i] = row.w.Name, row.w.Description, row.w.Status
		created[i], updated[i], synced[i] = row.w.CreatedAt.UTC(), row.w.UpdatedAt.UTC(), row.at
	}
	t := q.m.workflows
	q.b.Queue(`INSERT INTO `+t+` AS w (id, customer_id, zuora_id, name, description, status, created_at, updated_at,
			last_synced_at, deleting_sync, seq)
		SELECT u.id, $1, u.zuora_id, u.name, u.description, u.status, u.created_at, u.updated_at, u.synced, NULL, u.seq
		FROM unnest($2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[],
			$9::timestamptz[], $10::bigint[]) AS u(id, zuora_id, name, description, status, created_at, updated_at, synced, seq)
		ON CONFLICT (customer_id, zuora_id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
			status = EXCLUDED.status, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at,
			last_synced_at = EXCLUDED.last_synced_at, deleting_sync = NULL, seq = EXCLUDED.seq
		WHERE w.seq < EXCLUDED.seq`,
		q.customer, ids, zids, names, descs, statuses, created, updated, synced, seqs)
	for _, s := range r.syncs {
		c := r.counts[s]
		q.b.Queue(`UPDATE `+q.m.syncRuns+` SET created = created + $2, updated = updated + $3, seq = $4
			WHERE sync_id = $1 AND status = 'running' AND seq < $4`, s, c.created, c.updated, int64(c.seq))
	}
}

// flushMarks queues the pending run of deletions: the rows are marked with
// the sync that found them gone, when it is running (as the aggregate
// counts them).
func (q *queuer) flushMarks() {
	r := q.marks
	if r == nil {
		return
	}
	q.marks = nil
	n := len(r.order)
	zids, syncs, seqs := make([]int64, n), make([]string, n), make([]int64, n)
	for i, zid := range r.order {
		zids[i], syncs[i], seqs[i] = zid, r.rows[zid].sync, int64(r.rows[zid].seq)
	}
	q.b.Queue(`UPDATE `+q.m.workflows+` AS w SET deleting_sync = u.sync, seq = u.seq
		FROM unnest($2::bigint[], $3::text[], $4::bigint[]) AS u(zuora_id, sync, seq)
		WHERE w.customer_id = $1 AND w.zuora_id = u.zuora_id AND w.seq < u.seq
			AND EXISTS (SELECT 1 FROM `+q.m.syncRuns+` r WHERE r.sync_id = u.sync AND r.status = 'running')`,
		q.customer, zids, syncs, seqs)
}

// queueSingle queues the statements of a customer or sync event.
func (q *queuer) queueSingle(ev event) {
	m, b, seq := q.m, q.b, int64(ev.seq)
	switch e := ev.data.(type) {
	case *workflows.CustomerCreated:
		b.Queue(`INSERT INTO `+m.customers+` (id, name, base_url, client_id, created_at, max_workflows, max_bytes, seq)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
			q.customer, e.Name, e.BaseURL, e.ClientID, orAt(e.CreatedAt, ev.at), limit(int64(e.Limits.MaxWorkflows)),
			limit(e.Limits.MaxBytes), seq)
	case *workflows.CustomerUpdated:
		// A change of credentials clears a refusal: the next sync tries them.
		b.Queue(`UPDATE `+m.customers+` SET credentials_error = CASE WHEN $9 OR base_url <> $3 OR client_id <> $4
				THEN NULL ELSE credentials_error END,
			credentials_error_at = CASE WHEN $9 OR base_url <> $3 OR client_id <> $4 THEN NULL ELSE credentials_error_at END,
			name = $2, base_url = $3, client_id = $4, max_workflows = $5, max_bytes = $6, updated_at = $7, seq = $8
			WHERE id = $1 AND seq < $8`,
			q.customer, e.Name, e.BaseURL, e.ClientID, limit(int64(e.Limits.MaxWorkflows)), limit(e.Limits.MaxBytes),
			orAt(e.UpdatedAt, ev.at), seq, e.SecretRotated)
	case *workflows.CustomerDeleted:
		// Its workflows go; the row stays as a tombstone (deleted_at), so
		// that its events are known applied.
		b.Queue(`DELETE FROM `+m.workflows+` WHERE customer_id = $1`, q.customer)
		b.Queue(`UPDATE `+m.customers+` SET deleted_at = $2, seq = $3 WHERE id = $1 AND seq < $3`,
			q.customer, orAt(e.DeletedAt, ev.at), seq)
	case *workflows.SyncProgressed:
		b.Queue(`UPDATE `+m.syncRuns+` SET pages = greatest(pages, $2), total = greatest(total, $3), seq = $4
			WHERE sync_id = $1 AND status = 'running' AND seq < $4`, e.SyncID, e.Pages, e.Listed, seq)
	case *workflows.SyncStarted:
		b.Queue(`INSERT INTO `+m.syncRuns+` (sync_id, customer_id, status, trigger, slot, started_at, finished_at,
				created, updated, deleted, unchanged, total, errors, pages, reason, seq)
			VALUES ($1, $2, 'running', $3, $4, $5, NULL, 0, 0, 0, 0, 0, '[]', 0, '', $6) ON CONFLICT (sync_id) DO NOTHING`,
			e.SyncID, q.customer, string(e.Trigger), e.Slot, orAt(e.StartedAt, ev.at), seq)
	case *workflows.SyncCompleted:
		at := orAt(e.FinishedAt, ev.at)
		q.finishRun(e.SyncID, StatusCompleted, "", e.Stats, e.Pages, at, seq)
		// The sweep: what the complete listing did not hold goes, the rest
		// was in it.
		b.Queue(`DELETE FROM `+m.workflows+` WHERE customer_id = $1 AND deleting_sync = $2`, q.customer, e.SyncID)
		b.Queue(`UPDATE `+m.workflows+` SET last_synced_at = $2, seq = $3 WHERE customer_id = $1 AND seq < $3`,
			q.customer, at, seq)
		q.lastSync(e.SyncID, StatusCompleted, at)
		b.Queue(`UPDATE `+m.customers+` SET credentials_error = NULL, credentials_error_at = NULL WHERE id = $1`, q.customer)
	case *workflows.SyncFailed:
		at := orAt(e.FinishedAt, ev.at)
		q.finishRun(e.SyncID, StatusFailed, e.Reason, e.Stats, e.Pages, at, seq)
		b.Queue(`UPDATE `+m.workflows+` SET deleting_sync = NULL, seq = $3
			WHERE customer_id = $1 AND deleting_sync = $2 AND seq < $3`, q.customer, e.SyncID, seq)
		q.lastSync(e.SyncID, StatusFailed, at)
		if e.CredentialsRefused {
			b.Queue(`UPDATE `+m.customers+` SET credentials_error = $2, credentials_error_at = $3 WHERE id = $1`,
				q.customer, e.Reason, at)
		}
	}
}

// finishRun queues the end of a sync's run with its stats.
func (q *queuer) finishRun(syncID, status, reason string, st workflows.Stats, pages int, at time.Time, seq int64) {
	errs := st.Errors
	if errs == nil {
		errs = []string{}
	}
	errJSON, _ := json.Marshal(errs) // a []string always marshals
	q.b.Queue(`UPDATE `+q.m.syncRuns+` SET status = $2, finished_at = $3, created = $4, updated = $5, deleted = $6,
			unchanged = $7, total = $8, errors = $9, pages = $10, reason = $11, seq = $12
		WHERE sync_id = $1 AND seq < $12`,
		syncID, status, at, st.Created, st.Updated, st.Deleted, st.Unchanged, st.Total, string(errJSON), pages, reason, seq)
}

// lastSync queues the customer's last sync outcome.
func (q *queuer) lastSync(syncID, status string, at time.Time) {
	q.b.Queue(`UPDATE `+q.m.customers+` SET last_sync_id = $2, last_sync_status = $3, last_sync_at = $4 WHERE id = $1`,
		q.customer, syncID, status, at)
}

// limit is a customer's bound as stored: NULL for the default (0).
func limit(n int64) *int64 {
	if n <= 0 {
		return nil
	}
	return &n
}

// orAt returns t in UTC, or at when t is zero.
func orAt(t, at time.Time) time.Time {
	if t.IsZero() {
		return at
	}
	return t.UTC()
}
