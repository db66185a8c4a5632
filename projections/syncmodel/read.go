package syncmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/workflows"
)

// The rows of the read model as its readers (the customers API and the
// dashboard) get them. The JSON names are the API's.

// Customer is a customer row.
type Customer struct {
	ID             uuid.UUID  `json:"id"`
	Name           string     `json:"name"`
	BaseURL        string     `json:"base_url"`
	ClientID       string     `json:"client_id"`
	CreatedAt      time.Time  `json:"created_at"`
	LastSyncID     *string    `json:"last_sync_id"`
	LastSyncStatus *string    `json:"last_sync_status"`
	LastSyncAt     *time.Time `json:"last_sync_at"`
	// LastSync is the latest sync started, running or finished (read when
	// CustomerRead.LastSync asks; nil when there is none).
	LastSync *SyncRun `json:"last_sync,omitempty"`
	Limits   Limits   `json:"limits"`
	// CredentialsError is why Zuora refused the customer's credentials at
	// its last sync (nil when it did not), since CredentialsErrorAt.
	CredentialsError   *string    `json:"credentials_error"`
	CredentialsErrorAt *time.Time `json:"credentials_error_at"`
	// WorkflowCount counts the customer's workflows up to CountCap+1 (read
	// when CustomerRead.CountWorkflows asks).
	WorkflowCount int64 `json:"-"`
}

// Limits are a customer's own bounds of a sync (nil: the default).
type Limits struct {
	MaxWorkflows *int64 `json:"max_workflows"`
	MaxBytes     *int64 `json:"max_bytes"`
}

// Workflow is a workflow row: the workflow as the sync stored it, with
// its row id and when a sync last saw it.
type Workflow struct {
	ID uuid.UUID `json:"id"`
	workflows.Workflow
	LastSyncedAt *time.Time `json:"last_synced_at"`
}

// SyncRun is a sync_runs row: one sync, running or finished.
type SyncRun struct {
	ID         string     `json:"id"`
	CustomerID uuid.UUID  `json:"customer_id"`
	Status     string     `json:"status"`
	Trigger    string     `json:"trigger"`
	Slot       string     `json:"slot,omitempty"`
	Stats      SyncStats  `json:"stats"`
	Pages      int64      `json:"pages"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Reason     string     `json:"reason"`
	// ErrorCount counts all the sync's errors; Stats.Errors holds the
	// first the read asked for.
	ErrorCount int64 `json:"-"`
	// CustomerName is the customer's name (LastSyncs only).
	CustomerName string `json:"-"`
}

// SyncStats are a sync's counts and errors.
type SyncStats struct {
	Created   int64    `json:"created"`
	Updated   int64    `json:"updated"`
	Deleted   int64    `json:"deleted"`
	Unchanged int64    `json:"unchanged"`
	Total     int64    `json:"total"`
	Errors    []string `json:"errors"`
}

// CountCap bounds the workflows counted per customer: beyond it a count
// says CountCap+1 instead of walking a huge index per read.
const CountCap = 10_000

// ErrNotFound is a customer or sync the read model does not have (yet).
var ErrNotFound = errors.New("syncmodel: not in the read model")

// CustomerRead says what a customer read includes besides its row.
type CustomerRead struct {
	// LastSync reads the latest sync started, with its first Errors
	// errors (all when Errors is 0).
	LastSync bool
	Errors   int
	// CountWorkflows counts the customer's workflows up to CountCap+1.
	CountWorkflows bool
}

// CustomerPage is a page of the customers not deleted: by name (and id)
// after AfterName, or newest first (by creation time and id) before
// AfterAt; HasAfter says whether a cursor is given.
type CustomerPage struct {
	ByName    bool
	HasAfter  bool
	AfterName string
	AfterAt   time.Time
	AfterID   uuid.UUID
	Limit     int
}

// customerSQL selects customers (aliased c) with what r asks for, in
// scanCustomer's order.
func customerSQL(r CustomerRead) string {
	q := `SELECT c.id, c.name, c.base_url, c.client_id, c.created_at, c.last_sync_id, c.last_sync_status, c.last_sync_at,
	c.max_workflows, c.max_bytes, c.credentials_error, c.credentials_error_at`
	if r.CountWorkflows {
		q += `, (SELECT count(*) FROM (SELECT 1 FROM ` + WorkflowsTable + ` w WHERE w.customer_id = c.id LIMIT ` +
			strconv.Itoa(CountCap+1) + `) n)`
	}
	if r.LastSync {
		q += `, s.sync_id IS NOT NULL, ` + syncColumns(r.Errors) + ` FROM ` + CustomersTable + ` c
		LEFT JOIN LATERAL (SELECT * FROM ` + SyncRunsTable + ` s WHERE s.customer_id = c.id
			ORDER BY s.started_at DESC, s.sync_id DESC LIMIT 1) s ON true`
	} else {
		q += ` FROM ` + CustomersTable + ` c`
	}
	return q + ` WHERE c.deleted_at IS NULL`
}

// scanCustomer scans a row of customerSQL(r).
func scanCustomer(r CustomerRead) pgx.RowToFunc[Customer] {
	return func(row pgx.CollectableRow) (Customer, error) {
		var c Customer
		targets := []any{&c.ID, &c.Name, &c.BaseURL, &c.ClientID, &c.CreatedAt, &c.LastSyncID, &c.LastSyncStatus, &c.LastSyncAt,
			&c.Limits.MaxWorkflows, &c.Limits.MaxBytes, &c.CredentialsError, &c.CredentialsErrorAt}
		if r.CountWorkflows {
			targets = append(targets, &c.WorkflowCount)
		}
		var has bool
		var ns nullSync
		if r.LastSync {
			targets = append(append(targets, &has), ns.targets()...)
		}
		if err := row.Scan(targets...); err != nil {
			return c, err
		}
		c.CreatedAt = c.CreatedAt.UTC()
		c.LastSyncAt, c.CredentialsErrorAt = utcPtr(c.LastSyncAt), utcPtr(c.CredentialsErrorAt)
		if has {
			s, err := ns.sync()
			if err != nil {
				return c, err
			}
			c.LastSync = s
		}
		return c, nil
	}
}

// Customers reads a page of customers (Limit+1 rows: the last one says a
// next page exists) with what r asks for.
func Customers(ctx context.Context, db Querier, p CustomerPage, r CustomerRead) ([]Customer, error) {
	q, args := customerSQL(r), []any{p.Limit + 1}
	order := ` ORDER BY c.created_at DESC, c.id DESC`
	switch {
	case p.ByName && p.HasAfter:
		q += ` AND (c.name, c.id) > ($2, $3)`
		args = append(args, p.AfterName, p.AfterID)
	case p.HasAfter:
		q += ` AND (c.created_at, c.id) < ($2, $3)`
		args = append(args, p.AfterAt, p.AfterID)
	}
	if p.ByName {
		order = ` ORDER BY c.name, c.id`
	}
	rows, err := db.Query(ctx, q+order+` LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	items, err := pgx.CollectRows(rows, scanCustomer(r))
	if err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	return items, nil
}

// CustomerByID reads customer id with what r asks for; ErrNotFound when
// the read model has no such customer (or it was deleted).
func CustomerByID(ctx context.Context, db Querier, id uuid.UUID, r CustomerRead) (Customer, error) {
	rows, err := db.Query(ctx, customerSQL(r)+` AND c.id = $1`, id)
	if err != nil {
		return Customer{}, fmt.Errorf("read customer %s: %w", id, err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCustomer(r))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("read customer %s: %w", id, err)
	}
	return c, nil
}

// CustomerExists reports whether the read model has customer id, not deleted.
func CustomerExists(ctx context.Context, db Querier, id uuid.UUID) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+CustomersTable+` WHERE id = $1 AND deleted_at IS NULL)`, id).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("read customer %s: %w", id, err)
	}
	return ok, nil
}

// WorkflowFilter selects a page of a customer's workflows by Zuora id:
// of one Status ("" for any), whose name or description holds Q ("" for
// any), after AfterZuoraID, at most Limit (+1 row: a next page exists).
type WorkflowFilter struct {
	Status       string
	Q            string
	AfterZuoraID int64
	Limit        int
}

// SQL is the query of f over customer's workflows; every value is a
// bind parameter.
func (f WorkflowFilter) SQL(customer uuid.UUID) (string, []any) {
	args := []any{customer}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	q := `SELECT id, zuora_id, name, description, status, created_at, updated_at, last_synced_at FROM ` + WorkflowsTable + `
		WHERE customer_id = $1`
	if f.Status != "" {
		q += ` AND status = ` + arg(f.Status)
	}
	if f.Q != "" {
		p := arg("%" + escapeLike(f.Q) + "%")
		q += ` AND (name ILIKE ` + p + ` OR description ILIKE ` + p + `)`
	}
	if f.AfterZuoraID != 0 {
		q += ` AND zuora_id > ` + arg(f.AfterZuoraID)
	}
	q += ` ORDER BY zuora_id LIMIT ` + arg(f.Limit+1)
	return q, args
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Workflows reads the page of customer's workflows f selects.
func Workflows(ctx context.Context, db Querier, customer uuid.UUID, f WorkflowFilter) ([]Workflow, error) {
	q, args := f.SQL(customer)
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read workflows of %s: %w", customer, err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Workflow, error) {
		var v Workflow
		err := row.Scan(&v.ID, &v.ZuoraID, &v.Name, &v.Description, &v.Status, &v.CreatedAt, &v.UpdatedAt, &v.LastSyncedAt)
		v.CreatedAt, v.UpdatedAt, v.LastSyncedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC(), utcPtr(v.LastSyncedAt)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("read workflows of %s: %w", customer, err)
	}
	return items, nil
}

// syncColumns selects a sync run (aliased s) in syncTargets' order, with
// its first errors errors (all when 0).
func syncColumns(errors int) string {
	// errors holds a JSON array; anything else (a JSON null) reads as none.
	all := `(CASE jsonb_typeof(s.errors) WHEN 'array' THEN s.errors ELSE '[]'::jsonb END)`
	errs := all
	if errors > 0 {
		errs = `jsonb_path_query_array(` + all + `, '$[0 to ` + strconv.Itoa(errors-1) + `]')`
	}
	return `s.sync_id, s.customer_id, s.status, s.trigger, s.slot, s.reason, s.created, s.updated, s.deleted,
	s.unchanged, s.total, s.pages, ` + errs + `, jsonb_array_length(` + all + `), s.started_at, s.finished_at`
}

// syncTargets are the scan targets of syncColumns into s, and the
// decoding of its errors to run after the scan.
func syncTargets(s *SyncRun) ([]any, func() error) {
	var errs []byte
	targets := []any{&s.ID, &s.CustomerID, &s.Status, &s.Trigger, &s.Slot, &s.Reason, &s.Stats.Created, &s.Stats.Updated,
		&s.Stats.Deleted, &s.Stats.Unchanged, &s.Stats.Total, &s.Pages, &errs, &s.ErrorCount, &s.StartedAt, &s.FinishedAt}
	return targets, func() error {
		if err := decodeErrors(s, errs); err != nil {
			return err
		}
		s.StartedAt, s.FinishedAt = s.StartedAt.UTC(), utcPtr(s.FinishedAt)
		return nil
	}
}

// decodeErrors sets s's errors from their JSON array ([] when empty).
func decodeErrors(s *SyncRun, errs []byte) error {
	if len(errs) > 0 {
		if err := json.Unmarshal(errs, &s.Stats.Errors); err != nil {
			return fmt.Errorf("sync %s: errors: %w", s.ID, err)
		}
	}
	if s.Stats.Errors == nil {
		s.Stats.Errors = []string{}
	}
	return nil
}

