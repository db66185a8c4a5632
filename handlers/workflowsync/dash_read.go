package workflowsync

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
)

// Bounds of the dashboard's customers pages.
const (
	// dashCustomersPage is how many customers the list shows per page.
	dashCustomersPage = 50
	// dashSyncsPage is how many syncs the history shows per page.
	dashSyncsPage = 10
	// dashLastSyncs is how many syncs the overview card shows.
	dashLastSyncs = 5
	// dashCountCap bounds the workflows counted per customer: beyond it the
	// pages show "10,000+" instead of walking a huge index per request.
	dashCountCap = 10_000
	// dashErrorsShown is how many of a sync's errors the history shows.
	dashErrorsShown = 5
)

// dashSync is a sync run as the dashboard shows it.
type dashSync struct {
	ID           string
	CustomerID   uuid.UUID
	CustomerName string
	Status       string
	Trigger      string
	Reason       string
	Created      int64
	Updated      int64
	Deleted      int64
	Unchanged    int64
	Total        int64
	Pages        int64
	// Errors are the first dashErrorsShown errors; ErrorCount counts all.
	Errors     []string
	ErrorCount int64
	StartedAt  time.Time
	FinishedAt *time.Time
}

// Running reports whether the sync has not ended yet.
func (s dashSync) Running() bool { return s.FinishedAt == nil }

// Duration is how long the sync took, or has been running.
func (s dashSync) Duration() time.Duration {
	return syncDuration(s.StartedAt, s.FinishedAt, time.Now())
}

// When says when the sync started (running) or finished, for people.
func (s dashSync) When() string {
	if s.FinishedAt == nil {
		return "started " + agoText(s.StartedAt, time.Now())
	}
	return "finished " + agoText(*s.FinishedAt, time.Now())
}

// FinishedAgo says how long ago the sync finished ("" while running).
func (s dashSync) FinishedAgo() string {
	if s.FinishedAt == nil {
		return ""
	}
	return agoText(*s.FinishedAt, time.Now())
}

// agoText says how long before now t was: "just now", "12 s ago".
func agoText(t, now time.Time) string {
	a := dashboard.Ago(now.Sub(t))
	if a == "just now" {
		return a
	}
	return a + " ago"
}

// MoreErrors is how many errors the history leaves out.
func (s dashSync) MoreErrors() int64 { return max(0, s.ErrorCount-int64(len(s.Errors))) }

// syncDuration is finished-started, or now-started for a running sync
// (never negative: clocks of different processes may disagree).
func syncDuration(started time.Time, finished *time.Time, now time.Time) time.Duration {
	end := now
	if finished != nil {
		end = *finished
	}
	return max(0, end.Sub(started))
}

// dashCount is a bounded count of a customer's workflows.
type dashCount struct {
	N int64
}

// String formats the count, "10,000+" when it reached the cap.
func (c dashCount) String() string { return formatCapped(c.N, dashCountCap) }

// formatCapped formats n with thousands separators, with a "+" when n
// exceeds limit (the count stopped there).
func formatCapped(n, limit int64) string {
	if n > limit {
		return groupThousands(limit) + "+"
	}
	return groupThousands(n)
}

func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// dashCustomer is a customer as the dashboard shows it.
type dashCustomer struct {
	ID        uuid.UUID
	Name      string
	BaseURL   string
	ClientID  string
	CreatedAt time.Time
	// CredentialsError is why Zuora refused the credentials at the last
	// sync ("" when it did not), since CredentialsErrorAt.
	CredentialsError   string
	CredentialsErrorAt *time.Time
	// Schedule is the customer's sync schedule (nil when not known).
	Schedule *scheduleView
	// Last is the latest sync started (running or finished), nil if none.
	Last      *dashSync
	Workflows dashCount
}

// dashSyncColumns selects a sync run (aliased s) in scanDashSync's order,
// with at most dashErrorsShown of its errors.
const dashSyncColumns = `s.sync_id, s.customer_id, s.status, s.trigger, s.reason, s.created, s.updated, s.deleted,
	s.unchanged, s.total, s.pages, jsonb_path_query_array(s.errors, '$[0 to 4]'), jsonb_array_length(s.errors),
	s.started_at, s.finished_at`

// dashCountSQL counts customer c's workflows up to one past the cap.
const dashCountSQL = `(SELECT count(*) FROM (SELECT 1 FROM workflows w WHERE w.customer_id = c.id LIMIT 10001) n)`

// syncTargets are the scan targets of dashSyncColumns into s, and the
// decoding of its errors to run after the scan.
func syncTargets(s *dashSync) ([]any, func() error) {
	var errs []byte
	targets := []any{&s.ID, &s.CustomerID, &s.Status, &s.Trigger, &s.Reason, &s.Created, &s.Updated, &s.Deleted,
		&s.Unchanged, &s.Total, &s.Pages, &errs, &s.ErrorCount, &s.StartedAt, &s.FinishedAt}
	return targets, func() error {
		if err := json.Unmarshal(errs, &s.Errors); err != nil {
			return fmt.Errorf("sync %s: errors: %w", s.ID, err)
		}
		return nil
	}
}

