package workflowsync

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/projections/syncmodel"
)

// Bounds of the read endpoints' lists.
const (
	readDefaultLimit = 50
	readMaxLimit     = 500
	readMaxQ         = 1024
)

// readStatuses are the workflow statuses ?status= accepts, by their lower
// case, mapped to how Zuora spells them.
var readStatuses = map[string]string{"active": "Active", "inactive": "Inactive"}

// Reads serves the customers, workflows and syncs read endpoints from the
// syncmodel read model. It never reads the client secret.
type Reads struct {
	pool  *pgxpool.Pool
	log   StreamLog
	sched Schedule
}

// Schedule is the sync schedule a customer is shown with.
type Schedule struct {
	// Interval is how often every customer is synced (EVENTLINE_SYNC_INTERVAL).
	Interval time.Duration
	// DailyAt is the local time of the daily sync ("-" for none).
	DailyAt string
	// Backoff is how long a customer whose credentials were refused waits (24h).
	Backoff time.Duration
}

// WithSchedule makes the customer reads show the schedule and each
// customer's next sync time.
func (r *Reads) WithSchedule(s Schedule) *Reads {
	if s.Backoff <= 0 {
		s.Backoff = 24 * time.Hour
	}
	r.sched = s
	return r
}

// scheduleView is a customer's schedule as the API shows it.
type scheduleView struct {
	Interval   string     `json:"interval"`
	DailyAt    string     `json:"daily_at"`
	NextSyncAt *time.Time `json:"next_sync_at"`
	// BackingOff says why the next sync waits longer than the interval.
	BackingOff string `json:"backing_off,omitempty"`
}

// schedule is customer c's schedule at now (nil without a configured one).
func (r *Reads) schedule(c readCustomerView, now time.Time) *scheduleView {
	if r.sched.Interval <= 0 {
		return nil
	}
	next := NextIntervalSync(c.ID.String(), r.sched.Interval, now)
	v := &scheduleView{Interval: r.sched.Interval.String(), DailyAt: r.sched.DailyAt}
	if c.CredentialsErrorAt != nil {
		if until := c.CredentialsErrorAt.Add(r.sched.Backoff); until.After(next) {
			next = NextIntervalSync(c.ID.String(), r.sched.Interval, until.Add(-time.Nanosecond))
		}
		v.BackingOff = "Zuora refused the credentials: scheduled syncs wait " + r.sched.Backoff.String() +
			" after the refusal, or until the credentials change"
	}
	next = next.UTC()
	v.NextSyncAt = &next
	return v
}

// StreamLog tells how far a stream of the event log goes.
type StreamLog interface {
	LastSeq(ctx context.Context, stream string) (uint64, error)
}

// NewReads returns the read endpoints over pool.
func NewReads(pool *pgxpool.Pool) *Reads { return &Reads{pool: pool} }

// WithLog makes GET /api/syncs/{id} read its writes: a sync the read
// model does not show yet is looked up again once the model has caught up
// with the WORKFLOWS stream as it was when asked (at most syncReadWait),
// so that the sync_id a 202 answered is found at once.
func (r *Reads) WithLog(log StreamLog) *Reads {
	r.log = log
	return r
}

// syncReadWait bounds GET /api/syncs/{id}'s wait for the read model.
const syncReadWait = 3 * time.Second

// Mount registers the read endpoints on srv.
func (r *Reads) Mount(srv *httpapi.Server) {
	srv.Handle("GET /api/customers", r.listCustomers)
	srv.Handle("GET /api/customers/{id}", r.getCustomer)
	srv.Handle("GET /api/customers/{id}/workflows", r.listWorkflows)
	srv.Handle("GET /api/customers/{id}/syncs", r.listSyncs)
	srv.Handle("GET /api/syncs/{id}", r.getSync)
}

// readCustomerView is a customer as the API shows it.
type readCustomerView struct {
	ID             uuid.UUID     `json:"id"`
	Name           string        `json:"name"`
	BaseURL        string        `json:"base_url"`
	ClientID       string        `json:"client_id"`
	CreatedAt      time.Time     `json:"created_at"`
	LastSyncID     *string       `json:"last_sync_id"`
	LastSyncStatus *string       `json:"last_sync_status"`
	LastSyncAt     *time.Time    `json:"last_sync_at"`
	LastSync       *readSyncView `json:"last_sync,omitempty"`
	Limits         limitsView    `json:"limits"`
	// CredentialsError is why Zuora refused the customer's credentials at
	// its last sync (null when it did not).
	CredentialsError   *string       `json:"credentials_error"`
	CredentialsErrorAt *time.Time    `json:"credentials_error_at"`
	Schedule           *scheduleView `json:"schedule,omitempty"`
}

