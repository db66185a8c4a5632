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
func (r *Reads) schedule(c syncmodel.Customer, now time.Time) *scheduleView {
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

// apiCustomer is a customer as the API shows it: its read model row
// and, when a schedule is configured, its schedule.
type apiCustomer struct {
	syncmodel.Customer
	Schedule *scheduleView `json:"schedule,omitempty"`
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
	page := syncmodel.CustomerPage{ByName: true, Limit: rl.limit}
	if rl.cursor != nil {
		id, err := uuid.Parse(rl.cursor.ID)
		if err != nil {
			httpapi.WriteError(w, req, httpapi.FieldErr("cursor", "cursor is not one this API returned."))
			return
		}
		page.HasAfter, page.AfterName, page.AfterID = true, rl.cursor.Name, id
	}
	rows, err := syncmodel.Customers(req.Context(), r.pool, page, syncmodel.CustomerRead{})
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	now := time.Now()
	items := make([]apiCustomer, len(rows))
	for i, c := range rows {
		items[i] = apiCustomer{Customer: c, Schedule: r.schedule(c, now)}
	}
	writeReadPage(w, items, rl.limit, func(c apiCustomer) readCursor { return readCursor{Name: c.Name, ID: c.ID.String()} })
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
	// With the last sync, the latest started, running or finished.
	c, err := syncmodel.CustomerByID(req.Context(), r.pool, id, syncmodel.CustomerRead{LastSync: true})
	if errors.Is(err, syncmodel.ErrNotFound) {
		err = customerNotFound(id)
	}
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, apiCustomer{Customer: c, Schedule: r.schedule(c, time.Now())})
}

// customerExists answers 404 for an unknown customer.
func (r *Reads) customerExists(req *http.Request, id uuid.UUID) error {
	ok, err := syncmodel.CustomerExists(req.Context(), r.pool, id)
	if err != nil {
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

// filter is the read model's selection of wq.
func (wq readWorkflowQuery) filter() syncmodel.WorkflowFilter {
	f := syncmodel.WorkflowFilter{Status: wq.status, Q: wq.q, Limit: wq.limit}
	if wq.cursor != nil {
		f.AfterZuoraID = wq.cursor.ZuoraID
	}
	return f
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
	items, err := syncmodel.Workflows(req.Context(), r.pool, id, wq.filter())
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	writeReadPage(w, items, wq.limit, func(v syncmodel.Workflow) readCursor { return readCursor{ZuoraID: v.ZuoraID} })
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
	var afterAt time.Time
	var afterID string
	if rl.cursor != nil {
		if rl.cursor.At.IsZero() || rl.cursor.ID == "" {
			httpapi.WriteError(w, req, httpapi.FieldErr("cursor", "cursor is not one this API returned."))
			return
		}
		afterAt, afterID = rl.cursor.At, rl.cursor.ID
	}
	items, err := syncmodel.SyncRuns(req.Context(), r.pool, id, afterAt, afterID, rl.limit, 0)
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	writeReadPage(w, items, rl.limit, func(s syncmodel.SyncRun) readCursor { return readCursor{At: s.StartedAt, ID: s.ID} })
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
	if errors.Is(err, syncmodel.ErrNotFound) && r.log != nil && httpapi.MayWait(req.Context()) {
		// Accepted but maybe not projected yet: wait for the model to reach
		// the stream's end as of now, then look again.
		if last, lerr := r.log.LastSeq(req.Context(), workflows.Stream); lerr == nil {
			if syncmodel.WaitCaughtUp(req.Context(), r.pool, last, syncReadWait) == nil {
				s, err = r.readSync(req.Context(), id)
			}
		}
	}
	if errors.Is(err, syncmodel.ErrNotFound) {
		err = httpapi.Errorf(http.StatusNotFound, "not_found", "No sync has id "+strconv.Quote(id)+".")
	}
	if err != nil {
		httpapi.WriteError(w, req, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, s)
}

// readSync reads sync id (syncmodel.ErrNotFound when the read model has none).
func (r *Reads) readSync(ctx context.Context, id string) (syncmodel.SyncRun, error) {
	return syncmodel.SyncRunByID(ctx, r.pool, id, uuid.Nil, 0)
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

// readText reports whether PostgreSQL can take s as text: valid UTF-8
// without NUL characters.
func readText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }
