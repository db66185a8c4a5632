package logsapi

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
)

//go:embed templates/*.html
var templateFS embed.FS

// Dashboard sampling: one stats read a second, five minutes kept.
const (
	sampleInterval = time.Second
	sampleCount    = 300
	chartSpan      = 5 * time.Minute
	// cardWindow is the overview card's ingest rate window.
	cardWindow = 10 * time.Second
	// pageSize is the entries a page of /logs shows.
	pageSize = defaultLimit
	// MaxBurst bounds the test entries one form post sends.
	MaxBurst = logs.MaxBatchEntries
)

// logsDashboard is the logs module's part of the dashboard: /logs, its
// fragments and action, and its overview card.
type logsDashboard struct {
	h    *Handler
	d    *dashboard.Dashboard
	tmpl *template.Template
	ring *rateRing
	log  *slog.Logger
}

// MountDashboard registers /logs and its overview card on d, and returns
// the sampler of ingest and flush rates its chart draws: run it (with
// host.Go) for as long as the dashboard is served. It samples only while
// the pages or the card were requested in the chart's window (watch), so
// that a process nobody looks at never reads its log for them.
func (h *Handler) MountDashboard(d *dashboard.Dashboard, log *slog.Logger) func(ctx context.Context) error {
	if log == nil {
		log = slog.Default()
	}
	ld := &logsDashboard{h: h, d: d, ring: newRateRing(sampleCount), log: log,
		tmpl: d.MustTemplates(templateFS, "templates/logs.html")}
	// The sampler reads the log only while someone looks at these pages
	// (it counts new entries through a consumer): each request marks them
	// watched.
	w := func(fn http.HandlerFunc) http.HandlerFunc {
		return func(rw http.ResponseWriter, r *http.Request) {
			ld.ring.watch(time.Now())
			fn(rw, r)
		}
	}
	d.Page(dashboard.Page{Pattern: "GET /logs", Nav: "Logs", Order: 10, Handler: w(ld.page)})
	d.Handle("GET /logs/entries", w(ld.entries))
	d.Handle("GET /logs/stats", w(ld.stats))
	d.Handle("GET /logs/chart", w(ld.chart))
	d.Handle("GET /logs/card", w(ld.card))
	d.Handle("GET /logs/histogram", w(ld.histogramFragment))
	d.Handle("GET /logs/tail", w(ld.tail))
	d.Handle("POST /logs/send", w(ld.send))
	d.Card(dashboard.Card{Title: "Logs", Fragment: "/logs/card", Link: "/logs", Order: 10})
	d.Alert(dashboard.Alert{Name: "log ingest", Order: 10, Check: ld.alerts})
	return func(ctx context.Context) error { return sampleRates(ctx, ld.ring, sampleInterval, h.snapshot) }
}

// filterView is the list's filters as the page shows them.
type filterView struct {
	Levels []string
	Level  string
	Source string
	Q      string
	Since  string
	Until  string
	Ranges []string // the time range picker's choices
	// CustomSince is set when since= is none of Ranges.
	CustomSince bool
	Cursor      string
	EntriesURL  string // the list fragment with these filters
	NewestURL   string // the first page with these filters
	// HistogramURL is the volume histogram with these filters.
	HistogramURL string
	// Active are the filters in force, each removable; Hidden those the
	// form has no field for (context filters, trace ids), kept by it.
	Active []activeFilter
	Hidden []activeFilter
	Tail   tailView
	Error  string
}

// timeRanges are the picker's choices for since= (a duration back).
var timeRanges = []string{"15m", "1h", "6h", "24h", "168h"}