// readWorkflowView is a workflow as the API shows it.
type readWorkflowView struct {
	ID           uuid.UUID  `json:"id"`
	ZuoraID      int64      `json:"zuora_id"`
	Name         string     `json:"name"`
	Description  string     `json:"description"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	LastSyncedAt *time.Time `json:"last_synced_at"`
}

// readSyncStats are a sync's counts as the API shows them.
type readSyncStats struct {
	Created   int      `json:"created"`
	Updated   int      `json:"updated"`
	Deleted   int      `json:"deleted"`
	Unchanged int      `json:"unchanged"`
	Total     int      `json:"total"`
	Errors    []string `json:"errors"`
}

// readSyncView is a sync run as the API shows it.
type readSyncView struct {
	ID         string        `json:"id"`
	CustomerID uuid.UUID     `json:"customer_id"`
	Status     string        `json:"status"`
	Trigger    string        `json:"trigger"`
	Slot       string        `json:"slot,omitempty"`
	Stats      readSyncStats `json:"stats"`
	Pages      int           `json:"pages"`
	StartedAt  time.Time     `json:"started_at"`
	FinishedAt *time.Time    `json:"finished_at"`
	Reason     string        `json:"reason"`
}

// readPage is a page of a list.
type readPage[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// readCursor is the position after the last item of a page: the sort key
// of that item. It travels as opaque base64 of its JSON.
type readCursor struct {
	Name    string    `json:"n,omitempty"`
	ID      string    `json:"i,omitempty"`
	ZuoraID int64     `json:"z,omitempty"`
	At      time.Time `json:"t,omitzero"`
}

func (c readCursor) encode() string {
	b, _ := json.Marshal(c) // strings, numbers and a time always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// readList is a validated list query: limit and where to start.
type readList struct {
	limit  int
	cursor *readCursor
}

// parseReadList reads ?limit= (1..500, default 50) and ?cursor=.
func parseReadList(r *http.Request) (readList, error) {
	limit, err := httpapi.QueryInt(r, "limit", readDefaultLimit, readMaxLimit)
	if err != nil {
		return readList{}, err
	}
	if limit == 0 {
		return readList{}, httpapi.FieldErr("limit", fmt.Sprintf("limit must be between 1 and %d.", readMaxLimit))
	}
	rl := readList{limit: int(limit)}
	if s := r.URL.Query().Get("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		var c readCursor
		if err != nil || json.Unmarshal(b, &c) != nil || !readText(c.Name) || !readText(c.ID) {
			return readList{}, httpapi.FieldErr("cursor", "cursor is not one this API returned.")
		}
		rl.cursor = &c
	}
	return rl, nil
}

// pathUUID reads the {id} path value as a UUID.
func pathUUID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return uuid.Nil, httpapi.FieldErr("id", "id must be a UUID.")
	}
	return id, nil
}

func customerNotFound(id uuid.UUID) error {
	return httpapi.Errorf(http.StatusNotFound, "not_found", "No customer has id "+id.String()+".")
}

// start reads what every read starts with: the list query when list is not
// nil, and ?min_seq= (read-your-writes on the read model).
func (r *Reads) start(w http.ResponseWriter, req *http.Request, list *readList) error {
	if list != nil {
		rl, err := parseReadList(req)
		if err != nil {
			return err
		}
		*list = rl
	}
	return httpapi.WaitMinSeq(w, req, r.pool, syncmodel.Name)
}

func (r *Reads) listCustomers(w http.ResponseWriter, req *http.Request) {
	var rl readList
	if err := r.start(w, req, &rl); err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	q := readCustomerSelect + ` WHERE deleted_at IS NULL`
	args := []any{rl.limit + 1}
	if rl.cursor != nil {
		id, err := uuid.Parse(rl.cursor.ID)
		if err != nil {
			httpapi.WriteError(w, req, httpapi.FieldErr("cursor", "cursor is not one this API returned."))
			return
		}
		q += ` AND (name, id) > ($2, $3)`
		args = append(args, rl.cursor.Name, id)
	}
	rows, err := r.pool.Query(req.Context(), q+` ORDER BY name, id LIMIT $1`, args...)
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	items, err := pgx.CollectRows(rows, scanReadCustomer)
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	now := time.Now()
	for i := range items {
		items[i].Schedule = r.schedule(items[i], now)
	}
	writeReadPage(w, items, rl.limit, func(c readCustomerView) readCursor { return readCursor{Name: c.Name, ID: c.ID.String()} })
}

// readCustomerSelect selects a customer's columns in scanReadCustomer's order.
const readCustomerSelect = `SELECT id, name, base_url, client_id, created_at, last_sync_id, last_sync_status, last_sync_at,
	max_workflows, max_bytes, credentials_error, credentials_error_at FROM customers`

func scanReadCustomer(row pgx.CollectableRow) (readCustomerView, error) {
	var c readCustomerView
	err := row.Scan(&c.ID, &c.Name, &c.BaseURL, &c.ClientID, &c.CreatedAt, &c.LastSyncID, &c.LastSyncStatus, &c.LastSyncAt,
		&c.Limits.MaxWorkflows, &c.Limits.MaxBytes, &c.CredentialsError, &c.CredentialsErrorAt)
	c.CreatedAt = c.CreatedAt.UTC()
	c.LastSyncAt = utcPtr(c.LastSyncAt)
	c.CredentialsErrorAt = utcPtr(c.CredentialsErrorAt)
	return c, err
}

func (r *Reads) getCustomer(w http.ResponseWriter, req *http.Request) {
	id, err := pathUUID(req)
	if err == nil {
		err = r.start(w, req, nil)
	}
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	rows, err := r.pool.Query(req.Context(), readCustomerSelect+` WHERE id = $1 AND deleted_at IS NULL`, id)
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanReadCustomer)
	if errors.Is(err, pgx.ErrNoRows) {
		err = customerNotFound(id)
	}
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	// The last sync is the latest started, running or finished.
	rows, err = r.pool.Query(req.Context(), readSyncSelect+` WHERE customer_id = $1 ORDER BY started_at DESC, sync_id DESC LIMIT 1`, id)
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	last, err := pgx.CollectRows(rows, scanReadSync)
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	if len(last) == 1 {
		c.LastSync = &last[0]
	}
	c.Schedule = r.schedule(c, time.Now())
	httpapi.WriteJSON(w, http.StatusOK, c)
}

// customerExists answers 404 for an unknown customer.
func (r *Reads) customerExists(req *http.Request, id uuid.UUID) error {
	var ok bool
	if err := r.pool.QueryRow(req.Context(), `SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1 AND deleted_at IS NULL)`, id).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return customerNotFound(id)
	}
	return nil
}

// readWorkflowQuery is a validated workflows list query.
type readWorkflowQuery struct {
	readList
	status, q string
}

func parseReadWorkflowQuery(req *http.Request) (readWorkflowQuery, error) {
	var wq readWorkflowQuery
	v := req.URL.Query()
	if s := v.Get("status"); s != "" {
		st, ok := readStatuses[strings.ToLower(s)]
		if !ok {
			return wq, httpapi.FieldErr("status", fmt.Sprintf("status %q is not one of Active, Inactive.", s))
		}
		wq.status = st
	}
	wq.q = v.Get("q")
	if len(wq.q) > readMaxQ {
		return wq, httpapi.FieldErr("q", fmt.Sprintf("q must be at most %d bytes.", readMaxQ))
	}
	if !readText(wq.q) {
		return wq, httpapi.FieldErr("q", "q must be UTF-8 text without NUL characters.")
	}
	return wq, nil
}

// sql builds the workflows list query; every value is a bind parameter.
func (wq readWorkflowQuery) sql(customer uuid.UUID) (string, []any) {
	args := []any{customer}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	q := `SELECT id, zuora_id, name, description, status, created_at, updated_at, last_synced_at FROM workflows
		WHERE customer_id = $1`
	if wq.status != "" {
		q += ` AND status = ` + arg(wq.status)
	}
	if wq.q != "" {
		p := arg("%" + readEscapeLike(wq.q) + "%")
		q += ` AND (name ILIKE ` + p + ` OR description ILIKE ` + p + `)`
	}
	if wq.cursor != nil {
		q += ` AND zuora_id > ` + arg(wq.cursor.ZuoraID)
	}
	q += ` ORDER BY zuora_id LIMIT ` + arg(wq.limit+1)
	return q, args
}

func readEscapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func (r *Reads) listWorkflows(w http.ResponseWriter, req *http.Request) {
	id, err := pathUUID(req)
	var wq readWorkflowQuery
	if err == nil {
		wq, err = parseReadWorkflowQuery(req)
	}
	if err == nil {
		err = r.start(w, req, &wq.readList)
	}
	if err == nil {
		err = r.customerExists(req, id)
	}
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	q, args := wq.sql(id)
	rows, err := r.pool.Query(req.Context(), q, args...)
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (readWorkflowView, error) {
		var v readWorkflowView
		err := row.Scan(&v.ID, &v.ZuoraID, &v.Name, &v.Description, &v.Status, &v.CreatedAt, &v.UpdatedAt, &v.LastSyncedAt)
		v.CreatedAt, v.UpdatedAt, v.LastSyncedAt = v.CreatedAt.UTC(), v.UpdatedAt.UTC(), utcPtr(v.LastSyncedAt)
		return v, err
	})
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	writeReadPage(w, items, wq.limit, func(v readWorkflowView) readCursor { return readCursor{ZuoraID: v.ZuoraID} })
}

// readSyncSelect selects a sync run's columns in scanReadSync's order.
const readSyncSelect = `SELECT sync_id, customer_id, status, trigger, slot, created, updated, deleted, unchanged, total,
	errors, pages, started_at, finished_at, reason FROM sync_runs`

func scanReadSync(row pgx.CollectableRow) (readSyncView, error) {
	var s readSyncView
	var errs []byte
	err := row.Scan(&s.ID, &s.CustomerID, &s.Status, &s.Trigger, &s.Slot, &s.Stats.Created, &s.Stats.Updated,
		&s.Stats.Deleted, &s.Stats.Unchanged, &s.Stats.Total, &errs, &s.Pages, &s.StartedAt, &s.FinishedAt, &s.Reason)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(errs, &s.Stats.Errors); err != nil {
		return s, fmt.Errorf("sync %s: errors: %w", s.ID, err)
	}
	if s.Stats.Errors == nil {
		s.Stats.Errors = []string{}
	}
	s.StartedAt, s.FinishedAt = s.StartedAt.UTC(), utcPtr(s.FinishedAt)
	return s, nil
}

func (r *Reads) listSyncs(w http.ResponseWriter, req *http.Request) {
	id, err := pathUUID(req)
	var rl readList
	if err == nil {
		err = r.start(w, req, &rl)
	}
	if err == nil {
		err = r.customerExists(req, id)
	}
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	q := readSyncSelect + ` WHERE customer_id = $1`
	args := []any{id, rl.limit + 1}
	if rl.cursor != nil {
		if rl.cursor.At.IsZero() || rl.cursor.ID == "" {
			httpapi.WriteError(w, req, httpapi.FieldErr("cursor", "cursor is not one this API returned."))
			return
		}
		q += ` AND (started_at, sync_id) < ($3, $4)`
		args = append(args, rl.cursor.At, rl.cursor.ID)
	}
	rows, err := r.pool.Query(req.Context(), q+` ORDER BY started_at DESC, sync_id DESC LIMIT $2`, args...)
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	items, err := pgx.CollectRows(rows, scanReadSync)
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	writeReadPage(w, items, rl.limit, func(s readSyncView) readCursor { return readCursor{At: s.StartedAt, ID: s.ID} })
}

func (r *Reads) getSync(w http.ResponseWriter, req *http.Request) {
	id := req.PathValue("id")
	if id == "" || len(id) > 200 || !readText(id) {
		httpapi.WriteError(w, req, httpapi.FieldErr("id", "id must be a sync id."))
		return
	}
	if err := r.start(w, req, nil); err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	s, err := r.readSync(req.Context(), id)
	if errors.Is(err, pgx.ErrNoRows) && r.log != nil && httpapi.MayWait(req.Context()) {
		// Accepted but maybe not projected yet: wait for the model to reach
		// the stream's end as of now, then look again.
		if last, lerr := r.log.LastSeq(req.Context(), workflows.Stream); lerr == nil {
			if syncmodel.WaitCaughtUp(req.Context(), r.pool, last, syncReadWait) == nil {
				s, err = r.readSync(req.Context(), id)
			}
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		err = httpapi.Errorf(http.StatusNotFound, "not_found", "No sync has id "+strconv.Quote(id)+".")
	}
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s)
}

// readSync reads sync id (pgx.ErrNoRows when the read model has none).
func (r *Reads) readSync(ctx context.Context, id string) (readSyncView, error) {
	rows, err := r.pool.Query(ctx, readSyncSelect+` WHERE sync_id = $1`, id)
	if err != nil {
		return readSyncView{}, err
	}
	return pgx.CollectExactlyOneRow(rows, scanReadSync)
}

// writeReadPage answers a page of at most limit items (the query asked for
// one more, which tells whether a next page exists).
func writeReadPage[T any](w http.ResponseWriter, items []T, limit int, cursor func(T) readCursor) {
	page := readPage[T]{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = cursor(page.Items[limit-1]).encode()
	}
	if page.Items == nil {
		page.Items = []T{}
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// readText reports whether PostgreSQL can take s as text: valid UTF-8
// without NUL characters.
func readText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }
