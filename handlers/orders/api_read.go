package orders

import (
	"context"
	"encoding/base64"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/platform/httpapi"
)

// Bounds of the list endpoints.
const (
	listDefaultLimit = 50
	listMaxLimit     = 500
	// maxPayments bounds the payments an order's view shows.
	maxPayments = 20
	// readTimeout bounds one read of the read models (the read pool's
	// statement_timeout bounds each statement as well).
	readTimeout = 5 * time.Second
)

// sagaStatuses are the statuses ?status= accepts.
var sagaStatuses = map[string]bool{
	string(saga.StatusRunning): true, string(saga.StatusCompleted): true, string(saga.StatusCompensating): true,
	string(saga.StatusCompensated): true, string(saga.StatusNeedsAttention): true, string(saga.StatusFailed): true,
}

// listCursor is the position after the last item of a page: its sort key.
// It travels as opaque base64 of its JSON.
type listCursor struct {
	At time.Time `json:"t,omitzero"`
	ID string    `json:"i"`
}

func (c listCursor) encode() string {
	b, _ := json.Marshal(c) // a time and a string always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// listQuery is a validated list request: limit and where to start.
type listQuery struct {
	limit  int
	cursor *listCursor
}

// parseList reads ?limit= (1..500, default 50) and ?cursor=; byTime says
// whether the list's cursors carry a time.
func parseList(r *http.Request, byTime bool) (listQuery, error) {
	limit, err := httpapi.QueryInt(r, "limit", listDefaultLimit, listMaxLimit)
	if err != nil {
		return listQuery{}, err
	}
	if limit == 0 {
		return listQuery{}, httpapi.FieldErr("limit", fmt.Sprintf("limit must be between 1 and %d.", listMaxLimit))
	}
	q := listQuery{limit: int(limit)}
	if s := r.URL.Query().Get("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		var c listCursor
		if err != nil || len(b) > 512 || json.Unmarshal(b, &c) != nil || !validID(c.ID) || c.At.IsZero() == byTime {
			return listQuery{}, httpapi.FieldErr("cursor", "cursor is not one this API returned.")
		}
		q.cursor = &c
	}
	return q, nil
}

// writePage writes a page of a list as {"items": [...], "next_cursor":
// "..."} ("" on the last page), and the items once more under the list's
// old key (deprecated; kept one release, see README).
func writePage[T any](w http.ResponseWriter, oldKey string, items []T, limit int, cursor func(T) listCursor) {
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = cursor(items[limit-1]).encode()
	}
	if items == nil {
		items = []T{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"items": items, oldKey: items, "next_cursor": next})
}

