package logsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/platform/dashboard"
)

// The log explorer of /logs: filters kept in the URL (so a view can be
// shared and the back button works), a volume histogram by level counted
// by PostgreSQL over the chosen time range, lines that expand to the whole
// entry with every field a link that adds it as a filter, and a live tail
// a person can pause.

// filterParams tells whether a query parameter is one of the list's
// filters (the cursor and the page's own switches are not).
func filterParam(k string) bool {
	switch k {
	case "level", "source", "q", "since", "until", "trace_id", "span_id":
		return true
	}
	return strings.HasPrefix(k, "attr.") || strings.HasPrefix(k, "resource.") || strings.HasPrefix(k, "ctx.")
}

// filtersOf keeps the filters of v.
func filtersOf(v url.Values) url.Values {
	out := url.Values{}
	for k, vals := range v {
		if filterParam(k) && len(vals) > 0 && vals[0] != "" {
			out.Set(k, vals[0])
		}
	}
	return out
}

// withFilter is /logs with v's filters and k=val added (or replaced).
func withFilter(v url.Values, k, val string) string {
	f := filtersOf(v)
	f.Set(k, val)
	return "/logs?" + f.Encode()
}

// activeFilter is one filter in force, with the link that removes it.
type activeFilter struct {
	Name, Value, RemoveURL string
}

