package orders

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
)

//go:embed templates/*.html
var dashFS embed.FS

// dashPages are the orders module's pages of the dashboard: /sagas (the
// sagas by status, a form to place an order) and /sagas/{id} (a saga's
// timeline, retry and abort), and the overview's sagas card.
type dashPages struct {
	a      *API
	d      *dashboard.Dashboard
	list   *template.Template
	detail *template.Template
}

// MountDashboard registers the orders module's pages, fragments and
// actions on d, and its card on the overview. The pages read the read
// models, so the API needs ReadSide.Pool (and ReadSide.Events for the
// timelines); without the pool nothing is registered.
func (a *API) MountDashboard(d *dashboard.Dashboard) {
	if a.reads.Pool == nil {
		return
	}
	p := &dashPages{a: a, d: d,
		list:   d.MustTemplates(dashFS, "templates/sagas.html"),
		detail: d.MustTemplates(dashFS, "templates/saga.html")}
	d.Page(dashboard.Page{Pattern: "GET /sagas", Nav: "Sagas", Order: 20, Handler: p.sagasPage})
	d.Handle("GET /sagas/list", p.sagasFragment)
	d.Handle("GET /sagas/card", p.card)
	d.Handle("POST /sagas/order", p.placeOrder)
	d.Handle("POST /sagas/demo", p.createDemo)
	d.Page(dashboard.Page{Pattern: "GET /sagas/{id}", Handler: p.sagaPage(false)})
	d.Handle("GET /sagas/{id}/live", p.sagaPage(true))
	d.Handle("POST /sagas/{id}/retry", p.operate("retry"))
	d.Handle("POST /sagas/{id}/abort", p.operate("abort"))
	d.Handle("POST /sagas/{id}/resolve", p.operate("resolve"))
	d.Card(dashboard.Card{Title: "Sagas", Fragment: "/sagas/card", Link: "/sagas", Order: 20})
	d.Alert(dashboard.Alert{Name: "sagas", Order: 20, Check: a.sagaAlerts})
}

// sagaAlerts are the overview banner's lines of sagas: those that need
// attention and those that failed (each counted up to countCap).
func (a *API) sagaAlerts(ctx context.Context) ([]dashboard.Shout, error) {
	rows, err := a.statusCounts(ctx, []string{string(saga.StatusNeedsAttention), string(saga.StatusFailed)})
	if err != nil {
		return nil, err
	}
	var out []dashboard.Shout
	for _, x := range rows {
		s := dashboard.Shout{Level: dashboard.ShoutBad, Count: min(x.n, countCap), Approx: x.n > countCap,
			Link: "/sagas?status=" + x.status}
		s.Text = dashboard.Plural(x.n, "saga needs attention", "sagas need attention")
		if x.status == string(saga.StatusFailed) {
			s.Text = dashboard.Plural(x.n, "saga failed (compensation gave up)", "sagas failed (compensation gave up)")
		}
		out = append(out, s)
	}
	return out, nil
}

// statusOrder is the order the statuses are shown in.
var statusOrder = []saga.Status{saga.StatusRunning, saga.StatusCompensating, saga.StatusCompleted,
	saga.StatusCompensated, saga.StatusNeedsAttention, saga.StatusFailed}

// statusCount is a status with its number of sagas, and the link that
// filters the list by it.
type statusCount struct {
	Status string
	N      int64
	Active bool
	Link   string
	// Approx is true when N is an estimate (more than countCap sagas).
	Approx bool
}

// listData is what /sagas and its fragment show.
type listData struct {
	Status string
	Counts []statusCount
	Total  int64
	// Approx is true when Total is an estimate.
	Approx bool
	Items  []sagaItem
	// First is true on the first page (the one kept live); Older links to
	// the next page ("" on the last), Self is the fragment's URL.
	First bool
	Older string
	Self  string
	Form  orderForm
	// Search is the search form's fields; AllLink lists every status
	// with the rest of the search.
	Search  searchForm
	AllLink string
	// Pending is true on the page itself: the counts and the list come as
	// a fragment right after, so that the page's first byte never waits
	// on them.
	Pending bool
}

