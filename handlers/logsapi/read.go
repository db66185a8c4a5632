package logsapi

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

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/projections/logentries"
)

// entryView is a log entry as the API shows it.
type entryView struct {
	ID         uuid.UUID       `json:"id"`
	Seq        uint64          `json:"seq"`
	Level      string          `json:"level"`
	Message    string          `json:"message"`
	Context    json.RawMessage `json:"context"`
	Source     string          `json:"source"`
	ReceivedAt time.Time       `json:"received_at"`
	Persisted  bool            `json:"persisted"`
	// OpenTelemetry's fields, present only when the entry has them.
	TraceID      string    `json:"trace_id,omitempty"`
	SpanID       string    `json:"span_id,omitempty"`
	Time         time.Time `json:"time,omitzero"`
	ObservedTime time.Time `json:"observed_time,omitzero"`
	// PersistedAt is when PostgreSQL stored the entry (absent until then).
	PersistedAt *time.Time `json:"persisted_at,omitempty"`
}

// entryColumns are the columns scanEntry reads, in order.
const entryColumns = "id, seq, level, message, context, source, received_at, trace_id, span_id, event_time, observed_time, persisted_at"

// viewOf is an entry read from the log (not yet persisted) as the API shows it.
func viewOf(e logs.Entry, seq uint64) entryView {
	return entryView{ID: e.ID, Seq: seq, Level: e.Level, Message: e.Message, Context: e.Context,
		Source: e.Source, ReceivedAt: e.ReceivedAt.UTC(), TraceID: e.TraceID, SpanID: e.SpanID,
		Time: e.Time, ObservedTime: e.ObservedTime}
}

type listResponse struct {
	Items      []entryView `json:"items"`
	NextCursor string      `json:"next_cursor"`
}

const (
	defaultLimit = 50
	maxLimit     = 1000
)

// listQuery is a validated GET /api/logs query.
type listQuery struct {
	levels   []string
	source   string
	traceID  string
	spanID   string
	q        string
	context  []contextFilter
	since    *time.Time
	until    *time.Time
	limit    int
	cursorAt time.Time
	cursorID uuid.UUID
	hasCur   bool
}

func parseListQuery(r *http.Request, now time.Time) (listQuery, error) {
	v := r.URL.Query()
	var lq listQuery
	if s := v.Get("level"); s != "" {
		for _, l := range strings.Split(s, ",") {
			l = strings.ToLower(strings.TrimSpace(l))
			if !logs.ValidLevel(l) {
				return lq, httpapi.FieldErr("level", fmt.Sprintf("level %q is not one of %s.", l, strings.Join(logs.Levels, ", ")))
			}
			lq.levels = append(lq.levels, l)
		}
	}
	lq.source = v.Get("source")
	for _, f := range []struct {
		name string
		hex  int
		dst  *string
	}{{"trace_id", 32, &lq.traceID}, {"span_id", 16, &lq.spanID}} {
		if id := v.Get(f.name); id != "" {
			id = strings.ToLower(id)
			if !isHex(id, f.hex) {
				return lq, httpapi.FieldErr(f.name, fmt.Sprintf("%s must be %d hexadecimal digits.", f.name, f.hex))
			}
			*f.dst = id
		}
	}
	lq.q = v.Get("q")
	if len(lq.q) > 1024 {
		return lq, httpapi.FieldErr("q", "q must be at most 1024 bytes.")
	}
	if !storableText(lq.q) || !storableText(lq.source) {
		return lq, httpapi.FieldErr("q", "q and source must be valid UTF-8 without NUL characters.")
	}
	ctxFilters, err := parseContextFilters(v)
	if err != nil {
		return lq, err
	}
	lq.context = ctxFilters
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"since", &lq.since}, {"until", &lq.until}} {
		if s := v.Get(f.name); s != "" {
			t, err := parseSince(s, now)
			if err != nil {
				return lq, httpapi.FieldErr(f.name, f.name+" must be an RFC 3339 time (2026-01-02T15:04:05Z) or a duration back from now (15m, 2h).")
			}
			*f.dst = &t
		}
	}
	limit, err := httpapi.QueryInt(r, "limit", defaultLimit, maxLimit)
	if err != nil {
		return lq, err
	}
	if limit == 0 {
		return lq, httpapi.FieldErr("limit", "limit must be between 1 and 1000.")
	}
	lq.limit = int(limit)
	if c := v.Get("cursor"); c != "" {
		at, id, err := decodeCursor(c)
		if err != nil {
			return lq, httpapi.FieldErr("cursor", "cursor is not one this API returned.")
		}
		lq.cursorAt, lq.cursorID, lq.hasCur = at, id, true
	}
	return lq, nil
}