// SyncRuns reads a page of customer's syncs, latest first (Limit+1 rows:
// the last one says a next page exists), each with its first errors
// errors (all when 0); after, when not zero, is the start time and sync
// id of the last sync of the page before.
func SyncRuns(ctx context.Context, db Querier, customer uuid.UUID, afterAt time.Time, afterID string, limit, errors int) ([]SyncRun, error) {
	q := `SELECT ` + syncColumns(errors) + ` FROM ` + SyncRunsTable + ` s WHERE s.customer_id = $1`
	args := []any{customer, limit + 1}
	if !afterAt.IsZero() {
		q += ` AND (s.started_at, s.sync_id) < ($3, $4)`
		args = append(args, afterAt, afterID)
	}
	items, err := syncs(ctx, db, q+` ORDER BY s.started_at DESC, s.sync_id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("read syncs of %s: %w", customer, err)
	}
	return items, nil
}

// SyncRunByID reads sync id (of customer, unless uuid.Nil) with its first
// errors errors (all when 0); ErrNotFound when the read model does not
// have it (yet).
func SyncRunByID(ctx context.Context, db Querier, id string, customer uuid.UUID, errors int) (SyncRun, error) {
	q, args := `SELECT `+syncColumns(errors)+` FROM `+SyncRunsTable+` s WHERE s.sync_id = $1`, []any{id}
	if customer != uuid.Nil {
		q += ` AND s.customer_id = $2`
		args = append(args, customer)
	}
	items, err := syncs(ctx, db, q, args...)
	if err != nil {
		return SyncRun{}, fmt.Errorf("read sync %s: %w", id, err)
	}
	if len(items) == 0 {
		return SyncRun{}, ErrNotFound
	}
	return items[0], nil
}

// LastSyncs reads the n syncs started last across customers, with their
// customers' names and their first errors errors (all when 0).
func LastSyncs(ctx context.Context, db Querier, n, errors int) ([]SyncRun, error) {
	items, err := syncs(ctx, db, `SELECT `+syncColumns(errors)+`, coalesce(c.name, '') FROM
		(SELECT * FROM `+SyncRunsTable+` ORDER BY started_at DESC, sync_id DESC LIMIT $1) s
		LEFT JOIN `+CustomersTable+` c ON c.id = s.customer_id ORDER BY s.started_at DESC, s.sync_id DESC`, n)
	if err != nil {
		return nil, fmt.Errorf("read last syncs: %w", err)
	}
	return items, nil
}

// syncs runs q, which selects syncColumns and optionally the customer's
// name after them.
func syncs(ctx context.Context, db Querier, q string, args ...any) ([]SyncRun, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	named := len(rows.FieldDescriptions()) > 16
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (SyncRun, error) {
		var s SyncRun
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

// nullSync scans syncColumns over a LEFT JOIN, where every column may be
// NULL.
type nullSync struct {
	id, status, trigger, slot, reason                      *string
	customer                                               *uuid.UUID
	created, updated, deleted, unchanged, total, pages, ne *int64
	errs                                                   []byte
	started, finished                                      *time.Time
}

func (n *nullSync) targets() []any {
	return []any{&n.id, &n.customer, &n.status, &n.trigger, &n.slot, &n.reason, &n.created, &n.updated, &n.deleted,
		&n.unchanged, &n.total, &n.pages, &n.errs, &n.ne, &n.started, &n.finished}
}

// sync is the scanned sync, which must be there.
func (n *nullSync) sync() (*SyncRun, error) {
	num := func(p *int64) int64 {
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
	s := &SyncRun{ID: str(n.id), Status: str(n.status), Trigger: str(n.trigger), Slot: str(n.slot), Reason: str(n.reason),
		Stats: SyncStats{Created: num(n.created), Updated: num(n.updated), Deleted: num(n.deleted), Unchanged: num(n.unchanged),
			Total: num(n.total)}, Pages: num(n.pages), ErrorCount: num(n.ne), FinishedAt: utcPtr(n.finished)}
	if n.customer != nil {
		s.CustomerID = *n.customer
	}
	if n.started != nil {
		s.StartedAt = n.started.UTC()
	}
	return s, decodeErrors(s, n.errs)
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// SyncRunsByIDs reads the syncs among ids the read model has, with all
// their errors (in no particular order).
func SyncRunsByIDs(ctx context.Context, db Querier, ids []string) ([]SyncRun, error) {
	items, err := syncs(ctx, db, `SELECT `+syncColumns(0)+` FROM `+SyncRunsTable+` s WHERE s.sync_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read syncs: %w", err)
	}
	return items, nil
}