// filters reads the list's filters from r with the JSON API's validation
// (GET /api/logs): a bad one is an *httpapi.Error with a message.
func (ld *logsDashboard) filters(r *http.Request) (listQuery, filterView, error) {
	v := r.URL.Query()
	f := filterView{Levels: logs.Levels, Level: v.Get("level"), Source: v.Get("source"), Q: v.Get("q"), Cursor: v.Get("cursor"),
		Since: v.Get("since"), Until: v.Get("until"), Ranges: timeRanges, Active: activeFilters(v)}
	f.CustomSince = f.Since != "" && !slices.Contains(timeRanges, f.Since)
	for _, a := range f.Active {
		switch a.Name {
		case "level", "source", "q", "since", "until":
		default:
			f.Hidden = append(f.Hidden, a)
		}
	}
	q := filtersOf(v)
	f.HistogramURL = "/logs/histogram?" + q.Encode()
	f.NewestURL = "/logs"
	if len(q) > 0 {
		f.NewestURL += "?" + q.Encode()
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	f.EntriesURL = "/logs/entries?" + q.Encode()
	f.Tail = tailFor(f, v.Get("paused") == "1")
	lq, err := parseListQuery(r, ld.h.now())
	lq.limit = pageSize // the page's size, whatever limit says
	return lq, f, err
}

func (ld *logsDashboard) page(w http.ResponseWriter, r *http.Request) {
	_, f, err := ld.filters(r)
	if err != nil {
		status, msg := ld.problem(r, err)
		f.Error = msg
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
	}
	ld.d.Render(w, r, ld.tmpl, "Logs", f)
}

// entriesView is one page of the list.
type entriesView struct {
	Items     []entryRow
	OlderURL  string
	NewestURL string
	Paged     bool
	Filtered  bool
	Now       time.Time
}

func (ld *logsDashboard) entries(w http.ResponseWriter, r *http.Request) {
	lq, f, err := ld.filters(r)
	if err == nil {
		var resp listResponse
		resp, err = ld.h.listEntries(r.Context(), lq)
		if err == nil {
			v := entriesView{NewestURL: f.NewestURL, Paged: f.Cursor != "", Filtered: len(f.Active) > 0, Now: time.Now()}
			for _, e := range resp.Items {
				v.Items = append(v.Items, rowOf(e, r.URL.Query()))
			}
			if resp.NextCursor != "" {
				q := r.URL.Query()
				q.Del("limit")
				q.Set("cursor", resp.NextCursor)
				v.OlderURL = "/logs?" + q.Encode()
			}
			ld.d.Fragment(w, r, ld.tmpl, "entries", v)
			return
		}
	}
	status, msg := ld.problem(r, err)
	ld.d.Error(w, r, status, msg)
}

// statsPanel is the stats fragment's data.
type statsPanel struct {
	statsView
	OldestPending time.Duration
	LastFlushAgo  string
	// RetentionPolicy and OldestRetained say what retention keeps.
	RetentionPolicy string
	OldestRetained  string
}

// retentionPolicy says in words what retention keeps.
func retentionPolicy(r retentionView) string {
	s := "entries kept forever"
	if r.MaxAgeSeconds > 0 {
		d := time.Duration(r.MaxAgeSeconds) * time.Second
		if d%(24*time.Hour) == 0 {
			s = fmt.Sprintf("entries kept %d days", d/(24*time.Hour))
		} else {
			s = "entries kept " + d.String()
		}
	}
	if r.MaxBytes > 0 {
		s += fmt.Sprintf(", at most %.1f MiB", float64(r.MaxBytes)/(1<<20))
	}
	return s
}

func newStatsPanel(v statsView) statsPanel {
	p := statsPanel{statsView: v, OldestPending: time.Duration(v.OldestPendingAgeM) * time.Millisecond, LastFlushAgo: "never",
		RetentionPolicy: retentionPolicy(v.Retention), OldestRetained: "none"}
	if t := v.Retention.OldestRetained; t != nil {
		p.OldestRetained = t.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + dashboard.Ago(time.Since(*t)) + " ago)"
	}
	if v.LastFlushAt != nil {
		p.LastFlushAgo = dashboard.Ago(time.Since(*v.LastFlushAt)) + " ago"
		if p.LastFlushAgo == "just now ago" {
			p.LastFlushAgo = "just now"
		}
	}
	return p
}

func (ld *logsDashboard) stats(w http.ResponseWriter, r *http.Request) {
	v, err := ld.h.snapshot(r.Context())
	if err != nil {
		status, msg := ld.problem(r, err)
		ld.d.Error(w, r, status, msg)
		return
	}
	ld.d.Fragment(w, r, ld.tmpl, "stats", newStatsPanel(v))
}

func (ld *logsDashboard) chart(w http.ResponseWriter, r *http.Request) {
	c := buildChart(rates(ld.ring.ordered()), time.Now(), chartSpan)
	ld.d.Fragment(w, r, ld.tmpl, "chart", c)
}

// cardView is the overview card's data.
type cardView struct {
	Rate          string
	HasRate       bool
	Pending       int64
	OldestPending time.Duration
}

func (ld *logsDashboard) card(w http.ResponseWriter, r *http.Request) {
	v, at := ld.ring.latest()
	if at.IsZero() || time.Since(at) > 5*sampleInterval {
		var err error
		if v, err = ld.h.snapshot(r.Context()); err != nil {
			status, msg := ld.problem(r, err)
			ld.d.Error(w, r, status, msg)
			return
		}
	}
	rate, ok := ingestRate(ld.ring.ordered(), cardWindow)
	ld.d.Fragment(w, r, ld.tmpl, "card", cardView{Rate: formatRate(rate), HasRate: ok, Pending: v.Pending,
		OldestPending: time.Duration(v.OldestPendingAgeM) * time.Millisecond})
}

// sentView answers the send form.
type sentView struct {
	Count int64
	Seq   uint64
}

// send appends one entry, or a burst of count copies numbered in their
// message, through the ingester POST /api/logs and /api/logs/batch use:
// stored in the log before the answer.
func (ld *logsDashboard) send(w http.ResponseWriter, r *http.Request) {
	// The dashboard read the form already, bounded (dashboard.MaxFormBytes).
	count := 1
	if s := r.PostForm.Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxBurst {
			ld.d.Error(w, r, http.StatusBadRequest, "Count must be a whole number from 1 to "+strconv.Itoa(MaxBurst)+".")
			return
		}
		count = n
	}
	msg := r.PostForm.Get("message")
	in := logs.Input{Level: r.PostForm.Get("level"), Message: &msg, Source: r.PostForm.Get("source")}
	now := ld.h.now()
	first, fe := in.Validate(now)
	if fe != nil {
		ld.d.Error(w, r, http.StatusBadRequest, "Not sent: "+fe.Error()+".")
		return
	}
	size := int64(count) * int64(len(msg)+len(in.Source)+160)
	if size > MaxBatchBody {
		ld.d.Error(w, r, http.StatusBadRequest, "Not sent: "+strconv.Itoa(count)+" copies of this message are over the 16 MiB a batch may hold; send fewer or a shorter message.")
		return
	}
	entries := make([]logs.Entry, count)
	entries[0] = first
	if count > 1 {
		entries[0].Message = msg + " (1/" + strconv.Itoa(count) + ")"
		for i := 1; i < count; i++ {
			m := msg + " (" + strconv.Itoa(i+1) + "/" + strconv.Itoa(count) + ")"
			e, fe := logs.Input{Level: in.Level, Message: &m, Source: in.Source}.Validate(now)
			if fe != nil {
				ld.d.Error(w, r, http.StatusBadRequest, "Not sent: "+fe.Error()+".")
				return
			}
			entries[i] = e
		}
	}
	seq, err := ld.h.submit(r.Context(), entries, size)
	if err != nil {
		status, msg := ld.problem(r, err)
		ld.d.Error(w, r, status, "Not sent: "+msg)
		return
	}
	ld.d.Fragment(w, r, ld.tmpl, "sent", sentView{Count: int64(count), Seq: seq})
}

