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
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/projections/syncmodel"
)

// Bounds of the dashboard's customers pages.
const (
	// dashCustomersPage is how many customers the list shows per page.
	dashCustomersPage = 50
	// dashSyncsPage is how many syncs the history shows per page.
	dashSyncsPage = 10
	// dashLastSyncs is how many syncs the overview card shows.
	dashLastSyncs = 5
	// dashErrorsShown is how many of a sync's errors the history shows.
	dashErrorsShown = 5
)

// dashSync is a sync run as the dashboard shows it: its read model row
// (with its first dashErrorsShown errors), with words for people.
type dashSync struct {
	syncmodel.SyncRun
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
func (s dashSync) MoreErrors() int64 { return max(0, s.ErrorCount-int64(len(s.Stats.Errors))) }

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
func (c dashCount) String() string { return formatCapped(c.N, syncmodel.CountCap) }

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

// dashCustomer is a customer as the dashboard shows it: its read model
// row, with its latest sync and its workflows counted up to the cap.
type dashCustomer struct {
	syncmodel.Customer
	// Schedule is the customer's sync schedule (nil when not known).
	Schedule *scheduleView
}

// Refused is why Zuora refused the credentials at the last sync ("" when
// it did not).
func (c dashCustomer) Refused() string {
	if c.CredentialsError == nil {
		return ""
	}
	return *c.CredentialsError
}

// Last is the latest sync started (running or finished), nil if none.
func (c dashCustomer) Last() *dashSync {
	if c.LastSync == nil {
		return nil
	}
	return &dashSync{*c.LastSync}
}

// Workflows is the bounded count of the customer's workflows.
func (c dashCustomer) Workflows() dashCount { return dashCount{N: c.WorkflowCount} }

// dashCustomerRead is what the dashboard reads with a customer.
var dashCustomerRead = syncmodel.CustomerRead{LastSync: true, Errors: dashErrorsShown, CountWorkflows: true}

// dashReads reads the syncmodel read model for the dashboard: bounded,
// indexed statements only, the ones the API reads with.
type dashReads struct {
	pool *pgxpool.Pool
}

// customersPage reads a page of customers, newest first, after cursor.
func (r dashReads) customersPage(ctx context.Context, cursor *readCursor, limit int) ([]dashCustomer, string, error) {
	page := syncmodel.CustomerPage{Limit: limit}
	if cursor != nil {
		id, _ := uuid.Parse(cursor.ID) // checked by parseDashCursor
		page.HasAfter, page.AfterAt, page.AfterID = true, cursor.At, id
	}
	rows, err := syncmodel.Customers(ctx, r.pool, page, dashCustomerRead)
	if err != nil {
		return nil, "", err
	}
	items := make([]dashCustomer, len(rows))
	for i, c := range rows {
		items[i] = dashCustomer{Customer: c}
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
	c, err := syncmodel.CustomerByID(ctx, r.pool, id, dashCustomerRead)
	if errors.Is(err, syncmodel.ErrNotFound) {
		return dashCustomer{}, errNoCustomer
	}
	return dashCustomer{Customer: c}, err
}

// syncsPage reads a page of customer's sync history, latest first.
func (r dashReads) syncsPage(ctx context.Context, customer uuid.UUID, cursor *readCursor, limit int) ([]dashSync, string, error) {
	var afterAt time.Time
	var afterID string
	if cursor != nil {
		afterAt, afterID = cursor.At, cursor.ID
	}
	rows, err := syncmodel.SyncRuns(ctx, r.pool, customer, afterAt, afterID, limit, dashErrorsShown)
	if err != nil {
		return nil, "", err
	}
	items, next := pageOf(dashSyncs(rows), limit, func(s dashSync) readCursor { return readCursor{At: s.StartedAt, ID: s.ID} })
	return items, next, nil
}

// lastSyncs reads the n syncs started last across customers.
func (r dashReads) lastSyncs(ctx context.Context, n int) ([]dashSync, error) {
	rows, err := syncmodel.LastSyncs(ctx, r.pool, n, dashErrorsShown)
	return dashSyncs(rows), err
}

// sync reads sync id of customer; ok is false when the read model does
// not have it (yet).
func (r dashReads) sync(ctx context.Context, customer uuid.UUID, id string) (dashSync, bool, error) {
	s, err := syncmodel.SyncRunByID(ctx, r.pool, id, customer, dashErrorsShown)
	if errors.Is(err, syncmodel.ErrNotFound) {
		return dashSync{}, false, nil
	}
	return dashSync{s}, err == nil, err
}

func dashSyncs(rows []syncmodel.SyncRun) []dashSync {
	out := make([]dashSync, len(rows))
	for i, s := range rows {
		out[i] = dashSync{s}
	}
	return out
}

// dashWorkflow is a workflow as the dashboard lists it: as the API shows
// it.
type dashWorkflow struct {
	syncmodel.Workflow
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
	rows, err := syncmodel.Workflows(ctx, r.pool, customer, wq.filter())
	if err != nil {
		return nil, "", err
	}
	items := make([]dashWorkflow, len(rows))
	for i, v := range rows {
		items[i] = dashWorkflow{v}
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