// sagaItem is a saga as GET /api/sagas lists it. Reason says why a saga
// needs attention, failed or compensated (a declined payment's error).
type sagaItem struct {
	ID          string    `json:"id"`
	Type        string    `json:"type"`
	Status      string    `json:"status"`
	CurrentStep string    `json:"current_step"`
	UserID      string    `json:"user_id,omitempty"`
	Reason      string    `json:"reason"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// sagaFilter is what a search of the sagas asks: a status, a user, the
// first characters of the saga's id, and a range of creation times
// (since included, until excluded); zero fields do not filter.
type sagaFilter struct {
	Status, UserID, IDPrefix string
	Since, Until             time.Time
}

// parseSagaFilter reads ?status=, ?user_id=, ?id= (a saga id or its first
// characters), ?since= and ?until= (RFC 3339, or a duration back from now).
func parseSagaFilter(r *http.Request, now time.Time) (sagaFilter, error) {
	q := r.URL.Query()
	f := sagaFilter{Status: q.Get("status"), UserID: strings.TrimSpace(q.Get("user_id")), IDPrefix: strings.TrimSpace(q.Get("id"))}
	if f.Status != "" && !sagaStatuses[f.Status] {
		return f, httpapi.FieldErr("status",
			"status must be one of running, completed, compensating, compensated, needs_attention, failed.")
	}
	if f.UserID != "" && !validID(f.UserID) {
		return f, httpapi.FieldErr("user_id", "user_id is a user's id: 1 to 128 letters, digits, '-' or '_'.")
	}
	if f.IDPrefix != "" && !validID(f.IDPrefix) {
		return f, httpapi.FieldErr("id", "id is a saga's id or its first characters: letters, digits, '-' or '_'.")
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		v := strings.TrimSpace(q.Get(b.name))
		if v == "" {
			continue
		}
		t, ok := parseWhen(v, now)
		if !ok {
			return f, httpapi.FieldErr(b.name, b.name+" is a time (RFC 3339, e.g. 2026-12-07T05:00:00Z, or 2026-12-07T05:00 in UTC) or a duration back from now (15m, 2h).")
		}
		*b.dst = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, httpapi.FieldErr("until", "until must be after since.")
	}
	return f, nil
}

// parseWhen reads a time: RFC 3339, a date and time without a zone (an
// HTML datetime-local field, taken as UTC), or a duration back from now.
func parseWhen(v string, now time.Time) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d).UTC(), true
	}
	return time.Time{}, false
}

// listSagas answers a search of the sagas read model, newest first.
func (a *API) listSagas(w http.ResponseWriter, r *http.Request) {
	f, err := parseSagaFilter(r, time.Now())
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	lq, err := parseList(r, true)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	items, err := a.querySagas(r.Context(), f, lq)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	writePage(w, "sagas", items, lq.limit, func(s sagaItem) listCursor { return listCursor{At: s.CreatedAt, ID: s.ID} })
}

// querySagas reads a page of the sagas read model, newest first, that
// match f: lq.limit+1 items at most (the one more tells that a next page
// exists). The API's list and the dashboard's.
func (a *API) querySagas(ctx context.Context, f sagaFilter, lq listQuery) ([]sagaItem, error) {
	q := `SELECT id, type, status, current_step, user_id, reason, created_at, updated_at FROM sagas WHERE true`
	args := []any{lq.limit + 1}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Status != "" {
		q += ` AND status = ` + arg(f.Status)
	}
	if f.UserID != "" {
		// The literal lets the planner use the partial index of sagas
		// with a user whatever the parameter (a generic plan).
		q += ` AND user_id <> '' AND user_id = ` + arg(f.UserID)
	}
	if f.IDPrefix != "" {
		// The ids that start with the prefix, as a range in byte order
		// (sagas_id_prefix_idx): an id's characters are ASCII letters,
		// digits, '-' and '_', so the bound above is the prefix with its
		// last byte incremented.
		upper := f.IDPrefix[:len(f.IDPrefix)-1] + string(rune(f.IDPrefix[len(f.IDPrefix)-1]+1))
		q += ` AND id COLLATE "C" >= ` + arg(f.IDPrefix) + ` AND id COLLATE "C" < ` + arg(upper)
	}
	if !f.Since.IsZero() {
		q += ` AND created_at >= ` + arg(f.Since)
	}
	if !f.Until.IsZero() {
		q += ` AND created_at < ` + arg(f.Until)
	}
	if lq.cursor != nil {
		at, id := arg(lq.cursor.At), arg(lq.cursor.ID)
		q += ` AND (created_at, id) < (` + at + `, ` + id + `)`
	}
	return readRows(ctx, a, q+` ORDER BY created_at DESC, id DESC LIMIT $1`, args, func(row pgx.CollectableRow) (sagaItem, error) {
		var s sagaItem
		err := row.Scan(&s.ID, &s.Type, &s.Status, &s.CurrentStep, &s.UserID, &s.Reason, &s.CreatedAt, &s.UpdatedAt)
		s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
		return s, err
	})
}

// orderItem is an order as GET /api/orders lists it.
type orderItem struct {
	ID         string          `json:"id"`
	SagaID     string          `json:"saga_id"`
	UserID     string          `json:"user_id"`
	Status     string          `json:"status"`
	TotalCents int64           `json:"total_cents"`
	Items      json.RawMessage `json:"items"`
	Reason     string          `json:"reason,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// listOrders answers one user's orders from the orders read model, newest
// first. ?user_id= is required: the read model is indexed by user only
// (an order is pending in GET /api/orders/{id} before it is listed here).
func (a *API) listOrders(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user_id")
	if !validID(user) {
		httpapi.WriteError(w, r, httpapi.FieldErr("user_id", "user_id must be a user's id."))
		return
	}
	lq, err := parseList(r, true)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	q := `SELECT id, user_id, status, total_cents, items, reason, created_at, updated_at FROM orders WHERE user_id = $2`
	args := []any{lq.limit + 1, user}
	if lq.cursor != nil {
		args = append(args, lq.cursor.At, lq.cursor.ID)
		q += ` AND (created_at, id) < ($3, $4)`
	}
	items, err := readRows(r.Context(), a, q+` ORDER BY created_at DESC, id DESC LIMIT $1`, args, func(row pgx.CollectableRow) (orderItem, error) {
		var o orderItem
		err := row.Scan(&o.ID, &o.UserID, &o.Status, &o.TotalCents, &o.Items, &o.Reason, &o.CreatedAt, &o.UpdatedAt)
		o.SagaID, o.CreatedAt, o.UpdatedAt = o.ID, o.CreatedAt.UTC(), o.UpdatedAt.UTC()
		return o, err
	})
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	writePage(w, "orders", items, lq.limit, func(o orderItem) listCursor { return listCursor{At: o.CreatedAt, ID: o.ID} })
}

// productItem is a product as GET /api/products lists it.
type productItem struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	PriceCents int64     `json:"price_cents"`
	Stock      int64     `json:"stock"`
	Reserved   int64     `json:"reserved"`
	Available  int64     `json:"available"`
	Sold       int64     `json:"sold"`
	CreatedAt  time.Time `json:"created_at"`
}