// submit appends entries (about size bytes encoded) within the ingest
// budgets the API's batches take their share of.
func (h *Handler) submit(ctx context.Context, entries []logs.Entry, size int64) (uint64, error) {
	cost := BodyCostFactor * size
	if err := h.ingester.budget.Reserve(cost); err != nil {
		return 0, err
	}
	defer h.ingester.budget.Release(cost)
	cached, err := h.ingester.cache.reserve(size)
	if err != nil {
		return 0, err
	}
	seq, err := h.ingester.Submit(ctx, entries)
	cached.release(err == nil)
	return seq, err
}

// problem turns err into a status and a message for a person; what is not
// the caller's fault is logged.
func (ld *logsDashboard) problem(r *http.Request, err error) (int, string) {
	var apiErr *httpapi.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &apiErr):
		return apiErr.Status, apiErr.Message
	case errors.As(err, &pgErr) && pgErr.Code == "57014", errors.Is(err, context.DeadlineExceeded):
		if r.URL.Path != "/logs" && r.URL.Path != "/logs/entries" {
			// Counts and rates: nothing to narrow, the database is slow.
			return http.StatusServiceUnavailable, "The read model database did not answer in time. Retrying."
		}
		return http.StatusServiceUnavailable, "The query took too long. Narrow it with a level or a source, or a shorter time."
	case errors.Is(err, eventstore.ErrUnavailable):
		ld.log.Warn("dashboard: logs: event log unavailable", "path", r.URL.Path, "err", err)
		return http.StatusServiceUnavailable, "The event log is unreachable. Retrying."
	}
	ld.log.Error("dashboard: logs: request failed", "path", r.URL.Path, "err", err)
	return http.StatusServiceUnavailable, "The read model database is unreachable or failed. Retrying."
}