// dashReads reads the syncmodel read model for the dashboard: bounded,
// indexed statements only.
type dashReads struct {
	pool *pgxpool.Pool
}

// customersPage reads a page of customers, newest first, after cursor.
func (r dashReads) customersPage(ctx context.Context, cursor *readCursor, limit int) ([]dashCustomer, string, error) {
	q := `SELECT c.id, c.name, c.base_url, c.client_id, coalesce(c.credentials_error, ''), c.credentials_error_at, c.created_at, ` + dashCountSQL + `, s.sync_id IS NOT NULL, ` +
		dashSyncColumns + `
		FROM customers c
		LEFT JOIN LATERAL (SELECT * FROM sync_runs s WHERE s.customer_id = c.id
			ORDER BY s.started_at DESC, s.sync_id DESC LIMIT 1) s ON true`
	q += ` WHERE c.deleted_at IS NULL`
	args := []any{limit + 1}
	if cursor != nil {
		q += ` AND (c.created_at, c.id) < ($2, $3)`
		id, _ := uuid.Parse(cursor.ID) // checked by parseDashCursor
		args = append(args, cursor.At, id)
	}
	rows, err := r.pool.Query(ctx, q+` ORDER BY c.created_at DESC, c.id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("read customers: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dashCustomer, error) {
		var c dashCustomer
		var has bool
		var ns nullSync
		targets := append([]any{&c.ID, &c.Name, &c.BaseURL, &c.ClientID, &c.CredentialsError, &c.CredentialsErrorAt, &c.CreatedAt,
			&c.Workflows.N, &has}, ns.targets()...)
		if err := row.Scan(targets...); err != nil {
			return c, err
		}
		if has {
			s, err := ns.sync()
			if err != nil {
				return c, err
			}
			c.Last = s
		}
		return c, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("read customers: %w", err)
	}
	items, next := pageOf(items, limit, func(c dashCustomer) readCursor {
		return readCursor{At: c.CreatedAt, ID: c.ID.String()}
	})
	return items, next, nil
}

// errNoCustomer is a customer id the read model does not know.
var errNoCustomer = errors.New("no such customer")

// customer reads customer id with its latest sync and workflow count.
func (r dashReads) customer(ctx context.Context, id uuid.UUID) (dashCustomer, error) {
	var c dashCustomer
	var has bool
	var ns nullSync
	targets := append([]any{&c.ID, &c.Name, &c.BaseURL, &c.ClientID, &c.CredentialsError, &c.CredentialsErrorAt, &c.CreatedAt,
		&c.Workflows.N, &has}, ns.targets()...)
	err := r.pool.QueryRow(ctx, `SELECT c.id, c.name, c.base_url, c.client_id, coalesce(c.credentials_error, ''),
		c.credentials_error_at, c.created_at, `+dashCountSQL+`, s.sync_id IS NOT NULL, `+
		dashSyncColumns+`
		FROM customers c
		LEFT JOIN LATERAL (SELECT * FROM sync_runs s WHERE s.customer_id = c.id
			ORDER BY s.started_at DESC, s.sync_id DESC LIMIT 1) s ON true
		WHERE c.id = $1 AND c.deleted_at IS NULL`, id).Scan(targets...)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, errNoCustomer
	}
	if err != nil {
		return c, fmt.Errorf("read customer %s: %w", id, err)
	}
	if has {
		if c.Last, err = ns.sync(); err != nil {
			return c, err
		}
	}
	return c, nil
}

// syncsPage reads a page of customer's sync history, latest first.
func (r dashReads) syncsPage(ctx context.Context, customer uuid.UUID, cursor *readCursor, limit int) ([]dashSync, string, error) {
	q := `SELECT ` + dashSyncColumns + ` FROM sync_runs s WHERE s.customer_id = $1`
	args := []any{customer, limit + 1}
	if cursor != nil {
		q += ` AND (s.started_at, s.sync_id) < ($3, $4)`
		args = append(args, cursor.At, cursor.ID)
	}
	items, err := r.syncs(ctx, q+` ORDER BY s.started_at DESC, s.sync_id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("read syncs of %s: %w", customer, err)
	}
	items, next := pageOf(items, limit, func(s dashSync) readCursor { return readCursor{At: s.StartedAt, ID: s.ID} })
	return items, next, nil
}

// lastSyncs reads the n syncs started last across customers.
func (r dashReads) lastSyncs(ctx context.Context, n int) ([]dashSync, error) {
	items, err := r.syncs(ctx, `SELECT `+dashSyncColumns+`, coalesce(c.name, '') FROM
		(SELECT * FROM sync_runs ORDER BY started_at DESC, sync_id DESC LIMIT $1) s
		LEFT JOIN customers c ON c.id = s.customer_id ORDER BY s.started_at DESC, s.sync_id DESC`, n)
	if err != nil {
		return nil, fmt.Errorf("read last syncs: %w", err)
	}
	return items, nil
}