// isHex tells whether s is n hexadecimal digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, errors.New("bad since")
	}
	return now.Add(-d), nil
}

func encodeCursor(at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixNano(), 10) + "_" + id.String()))
}

func decodeCursor(c string) (time.Time, uuid.UUID, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, uuid.Nil, err
	}
	ts, idStr, ok := strings.Cut(string(b), "_")
	if !ok {
		return time.Time{}, uuid.Nil, errors.New("bad cursor")
	}
	ns, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, uuid.Nil, err
	}
	id, err := uuid.Parse(idStr)
	if err != nil {
		return time.Time{}, uuid.Nil, err
	}
	return time.Unix(0, ns).UTC(), id, nil
}

// sql builds the list query; every value is a bind parameter.
func (lq listQuery) sql(table string) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := lq.where(arg)
	if lq.hasCur {
		where = append(where, "(received_at, id) < ("+arg(lq.cursorAt)+", "+arg(lq.cursorID)+")")
	}
	q := "SELECT " + entryColumns + " FROM " + pgx.Identifier{table}.Sanitize()
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY received_at DESC, id DESC LIMIT " + arg(lq.limit+1)
	return q, args
}

// where is lq's filters (the cursor aside) as SQL conditions, each value
// a bind parameter made by arg.
func (lq listQuery) where(arg func(any) string) []string {
	var where []string
	if len(lq.levels) == 1 {
		where = append(where, "level = "+arg(lq.levels[0]))
	} else if len(lq.levels) > 1 {
		where = append(where, "level = ANY("+arg(lq.levels)+")")
	}
	if lq.source != "" {
		where = append(where, "source = "+arg(lq.source))
	}
	if lq.traceID != "" {
		where = append(where, "trace_id = "+arg(lq.traceID))
	}
	if lq.spanID != "" {
		where = append(where, "span_id = "+arg(lq.spanID))
	}
	if lq.q != "" {
		where = append(where, "message ILIKE "+arg("%"+escapeLike(lq.q)+"%"))
	}
	for _, f := range lq.context {
		var any []string
		for _, doc := range f.docs {
			any = append(any, "context @> "+arg(doc)+"::jsonb")
		}
		where = append(where, "("+strings.Join(any, " OR ")+")")
	}
	if lq.since != nil {
		where = append(where, "received_at >= "+arg(*lq.since))
	}
	if lq.until != nil {
		where = append(where, "received_at < "+arg(*lq.until))
	}
	return where
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	lq, err := parseListQuery(r, h.now())
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if err := httpapi.WaitMinSeq(w, r, h.pool, logentries.Name); err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	resp, err := h.listEntries(r.Context(), lq)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
}

// listEntries runs lq against the read model: one page, newest first, and
// the cursor of the next one when there is more.
func (h *Handler) listEntries(ctx context.Context, lq listQuery) (listResponse, error) {
	query, args := lq.sql("log_entries")
	var items []entryView
	var err error
	if all, anyOf, ok := lq.blockTerms(); ok {
		err = pgx.BeginTxFunc(ctx, h.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			items, err = h.searchBlocks(ctx, tx, lq, all, anyOf)
			return err
		})
	} else if lq.q == "" && len(lq.context) == 0 {
		items, err = queryEntries(ctx, h.pool, query, args)
	} else {
		items, err = h.searchEntries(ctx, query, args)
	}
	if err != nil {
		return listResponse{}, err
	}
	resp := listResponse{Items: items}
	if len(items) > lq.limit {
		resp.Items = items[:lq.limit]
		last := resp.Items[lq.limit-1]
		resp.NextCursor = encodeCursor(last.ReceivedAt, last.ID)
	}
	if resp.Items == nil {
		resp.Items = []entryView{}
	}
	return resp, nil
}

