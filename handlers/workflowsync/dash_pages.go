package workflowsync

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/projections/syncmodel"
)

//go:embed templates/*.html
var dashTemplates embed.FS

// dashSyncWait bounds how long "Sync now" waits for the read model to show
// the sync it started before answering (it shows "starting" otherwise).
const dashSyncWait = time.Second

// dashPages are the customers pages of the dashboard.
type dashPages struct {
	d      *dashboard.Dashboard
	reads  dashReads
	writes *Writes
	sched  *Reads // the schedule a customer is shown with
	log    *slog.Logger
	list   *template.Template
	detail *template.Template
}

// mountDashboard registers the customers pages, their fragments, the
// "Sync now" action and the overview card on d. Reads go to pool (the
// read pool); syncs start through writes, as POST
// /api/customers/{id}/sync starts them.
func mountDashboard(d *dashboard.Dashboard, pool *pgxpool.Pool, writes *Writes, sched Schedule, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	p := &dashPages{d: d, reads: dashReads{pool: pool}, writes: writes, sched: NewReads(pool).WithSchedule(sched), log: log,
		list:   d.MustTemplates(dashTemplates, "templates/customers.html", "templates/dash_common.html"),
		detail: d.MustTemplates(dashTemplates, "templates/customer.html", "templates/dash_common.html")}
	d.Page(dashboard.Page{Pattern: "GET /customers", Nav: "Customers", Order: 30, Handler: p.customers})
	d.Handle("GET /customers/list", p.customersList)
	d.Handle("GET /customers/last-syncs", p.lastSyncs)
	d.Page(dashboard.Page{Pattern: "GET /customers/{id}", Handler: p.customer})
	d.Handle("GET /customers/{id}/summary", p.summary)
	d.Handle("GET /customers/{id}/workflows", p.workflows)
	d.Handle("GET /customers/{id}/syncs", p.syncs)
	d.Handle("GET /customers/{id}/syncs/{sync}", p.syncLive)
	d.Handle("POST /customers/{id}/sync", p.syncNow)
	d.Handle("POST /customers", p.addCustomer)
	d.Handle("POST /customers/{id}/edit", p.editCustomer)
	d.Handle("POST /customers/{id}/delete", p.deleteCustomer)
	d.Card(dashboard.Card{Title: "Last syncs", Fragment: "/customers/last-syncs", Link: "/customers", Order: 30})
	d.Alert(dashboard.Alert{Name: "workflow sync", Order: 30, Check: p.reads.alerts})
}

// fail shows err: a validation error's message with its status, a read
// model failure as 503 (logged), anything else as 500 (logged).
func (p *dashPages) fail(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *httpapi.Error
	switch {
	case errors.As(err, &apiErr) && apiErr.Status < 500:
		p.d.Error(w, r, apiErr.Status, apiErr.Message)
	case errors.Is(err, errNoCustomer):
		p.d.Error(w, r, http.StatusNotFound, "No customer has this id.")
	default:
		p.log.ErrorContext(r.Context(), "dashboard: customers", "path", r.URL.Path, "err", err)
		p.d.Error(w, r, http.StatusServiceUnavailable, "The read model could not be read. Retry in a moment.")
	}
}

// customersView is the customers list.
type customersView struct {
	Items []dashCustomer
	// Self is the list fragment's URL (it polls itself); First and Next
	// link to the first and the next page, when there are such pages.
	Self, First, Next string
}

func (p *dashPages) readCustomers(r *http.Request) (customersView, error) {
	cursor, err := parseDashCursor(r, "cursor", true)
	if err != nil {
		return customersView{}, err
	}
	items, next, err := p.reads.customersPage(r.Context(), cursor, dashCustomersPage)
	if err != nil {
		return customersView{}, err
	}
	cur := r.URL.Query().Get("cursor")
	v := customersView{Items: items, Self: pageURL("/customers/list", "cursor", cur)}
	if cur != "" {
		v.First = "/customers"
	}
	if next != "" {
		v.Next = pageURL("/customers", "cursor", next)
	}
	return v, nil
}