// fail answers err as a page (or a fragment's message): an API error with
// its status and message, any other error logged and shown as a 503
// without its details.
func (p *dashPages) fail(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := errors.AsType[*httpapi.Error](err); ok {
		p.d.Error(w, r, e.Status, e.Message)
		return
	}
	httpapi.WriteErrorLog(r, "dashboard sagas", err)
	p.d.Error(w, r, http.StatusServiceUnavailable, "The sagas could not be read; try again.")
}

// sagasQuery is what the search (?status=, ?user_id=, ?id=, ?since=,
// ?until=) and ?cursor= ask of the list.
type sagasQuery struct {
	filter sagaFilter
	lq     listQuery
	self   string
	// form is the search as asked, to show it again in the form.
	form url.Values
}

// parseSagasQuery validates the search and ?cursor= (no ?limit=: the
// dashboard shows 50 sagas a page).
func parseSagasQuery(r *http.Request) (sagasQuery, error) {
	q := r.URL.Query()
	f, err := parseSagaFilter(r, time.Now())
	if err != nil {
		return sagasQuery{}, err
	}
	if q.Has("limit") {
		return sagasQuery{}, httpapi.FieldErr("limit", "The dashboard shows 50 sagas a page; limit is not accepted.")
	}
	lq, err := parseList(r, true)
	if err != nil {
		return sagasQuery{}, err
	}
	return sagasQuery{filter: f, lq: lq, self: "/sagas/list?" + q.Encode(), form: searchValues(q)}, nil
}