// sync reads sync id of customer; ok is false when the read model does
// not have it (yet).
func (r dashReads) sync(ctx context.Context, customer uuid.UUID, id string) (dashSync, bool, error) {
	items, err := r.syncs(ctx, `SELECT `+dashSyncColumns+` FROM sync_runs s WHERE s.sync_id = $1 AND s.customer_id = $2`, id, customer)
	if err != nil || len(items) == 0 {
		return dashSync{}, false, err
	}
	return items[0], true, nil
}

// syncs runs q, which selects dashSyncColumns and optionally the
// customer's name after them.
func (r dashReads) syncs(ctx context.Context, q string, args ...any) ([]dashSync, error) {
	rows, err := r.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	named := len(rows.FieldDescriptions()) > 15
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (dashSync, error) {
		var s dashSync
		targets, decode := syncTargets(&s)
		if named {
			targets = append(targets, &s.CustomerName)
		}
		if err := row.Scan(targets...); err != nil {
			return s, err
		}
		return s, decode()
	})
}

// dashWorkflow is a workflow as the dashboard lists it: as the API shows
// it.
type dashWorkflow struct {
	readWorkflowView
}

// SyncedAgo says how long ago a sync last saw the workflow.
func (w dashWorkflow) SyncedAgo() string {
	if w.LastSyncedAt == nil {
		return "—"
	}
	return agoText(*w.LastSyncedAt, time.Now())
}

// workflowsPage reads a page of customer's workflows as the API's
// workflows list does (same query, same validation).
func (r dashReads) workflowsPage(ctx context.Context, customer uuid.UUID, wq readWorkflowQuery) ([]dashWorkflow, string, error) {
	q, args := wq.sql(customer)
	rows, err := r.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("read workflows of %s: %w", customer, err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dashWorkflow, error) {
		var v dashWorkflow
		err := row.Scan(&v.ID, &v.ZuoraID, &v.Name, &v.Description, &v.Status, &v.CreatedAt, &v.UpdatedAt, &v.LastSyncedAt)
		return v, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("read workflows of %s: %w", customer, err)
	}
	items, next := pageOf(items, wq.limit, func(v dashWorkflow) readCursor { return readCursor{ZuoraID: v.ZuoraID} })
	return items, next, nil
}

// pageOf cuts items (limit+1 asked for) to limit, with the cursor of the
// next page when there is one.
func pageOf[T any](items []T, limit int, cursor func(T) readCursor) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, cursor(items[limit-1]).encode()
}

// nullSync scans dashSyncColumns over a LEFT JOIN, where every column
// may be NULL.
type nullSync struct {
	id, status, trigger, reason                            *string
	customer                                               *uuid.UUID
	created, updated, deleted, unchanged, total, pages, ne *int64
	errs                                                   []byte
	started, finished                                      *time.Time
}

func (n *nullSync) targets() []any {
	return []any{&n.id, &n.customer, &n.status, &n.trigger, &n.reason, &n.created, &n.updated, &n.deleted,
		&n.unchanged, &n.total, &n.pages, &n.errs, &n.ne, &n.started, &n.finished}
}

// sync is the scanned sync, which must be there.
func (n *nullSync) sync() (*dashSync, error) {
	deref := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	s := &dashSync{ID: str(n.id), Status: str(n.status), Trigger: str(n.trigger), Reason: str(n.reason),
		Created: deref(n.created), Updated: deref(n.updated), Deleted: deref(n.deleted), Unchanged: deref(n.unchanged),
		Total: deref(n.total), Pages: deref(n.pages), ErrorCount: deref(n.ne), FinishedAt: n.finished}
	if n.customer != nil {
		s.CustomerID = *n.customer
	}
	if n.started != nil {
		s.StartedAt = *n.started
	}
	if len(n.errs) > 0 {
		if err := json.Unmarshal(n.errs, &s.Errors); err != nil {
			return nil, fmt.Errorf("sync %s: errors: %w", s.ID, err)
		}
	}
	return s, nil
}

// parseDashCursor reads ?name= as a cursor of a list sorted by time and
// id (customers when uuidID, syncs otherwise): the API's cursor encoding.
func parseDashCursor(r *http.Request, name string, uuidID bool) (*readCursor, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return nil, nil
	}
	c, ok := decodeDashCursor(s)
	if ok && uuidID {
		_, err := uuid.Parse(c.ID)
		ok = err == nil
	}
	if !ok || c.At.IsZero() || c.ID == "" || len(c.ID) > 200 {
		return nil, httpapi.FieldErr(name, name+" is not one this page gave.")
	}
	return &c, nil
}

// decodeDashCursor decodes a cursor as parseReadList does.
func decodeDashCursor(s string) (readCursor, bool) {
	var c readCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || !readText(c.Name) || !readText(c.ID) {
		return c, false
	}
	return c, true
}