func (p *dashPages) customers(w http.ResponseWriter, r *http.Request) {
	v, err := p.readCustomers(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.d.Render(w, r, p.list, "Customers", v)
}

func (p *dashPages) customersList(w http.ResponseWriter, r *http.Request) {
	v, err := p.readCustomers(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.d.Fragment(w, r, p.list, "customers-list", v)
}

func (p *dashPages) lastSyncs(w http.ResponseWriter, r *http.Request) {
	items, err := p.reads.lastSyncs(r.Context(), dashLastSyncs)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.d.Fragment(w, r, p.list, "last-syncs", items)
}

// customerQuery is a validated customer page query: the workflows list's
// (the API's validation) and the history's cursor.
type customerQuery struct {
	id         uuid.UUID
	workflows  readWorkflowQuery
	syncCursor *readCursor
	// raw are the query's values as sent (valid), for the links.
	status, q, cursor, syncCursorRaw string
}

func parseCustomerQuery(r *http.Request) (customerQuery, error) {
	var cq customerQuery
	id, err := pathUUID(r)
	if err != nil {
		return cq, httpapi.FieldErr("id", "The customer id must be a UUID.")
	}
	cq.id = id
	if cq.workflows, err = parseReadWorkflowQuery(r); err != nil {
		return cq, err
	}
	if cq.workflows.readList, err = parseReadList(r); err != nil {
		return cq, err
	}
	if cq.syncCursor, err = parseDashCursor(r, "sync_cursor", false); err != nil {
		return cq, err
	}
	v := r.URL.Query()
	cq.status, cq.q, cq.cursor, cq.syncCursorRaw = v.Get("status"), v.Get("q"), v.Get("cursor"), v.Get("sync_cursor")
	return cq, nil
}

// customerView is the customer page.
type customerView struct {
	Customer  dashCustomer
	Workflows workflowsView
	Syncs     syncsView
}

// workflowsView is a page of the customer's workflows.
type workflowsView struct {
	CustomerID uuid.UUID
	Items      []dashWorkflow
	Status, Q  string
	// Self is the fragment's URL; First and Next are page links.
	Self, First, Next string
}

// syncsView is a page of the customer's sync history.
type syncsView struct {
	Items             []dashSync
	Self, First, Next string
}

func (p *dashPages) readWorkflows(r *http.Request, cq customerQuery) (workflowsView, error) {
	items, next, err := p.reads.workflowsPage(r.Context(), cq.id, cq.workflows)
	if err != nil {
		return workflowsView{}, err
	}
	base := "/customers/" + cq.id.String()
	limit := ""
	if cq.workflows.limit != readDefaultLimit {
		limit = strconv.Itoa(cq.workflows.limit)
	}
	v := workflowsView{CustomerID: cq.id, Items: items, Status: cq.status, Q: cq.q,
		Self: pageURL(base+"/workflows", "status", cq.status, "q", cq.q, "limit", limit, "cursor", cq.cursor)}
	if cq.cursor != "" {
		v.First = pageURL(base, "status", cq.status, "q", cq.q, "limit", limit, "sync_cursor", cq.syncCursorRaw)
	}
	if next != "" {
		v.Next = pageURL(base, "status", cq.status, "q", cq.q, "limit", limit, "cursor", next, "sync_cursor", cq.syncCursorRaw)
	}
	return v, nil
}

func (p *dashPages) readSyncs(r *http.Request, cq customerQuery) (syncsView, error) {
	items, next, err := p.reads.syncsPage(r.Context(), cq.id, cq.syncCursor, dashSyncsPage)
	if err != nil {
		return syncsView{}, err
	}
	base := "/customers/" + cq.id.String()
	v := syncsView{Items: items, Self: pageURL(base+"/syncs", "sync_cursor", cq.syncCursorRaw)}
	keep := []string{"status", cq.status, "q", cq.q, "cursor", cq.cursor}
	if cq.syncCursorRaw != "" {
		v.First = pageURL(base, keep...)
	}
	if next != "" {
		v.Next = pageURL(base, append(keep, "sync_cursor", next)...)
	}
	return v, nil
}

func (p *dashPages) customer(w http.ResponseWriter, r *http.Request) {
	cq, err := parseCustomerQuery(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	var v customerView
	if v.Customer, err = p.reads.customer(r.Context(), cq.id); err != nil {
		p.fail(w, r, err)
		return
	}
	p.withSchedule(&v.Customer)
	if v.Workflows, err = p.readWorkflows(r, cq); err != nil {
		p.fail(w, r, err)
		return
	}
	if v.Syncs, err = p.readSyncs(r, cq); err != nil {
		p.fail(w, r, err)
		return
	}
	p.d.Render(w, r, p.detail, v.Customer.Name, v)
}

func (p *dashPages) summary(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	c, err := p.reads.customer(r.Context(), id)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.withSchedule(&c)
	p.d.Fragment(w, r, p.detail, "summary", c)
}

func (p *dashPages) workflows(w http.ResponseWriter, r *http.Request) {
	cq, err := parseCustomerQuery(r)
	var v workflowsView
	if err == nil {
		v, err = p.readWorkflows(r, cq)
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.d.Fragment(w, r, p.detail, "workflows", v)
}

func (p *dashPages) syncs(w http.ResponseWriter, r *http.Request) {
	cq, err := parseCustomerQuery(r)
	var v syncsView
	if err == nil {
		v, err = p.readSyncs(r, cq)
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.d.Fragment(w, r, p.detail, "syncs", v)
}

// syncLiveView is one sync followed live after "Sync now".
type syncLiveView struct {
	CustomerID uuid.UUID
	SyncID     string
	// Sync is the sync once the read model has it (Found).
	Sync  dashSync
	Found bool
	// Message is an outcome that is not a sync (already running, …).
	Message string
}

// Polling reports whether the sync is still to be followed.
func (v syncLiveView) Polling() bool { return !v.Found || v.Sync.Running() }

// Poll is the URL the fragment polls to follow the sync.
func (v syncLiveView) Poll() string {
	return "/customers/" + v.CustomerID.String() + "/syncs/" + url.PathEscape(v.SyncID)
}

func (p *dashPages) syncLive(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	syncID := r.PathValue("sync")
	if len(syncID) > 200 || !readText(syncID) {
		p.fail(w, r, httpapi.FieldErr("sync", "The sync id is not valid."))
		return
	}
	v := syncLiveView{CustomerID: id, SyncID: syncID}
	if v.Sync, v.Found, err = p.reads.sync(r.Context(), id, syncID); err != nil {
		p.fail(w, r, err)
		return
	}
	p.d.Fragment(w, r, p.detail, "sync-live", v)
}

// syncNow starts a manual sync as POST /api/customers/{id}/sync does and
// answers the fragment that follows it. An outcome that is no sync (one is
// already running, no such customer) is a message in that fragment, with
// 200: htmx shows only successful answers.
func (p *dashPages) syncNow(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	allow := false // the form was read, bounded, by the dashboard (dashboard.MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.fail(w, r, httpapi.FieldErr("body", "The form could not be read."))
		return
	}
	if s := r.PostForm.Get("allow_mass_delete"); s != "" {
		if allow, err = strconv.ParseBool(s); err != nil {
			p.fail(w, r, httpapi.FieldErr("allow_mass_delete", "allow_mass_delete must be true or false."))
			return
		}
	}
	v := syncLiveView{CustomerID: id}
	resp, err := p.writes.start(r.Context(), id.String(), allow, "")
	var apiErr *httpapi.Error
	switch {
	case err == nil:
		started, _ := resp.Body.(syncStarted)
		v.SyncID = started.SyncID
		if werr := syncmodel.WaitCaughtUp(r.Context(), p.reads.pool, resp.Seq, dashSyncWait); werr == nil {
			v.Sync, v.Found, err = p.reads.sync(r.Context(), id, v.SyncID)
		}
	case errors.As(apiError(err), &apiErr):
		v.Message, err = apiErr.Message, nil
	}
	if err != nil {
		p.log.ErrorContext(r.Context(), "dashboard: sync now", "customer", id, "err", err)
		v.Message = "The sync could not be started: " + dashStartFailure(err)
	}
	p.d.Fragment(w, r, p.detail, "sync-live", v)
}

// dashStartFailure says, without internals, why a sync did not start.
func dashStartFailure(err error) string {
	if errors.Is(err, httpapi.ErrOverloaded) {
		return "the server is overloaded; try again in a moment."
	}
	return "the event log or the database is unreachable; try again in a moment."
}

// pageURL is path with the non-empty values of the name, value pairs kv
// as its query.
func pageURL(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// withSchedule fills c's schedule as the API shows it.
func (p *dashPages) withSchedule(c *dashCustomer) {
	c.Schedule = p.sched.schedule(c.Customer, time.Now())
}

// formJSON is the dashboard form's fields as the API's JSON body: the
// forms go through the API's own validation.
func formJSON(r *http.Request, limitsToo bool) []byte {
	f := r.PostForm
	zuora := map[string]any{}
	for _, k := range []string{"base_url", "client_id", "client_secret"} {
		if v := f.Get(k); v != "" || (k != "client_secret" && f.Has(k)) {
			zuora[k] = v
		}
	}
	body := map[string]any{"zuora": zuora}
	if f.Has("name") {
		body["name"] = f.Get("name")
	}
	if limitsToo {
		limits := map[string]any{}
		for _, k := range []string{"max_workflows", "max_bytes"} {
			if v := strings.TrimSpace(f.Get(k)); v != "" {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					limits[k] = n
				} else {
					limits[k] = v // refused by the API's validation, naming the field
				}
			} else if f.Has(k) {
				limits[k] = 0
			}
		}
		if len(limits) > 0 {
			body["limits"] = limits
		}
	}
	b, _ := json.Marshal(body) // strings and numbers always marshal
	return b
}

// addCustomer creates a customer from the "Add customer" form, as POST
// /api/customers does (its first sync starts), and shows its page.
func (p *dashPages) addCustomer(w http.ResponseWriter, r *http.Request) {
	c, err := decodeCustomer(formJSON(r, true))
	if err != nil {
		p.formError(w, r, err)
		return
	}
	resp, err := p.writes.create(r.Context(), c, "")
	if err = apiError(err); err != nil {
		p.formError(w, r, err)
		return
	}
	created, _ := resp.Body.(customerCreated)
	p.afterWrite(w, r, resp.Seq, "/customers/"+created.ID)
}

// editCustomer changes a customer from the "Edit" form, as PATCH
// /api/customers/{id} does (a blank secret keeps the old one).
func (p *dashPages) editCustomer(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r)
	if err != nil {
		p.formError(w, r, err)
		return
	}
	ch, err := decodePatch(formJSON(r, true))
	if err != nil {
		p.formError(w, r, err)
		return
	}
	resp, err := p.writes.update(r.Context(), id.String(), ch)
	if err = apiError(err); err != nil {
		p.formError(w, r, err)
		return
	}
	p.afterWrite(w, r, resp.Seq, "/customers/"+id.String())
}

// deleteCustomer deletes a customer, as DELETE /api/customers/{id} does,
// once the form's confirmation box is ticked.
func (p *dashPages) deleteCustomer(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r)
	if err != nil {
		p.formError(w, r, err)
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		p.formError(w, r, httpapi.FieldErr("confirm", "Tick the box to confirm the deletion."))
		return
	}
	resp, err := p.writes.remove(r.Context(), id.String())
	if err = apiError(err); err != nil {
		p.formError(w, r, err)
		return
	}
	p.afterWrite(w, r, resp.Seq, "/customers")
}

// afterWrite waits (briefly) until the read model shows the write, then
// sends the browser to next (htmx follows HX-Redirect with a navigation).
func (p *dashPages) afterWrite(w http.ResponseWriter, r *http.Request, seq uint64, next string) {
	if seq > 0 {
		_ = syncmodel.WaitCaughtUp(r.Context(), p.reads.pool, seq, dashSyncWait)
	}
	w.Header().Set("HX-Redirect", next)
	w.WriteHeader(http.StatusOK)
}

// formError answers a form's action that failed with its message, in the
// form's result area, with 200 (htmx shows only successful answers): a
// refused value's message, or a generic one for a failure of the log or
// the database (logged).
func (p *dashPages) formError(w http.ResponseWriter, r *http.Request, err error) {
	msg := ""
	var apiErr *httpapi.Error
	if errors.As(err, &apiErr) && apiErr.Status < 500 {
		msg = apiErr.Message
	} else {
		p.log.ErrorContext(r.Context(), "dashboard: customer form", "path", r.URL.Path, "err", err)
		msg = "The change could not be made: " + dashStartFailure(err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(`<p class="error" role="alert" id="form-error">` + template.HTMLEscapeString(msg) + `</p>`))
}