// searchValues are the search fields of q that are set (no cursor).
func searchValues(q url.Values) url.Values {
	v := url.Values{}
	for _, k := range []string{"id", "user_id", "status", "since", "until"} {
		if s := strings.TrimSpace(q.Get(k)); s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// searchForm is the search as the form shows it.
type searchForm struct {
	ID, UserID, Status, Since, Until string
	Statuses                         []string
	// Active is true when any field filters.
	Active bool
}

func formOf(v url.Values) searchForm {
	f := searchForm{ID: v.Get("id"), UserID: v.Get("user_id"), Status: v.Get("status"), Since: v.Get("since"),
		Until: v.Get("until"), Active: len(v) > 0}
	for _, st := range statusOrder {
		f.Statuses = append(f.Statuses, string(st))
	}
	return f
}

// readList reads the counts and the page of sagas lq asks for.
func (p *dashPages) readList(ctx context.Context, lq sagasQuery) (listData, error) {
	counts, total, approx, err := p.a.countSagas(ctx, lq.filter.Status)
	if err != nil {
		return listData{}, err
	}
	items, err := p.a.querySagas(ctx, lq.filter, lq.lq)
	if err != nil {
		return listData{}, err
	}
	ld := listData{Status: lq.filter.Status, Counts: counts, Total: total, Approx: approx, First: lq.lq.cursor == nil,
		Self: lq.self, Search: formOf(lq.form)}
	for i := range ld.Counts {
		v := searchValues(lq.form)
		v.Set("status", ld.Counts[i].Status)
		ld.Counts[i].Link = "/sagas?" + v.Encode()
	}
	all := searchValues(lq.form)
	all.Del("status")
	ld.AllLink = strings.TrimSuffix("/sagas?"+all.Encode(), "?")
	if len(items) > lq.lq.limit {
		items = items[:lq.lq.limit]
		v := searchValues(lq.form)
		last := items[len(items)-1]
		v.Set("cursor", listCursor{At: last.CreatedAt, ID: last.ID}.encode())
		ld.Older = "/sagas?" + v.Encode()
	}
	ld.Items = items
	return ld, nil
}

// sagasPage renders /sagas.
func (p *dashPages) sagasPage(w http.ResponseWriter, r *http.Request) {
	lq, err := parseSagasQuery(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	ld := listData{Status: lq.filter.Status, First: lq.lq.cursor == nil, Self: lq.self, Pending: true, Search: formOf(lq.form)}
	if ld.Form, err = p.a.orderForm(r.Context(), nil, nil); err != nil {
		p.fail(w, r, err)
		return
	}
	p.d.Render(w, r, p.list, "Sagas", ld)
}

// sagasFragment renders the counts and the list, which the first page
// refreshes.
func (p *dashPages) sagasFragment(w http.ResponseWriter, r *http.Request) {
	lq, err := parseSagasQuery(r)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	ld, err := p.readList(r.Context(), lq)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.d.Fragment(w, r, p.list, "list", ld)
}

// card renders the overview's card: the sagas by status.
func (p *dashPages) card(w http.ResponseWriter, r *http.Request) {
	counts, total, approx, err := p.a.countSagas(r.Context(), "")
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.d.Fragment(w, r, p.list, "card", listData{Counts: counts, Total: total, Approx: approx})
}

// countCap bounds the sagas counted per status: beyond it, the number is
// the planner's estimate (pg_stats), so that the counts stay fast however
// many sagas there are.
const countCap = 10_000

// countSagas reads the number of sagas of each status, in statusOrder,
// and their total; active marks the status filtered on. A status counts at
// most countCap rows of sagas_status_idx (index-only); one with more shows
// the planner's estimate of its rows (its frequency in pg_stats times the
// table's rows), marked approximate.
func (a *API) countSagas(ctx context.Context, active string) ([]statusCount, int64, bool, error) {
	names := make([]string, len(statusOrder))
	for i, st := range statusOrder {
		names[i] = string(st)
	}
	rows, err := a.statusCounts(ctx, names)
	if err != nil {
		return nil, 0, false, err
	}
	by := make(map[string]int64, len(rows))
	capped := false
	for _, x := range rows {
		by[x.status] = x.n
		capped = capped || x.n > countCap
	}
	est := map[string]int64{}
	if capped {
		ests, err := readRows(ctx, a, `SELECT v.status, (v.freq * greatest(c.reltuples, 0))::bigint
			FROM pg_class c
			JOIN pg_stats s ON s.schemaname = c.relnamespace::regnamespace::text AND s.tablename = c.relname AND s.attname = 'status'
			CROSS JOIN LATERAL unnest(s.most_common_vals::text::text[], s.most_common_freqs) AS v(status, freq)
			WHERE c.oid = 'sagas'::regclass`, nil, scanStatusRow)
		if err != nil {
			return nil, 0, false, err
		}
		for _, x := range ests {
			est[x.status] = x.n
		}
	}
	out := make([]statusCount, len(statusOrder))
	var total int64
	approx := false
	for i, s := range names {
		c := statusCount{Status: s, N: by[s], Active: s == active, Link: "/sagas?status=" + url.QueryEscape(s)}
		if c.N > countCap {
			c.N, c.Approx = max(est[s], countCap), true
			approx = true
		}
		out[i] = c
		total += c.N
	}
	return out, total, approx, nil
}

// statusRow is a saga status with a number of sagas.
type statusRow struct {
	status string
	n      int64
}

func scanStatusRow(r pgx.CollectableRow) (statusRow, error) {
	var x statusRow
	return x, r.Scan(&x.status, &x.n)
}

// statusCounts counts the sagas of each of statuses, up to countCap+1
// rows of sagas_status_idx each (index-only): the list's counts and the
// banner's.
func (a *API) statusCounts(ctx context.Context, statuses []string) ([]statusRow, error) {
	return readRows(ctx, a, `SELECT s, (SELECT count(*) FROM (SELECT 1 FROM sagas WHERE status = s LIMIT $2) x)
		FROM unnest($1::text[]) s`, []any{statuses, countCap + 1}, scanStatusRow)
}