// activeFilters lists v's filters, sorted, each with its removal link.
func activeFilters(v url.Values) []activeFilter {
	f := filtersOf(v)
	var out []activeFilter
	for k := range f {
		rest := filtersOf(v)
		rest.Del(k)
		u := "/logs"
		if len(rest) > 0 {
			u += "?" + rest.Encode()
		}
		out = append(out, activeFilter{Name: k, Value: f.Get(k), RemoveURL: u})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// fieldLink is one field of an expanded entry: its value and the link
// that filters by it ("" when it cannot be a filter).
type fieldLink struct {
	Name, Value, URL string
}

// entryRow is one line of the explorer and what it expands to.
type entryRow struct {
	entryView
	LevelURL, SourceURL, TraceURL string
	Fields                        []fieldLink
	Context                       string
}

// rowOf builds an entry's line; filters are the page's.
func rowOf(e entryView, filters url.Values) entryRow {
	r := entryRow{entryView: e, LevelURL: withFilter(filters, "level", e.Level)}
	if e.Source != "" {
		r.SourceURL = withFilter(filters, "source", e.Source)
	}
	if e.TraceID != "" {
		r.TraceURL = withFilter(filters, "trace_id", e.TraceID)
	}
	if len(e.Context) > 0 {
		var pretty bytes.Buffer
		if json.Indent(&pretty, e.Context, "", "  ") == nil {
			r.Context = pretty.String()
		}
		var c map[string]json.RawMessage
		if json.Unmarshal(e.Context, &c) == nil {
			r.Fields = append(r.Fields, scalarFields(c["resource"], "resource.", filters)...)
			r.Fields = append(r.Fields, scalarFields(c["attributes"], "attr.", filters)...)
			if _, otel := c["attributes"]; !otel {
				r.Fields = append(r.Fields, scalarFields(e.Context, "attr.", filters)...)
			}
		}
	}
	return r
}

// scalarFields lists the string, number and boolean members of a JSON
// object as filter links under prefix.
func scalarFields(raw json.RawMessage, prefix string, filters url.Values) []fieldLink {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	var out []fieldLink
	for k, v := range m {
		var s string
		switch {
		case len(v) > 0 && v[0] == '"':
			if json.Unmarshal(v, &s) != nil {
				continue
			}
		case len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9') || string(v) == "true" || string(v) == "false"):
			s = string(v)
		default:
			continue
		}
		if len(k) > maxFilterKey || len(s) > maxFilterValue {
			continue
		}
		out = append(out, fieldLink{Name: prefix + k, Value: s, URL: withFilter(filters, prefix+k, s)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Histogram geometry.
const (
	histBuckets = 60
	histWidth   = 720
	histHeight  = 120
	// histDefaultRange is the range the histogram covers without since=.
	histDefaultRange = time.Hour
)

// levelColors are the histogram's fills, by level (least severe first).
var levelColors = map[string]string{
	"debug": "#9aa5b1", "info": "#3b82f6", "notice": "#14b8a6", "warning": "#f59e0b",
	"error": "#ef4444", "critical": "#b91c1c", "alert": "#7c3aed", "emergency": "#111827",
}

// histRect is one level's part of one bar.
type histRect struct {
	X, Y, W, H float64
	Fill       string
	Title      string
}

// histView is the histogram fragment's data.
type histView struct {
	Width, Height int
	Rects         []histRect
	Totals        []levelTotal
	From, To      time.Time
	Bucket        time.Duration
	Max           int64
	Total         int64
}

type levelTotal struct {
	Level, Fill string
	Count       int64
}

// histMaxSpans bounds the search blocks a filtered histogram reads the
// ranges of: past it, the whole range is read.
const histMaxSpans = 20000

// histogram counts the entries matching lq in histBuckets buckets over its
// time range (the last hour when it has none), by level.
func (h *Handler) histogram(ctx context.Context, lq listQuery, now time.Time) (histView, error) {
	to := now
	if lq.until != nil {
		to = *lq.until
	}
	from := to.Add(-histDefaultRange)
	if lq.since != nil {
		from = *lq.since
	}
	if !from.Before(to) {
		from = to.Add(-time.Minute)
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var q string
	var bucket time.Duration
	if to.Sub(from) >= histBuckets*time.Minute && lq.countedByVolume() {
		// A long range filtered by level at most: summed from the counts
		// by minute and level the projection keeps (log_volume), over
		// whole minutes, rather than by counting the entries (a week of
		// 10M entries: seconds).
		from, to = from.Truncate(time.Minute), to.Add(time.Minute-1).Truncate(time.Minute)
		bucket = (to.Sub(from) + histBuckets*time.Minute - 1) / (histBuckets * time.Minute) * time.Minute
		where := []string{`tbl = 'log_entries'::regclass`, `minute >= ` + arg(from), `minute < ` + arg(to)}
		if len(lq.levels) > 0 {
			where = append(where, `level = ANY(`+arg(lq.levels)+`)`)
		}
		q = `SELECT floor(extract(epoch FROM minute - ` + arg(from) + `::timestamptz) / ` + arg(bucket.Seconds()) + `)::int AS b, level, sum(entries)::bigint
			FROM log_volume WHERE ` + strings.Join(where, " AND ") + ` GROUP BY 1, 2`
	} else {
		lq.since, lq.until = &from, &to
		bucket = max(to.Sub(from)/histBuckets, time.Second).Round(time.Second)
		where := lq.where(arg)
		table := "log_entries"
		if all, anyOf, ok := lq.blockTerms(); ok {
			// Only the search blocks that may match are counted in.
			var spans []span
			var more bool
			err := pgx.BeginTxFunc(ctx, h.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) (err error) {
				spans, more, err = matchingSpans(ctx, tx, all, anyOf, *lq.since, *lq.until, histMaxSpans)
				return err
			})
			if err != nil {
				return histView{}, err
			}
			if !more {
				los, his := make([]time.Time, len(spans)), make([]time.Time, len(spans))
				for i, s := range spans {
					los[i], his[i] = s.lo, s.hi
				}
				table = `unnest(` + arg(los) + `::timestamptz[], ` + arg(his) + `::timestamptz[]) AS r(lo, hi)
					CROSS JOIN LATERAL (SELECT received_at, level FROM log_entries WHERE received_at >= r.lo AND received_at <= r.hi AND ` +
					strings.Join(where, " AND ") + `) e`
				where = []string{"true"}
			}
		}
		q = `SELECT floor(extract(epoch FROM received_at - ` + arg(from) + `::timestamptz) / ` + arg(bucket.Seconds()) + `)::int AS b, level, count(*)
			FROM ` + table + ` WHERE ` + strings.Join(where, " AND ") + ` GROUP BY 1, 2`
	}
	rows, err := h.pool.Query(ctx, q, args...)
	if err != nil {
		return histView{}, err
	}
	defer rows.Close()
	counts := make([]map[string]int64, histBuckets+1)
	totals := map[string]int64{}
	for rows.Next() {
		var b int
		var level string
		var n int64
		if err := rows.Scan(&b, &level, &n); err != nil {
			return histView{}, err
		}
		b = min(max(b, 0), histBuckets)
		if counts[b] == nil {
			counts[b] = map[string]int64{}
		}
		counts[b][level] += n
		totals[level] += n
	}
	if err := rows.Err(); err != nil {
		return histView{}, err
	}
	v := histView{Width: histWidth, Height: histHeight, From: from, To: to, Bucket: bucket}
	sums := make([]int64, len(counts))
	for i, c := range counts {
		for _, n := range c {
			sums[i] += n
		}
		v.Max = max(v.Max, sums[i])
		v.Total += sums[i]
	}
	// A bar's height is log-scaled (a burst does not flatten the rest); its
	// levels share it in proportion to their counts.
	barW := float64(histWidth) / float64(len(counts))
	for i, c := range counts {
		if sums[i] == 0 {
			continue
		}
		height := float64(histHeight) * math.Log1p(float64(sums[i])) / math.Log1p(float64(v.Max))
		y := float64(histHeight)
		start := from.Add(time.Duration(i) * bucket)
		for _, level := range logs.Levels {
			n := c[level]
			if n == 0 {
				continue
			}
			part := height * float64(n) / float64(sums[i])
			y -= part
			v.Rects = append(v.Rects, histRect{X: float64(i) * barW, Y: y, W: math.Max(barW-1, 1), H: part, Fill: levelColors[level],
				Title: fmt.Sprintf("%s: %d %s from %s", level, n, dashboard.Plural(n, "entry", "entries"), start.UTC().Format("2006-01-02 15:04:05"))})
		}
	}
	for _, level := range logs.Levels {
		if n := totals[level]; n > 0 {
			v.Totals = append(v.Totals, levelTotal{Level: level, Fill: levelColors[level], Count: n})
		}
	}
	return v, nil
}

// countedByVolume reports whether log_volume answers how many entries
// match lq over a range of whole minutes: when it filters by level at most.
func (lq listQuery) countedByVolume() bool {
	return lq.source == "" && lq.traceID == "" && lq.spanID == "" && lq.q == "" && len(lq.context) == 0
}

// histogramFragment serves GET /logs/histogram with the page's filters.
func (ld *logsDashboard) histogramFragment(w http.ResponseWriter, r *http.Request) {
	lq, _, err := ld.filters(r)
	if err == nil {
		var v histView
		if v, err = ld.h.histogram(r.Context(), lq, ld.h.now()); err == nil {
			ld.d.Fragment(w, r, ld.tmpl, "histogram", v)
			return
		}
	}
	status, msg := ld.problem(r, err)
	ld.d.Error(w, r, status, msg)
}

// tailView is the live tail's container: polling its entries, or paused.
type tailView struct {
	Paused     bool
	Live       bool // the list may poll at all (no cursor, no text search)
	EntriesURL string
	ToggleURL  string
}

// tailFor is the tail container for filters f.
func tailFor(f filterView, paused bool) tailView {
	v := tailView{Paused: paused, Live: f.Cursor == "" && f.Q == "", EntriesURL: f.EntriesURL}
	q := url.Values{}
	if u, err := url.Parse(f.EntriesURL); err == nil {
		q = u.Query()
	}
	if !paused {
		q.Set("paused", "1")
	}
	v.ToggleURL = "/logs/tail?" + q.Encode()
	return v
}

// tail serves GET /logs/tail: the container again, paused or live (the
// pause button swaps it, so the polling stops without any script).
func (ld *logsDashboard) tail(w http.ResponseWriter, r *http.Request) {
	_, f, err := ld.filters(r)
	if err != nil {
		status, msg := ld.problem(r, err)
		ld.d.Error(w, r, status, msg)
		return
	}
	ld.d.Fragment(w, r, ld.tmpl, "tailfrag", tailFor(f, r.URL.Query().Get("paused") == "1"))
}