// listProducts answers the products read model by id (its primary key).
func (a *API) listProducts(w http.ResponseWriter, r *http.Request) {
	lq, err := parseList(r, false)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	q := `SELECT id, name, price_cents, stock, reserved, sold, created_at FROM products`
	args := []any{lq.limit + 1}
	if lq.cursor != nil {
		args = append(args, lq.cursor.ID)
		q += ` WHERE id > $2`
	}
	items, err := readRows(r.Context(), a, q+` ORDER BY id LIMIT $1`, args, func(row pgx.CollectableRow) (productItem, error) {
		var p productItem
		err := row.Scan(&p.ID, &p.Name, &p.PriceCents, &p.Stock, &p.Reserved, &p.Sold, &p.CreatedAt)
		p.CreatedAt, p.Available = p.CreatedAt.UTC(), p.Stock-p.Reserved
		return p, err
	})
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	writePage(w, "products", items, lq.limit, func(p productItem) listCursor { return listCursor{ID: p.ID} })
}

// paymentItem is a payment of an order as its view shows it (the token is
// not shown).
type paymentItem struct {
	Key         string     `json:"key"`
	Status      string     `json:"status"`
	AmountCents int64      `json:"amount_cents"`
	Attempt     int        `json:"attempt"`
	Reason      string     `json:"reason,omitempty"`
	ChargedAt   *time.Time `json:"charged_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// addPayments adds to order view v its payments from the payments read
// model, when there is one and it has them. The read model lags the
// command loops: a failure to read it leaves the view without payments
// rather than failing the read of the order.
func (a *API) addPayments(r *http.Request, v map[string]any, orderID string) {
	if a.reads.Pool == nil {
		return
	}
	items, err := readRows(r.Context(), a, `SELECT key, status, amount_cents, attempt, reason, charged_at, updated_at
		FROM payments WHERE order_id = $2 ORDER BY updated_at, key LIMIT $1`, []any{maxPayments, orderID},
		func(row pgx.CollectableRow) (paymentItem, error) {
			var p paymentItem
			err := row.Scan(&p.Key, &p.Status, &p.AmountCents, &p.Attempt, &p.Reason, &p.ChargedAt, &p.UpdatedAt)
			p.ChargedAt, p.UpdatedAt = utcPtr(p.ChargedAt), p.UpdatedAt.UTC()
			return p, err
		})
	if err != nil {
		httpapi.WriteErrorLog(r, "read an order's payments", err)
		return
	}
	if len(items) > 0 {
		v["payments"] = items
	}
}

// readRows runs one bounded query of the read models on the read pool.
func readRows[T any](ctx context.Context, a *API, q string, args []any, scan pgx.RowToFunc[T]) ([]T, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	rows, err := a.reads.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query read model: %w", err)
	}
	items, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("read read model: %w", err)
	}
	return items, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