// queryEntries runs a list query on q (a pool or a transaction).
func queryEntries(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, query string, args []any) ([]entryView, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanEntry)
}

// orderedScanBudget is how long a search the search blocks cannot narrow
// (a q of one or two characters) may walk the entries newest first (the
// received_at index, testing each) before it is asked the other way.
const orderedScanBudget = 60 * time.Millisecond

// searchEntries runs a list query with a text search the search blocks
// cannot narrow. PostgreSQL cannot tell how many entries a substring
// matches, so it may walk the entries newest first hoping to fill the page
// soon, which takes seconds for one few entries have. The query therefore
// runs as planned for at most orderedScanBudget; if that is not enough it
// runs again without the ordered walk: a scan of the range and a sort of
// what matches.
func (h *Handler) searchEntries(ctx context.Context, query string, args []any) ([]entryView, error) {
	var items []entryView
	err := pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL statement_timeout = %d`, orderedScanBudget.Milliseconds())); err != nil {
			return err
		}
		var err error
		items, err = queryEntries(ctx, tx, query, args)
		return err
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" || ctx.Err() != nil {
		return items, err
	}
	err = pgx.BeginFunc(ctx, h.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_indexscan = off`); err != nil {
			return err
		}
		var err error
		items, err = queryEntries(ctx, tx, query, args)
		return err
	})
	return items, err
}

func scanEntry(row pgx.CollectableRow) (entryView, error) {
	var e entryView
	var seq int64
	var ctx []byte
	var trace, span *string
	var at, observed *time.Time
	err := row.Scan(&e.ID, &seq, &e.Level, &e.Message, &ctx, &e.Source, &e.ReceivedAt, &trace, &span, &at, &observed, &e.PersistedAt)
	if e.PersistedAt != nil {
		t := e.PersistedAt.UTC()
		e.PersistedAt = &t
	}
	e.Seq = uint64(seq)
	if trace != nil {
		e.TraceID = *trace
	}
	if span != nil {
		e.SpanID = *span
	}
	if at != nil {
		e.Time = at.UTC()
	}
	if observed != nil {
		e.ObservedTime = observed.UTC()
	}
	e.ReceivedAt = e.ReceivedAt.UTC()
	if len(ctx) > 0 {
		e.Context = ctx
	}
	e.Persisted = true
	return e, err
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		httpapi.WriteError(w, r, httpapi.FieldErr("id", "id must be a UUID."))
		return
	}
	rows, dbErr := h.pool.Query(r.Context(), `SELECT `+entryColumns+` FROM log_entries WHERE id = $1`, id)
	if dbErr == nil {
		var e entryView
		e, dbErr = pgx.CollectExactlyOneRow(rows, scanEntry)
		if dbErr == nil {
			httpapi.WriteJSON(w, http.StatusOK, e)
			return
		}
		if errors.Is(dbErr, pgx.ErrNoRows) {
			dbErr = nil
		}
	}
	// Not in PostgreSQL (yet), or PostgreSQL is away: look in the log.
	e, found, err := h.finder.find(r.Context(), id)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if found {
		httpapi.WriteJSON(w, http.StatusOK, e)
		return
	}
	if dbErr != nil {
		httpapi.WriteError(w, r, dbErr)
		return
	}
	httpapi.WriteError(w, r, httpapi.Errorf(http.StatusNotFound, "not_found", "No log entry has id "+id.String()+"."))
}

func pickEntry(data []byte, seq uint64, id uuid.UUID) (entryView, bool, error) {
	entries, err := decodeEntries(data)
	if err != nil {
		return entryView{}, false, err
	}
	for _, e := range entries {
		if e.ID == id {
			return viewOf(e, seq), true, nil
		}
	}
	return entryView{}, false, nil
}