// RunningSync names a sync the read model shows running.
type RunningSync struct {
	SyncID     string
	CustomerID string
}

// RunningSyncs reads the syncs the read model shows running.
func RunningSyncs(ctx context.Context, db Querier) ([]RunningSync, error) {
	rows, err := db.Query(ctx, `SELECT sync_id, customer_id::text FROM `+SyncRunsTable+` WHERE status = 'running'`)
	if err != nil {
		return nil, fmt.Errorf("running syncs: %w", err)
	}
	items, err := pgx.CollectRows(rows, pgx.RowToStructByPos[RunningSync])
	if err != nil {
		return nil, fmt.Errorf("running syncs: %w", err)
	}
	return items, nil
}

// CountLastFailed counts the customers (not deleted) whose last sync
// failed, up to limit+1.
func CountLastFailed(ctx context.Context, db Querier, limit int) (int64, error) {
	var n int64
	err := db.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+CustomersTable+` c
		JOIN LATERAL (SELECT status FROM `+SyncRunsTable+` s WHERE s.customer_id = c.id
			ORDER BY s.started_at DESC, s.sync_id DESC LIMIT 1) s ON true
		WHERE c.deleted_at IS NULL AND s.status = 'failed' LIMIT $1) x`, limit+1).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count customers whose last sync failed: %w", err)
	}
	return n, nil
}

// FailureStreak is what a scheduler knows of a customer: how many of its
// last finished syncs (at most 16) failed in a row, when the last of
// those finished, and when Zuora refused its credentials (zero: never or
// since changed).
type FailureStreak struct {
	CustomerID string
	Failures   int
	LastFailed time.Time
	RefusedAt  time.Time
}

// FailureStreaks reads the failure streak of every customer not deleted,
// by id.
func FailureStreaks(ctx context.Context, db Querier) ([]FailureStreak, error) {
	rows, err := db.Query(ctx, `
		SELECT c.id::text, coalesce(f.failures, 0), f.last_failed, c.credentials_error_at
		FROM `+CustomersTable+` c
		LEFT JOIN LATERAL (
			SELECT count(*)::int AS failures, max(finished_at) AS last_failed FROM (
				SELECT finished_at, bool_and(status = 'failed') OVER (ORDER BY started_at DESC, sync_id DESC) AS streak
				FROM `+SyncRunsTable+` r WHERE r.customer_id = c.id AND r.status <> 'running'
				ORDER BY started_at DESC, sync_id DESC LIMIT 16) recent
			WHERE streak) f ON true
		WHERE c.deleted_at IS NULL
		ORDER BY c.id`)
	if err != nil {
		return nil, fmt.Errorf("customers' failures: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (FailureStreak, error) {
		var f FailureStreak
		var last, refused *time.Time
		err := row.Scan(&f.CustomerID, &f.Failures, &last, &refused)
		if last != nil {
			f.LastFailed = *last
		}
		if refused != nil {
			f.RefusedAt = *refused
		}
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("customers' failures: %w", err)
	}
	return items, nil
}
