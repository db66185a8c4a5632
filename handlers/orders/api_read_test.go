package orders_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// exec runs a statement on e's database.
func (e *env) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	_, err := e.pool.Exec(context.Background(), q, args...)
	require.NoError(t, err)
}

// page lists url's key items, following next_cursor to the end.
func page(t *testing.T, srv, path, key string) (ids []string, pages int) {
	t.Helper()
	cursor := ""
	for {
		sep := "?"
		if u, _ := url.Parse(path); u.RawQuery != "" {
			sep = "&"
		}
		p := path
		if cursor != "" {
			p += sep + "cursor=" + url.QueryEscape(cursor)
		}
		code, v := call(t, "GET", srv+p, "", "")
		require.Equal(t, http.StatusOK, code, v)
		pages++
		for _, it := range v[key].([]any) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		cursor = v["next_cursor"].(string)
		if cursor == "" {
			return ids, pages
		}
		require.Less(t, pages, 100)
	}
}

func TestAPIListsSagasNewestFirst(t *testing.T) {
	e := newEnv(t)
	srv := e.api(t)
	base := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	statuses := []string{"running", "completed", "compensated", "needs_attention", "failed", "compensating"}
	var newestFirst, completed []string
	for i := range 12 {
		id := fmt.Sprintf("s%02d", i)
		at := base.Add(time.Duration(i/2) * time.Second) // pairs share a time: the id breaks the tie
		st := statuses[i%len(statuses)]
		e.exec(t, `INSERT INTO sagas (id, type, status, current_step, reason, aborted, created_at, updated_at, seq)
			VALUES ($1, 'create_order', $2, 'process_payment', '', false, $3, $3, $4)`, id, st, at, i+1)
		newestFirst = append([]string{id}, newestFirst...)
		if st == "completed" {
			completed = append([]string{id}, completed...)
		}
	}

	ids, pages := page(t, srv.URL, "/api/sagas?limit=5", "sagas")
	require.Equal(t, newestFirst, ids)
	require.Equal(t, 3, pages)
	ids, _ = page(t, srv.URL, "/api/sagas?status=completed&limit=1", "sagas")
	require.Equal(t, completed, ids)

	code, v := call(t, "GET", srv.URL+"/api/sagas?limit=1", "", "")
	require.Equal(t, http.StatusOK, code)
	item := v["sagas"].([]any)[0].(map[string]any)
	require.Equal(t, map[string]any{"id": "s11", "type": "create_order", "status": "compensating", "current_step": "process_payment",
		"reason": "", "created_at": "2026-01-02T03:04:10.123456Z", "updated_at": "2026-01-02T03:04:10.123456Z"}, item)

	code, v = call(t, "GET", srv.URL+"/api/sagas?status=failed&limit=500", "", "")
	require.Equal(t, http.StatusOK, code)
	require.Len(t, v["sagas"], 2)
	require.Equal(t, "", v["next_cursor"])
}

func TestAPIListsRefuseBadQueries(t *testing.T) {
	e := newEnv(t)
	srv := e.api(t)
	tests := []struct{ name, path, field string }{
		{"unknown status", "/api/sagas?status=done", "status"},
		{"limit zero", "/api/sagas?limit=0", "limit"},
		{"limit too high", "/api/sagas?limit=501", "limit"},
		{"negative limit", "/api/products?limit=-1", "limit"},
		{"cursor not base64", "/api/sagas?cursor=%21%21", "cursor"},
		{"cursor not JSON", "/api/sagas?cursor=bm9wZQ", "cursor"},
		{"cursor without a time", "/api/sagas?cursor=eyJpIjoicyJ9", "cursor"},
		{"products cursor with a time", "/api/products?cursor=eyJ0IjoiMjAyNi0wMS0wMlQwMzowNDowNVoiLCJpIjoicyJ9", "cursor"},
		{"orders without user", "/api/orders", "user_id"},
		{"orders of a wildcard user", "/api/orders?user_id=%3E", "user_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, v := call(t, "GET", srv.URL+tt.path, "", "")
			require.Equal(t, http.StatusBadRequest, code, v)
			require.Equal(t, tt.field, v["error"].(map[string]any)["field"], v)
		})
	}
}

func TestAPIListsOrdersAndProducts(t *testing.T) {
	e := newEnv(t)
	srv := e.api(t)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mine []string
	for i := range 7 {
		id, user := fmt.Sprintf("o%d", i), "u1"
		if i%3 == 2 {
			user = "u2"
		} else {
			mine = append([]string{id}, mine...)
		}
		e.exec(t, `INSERT INTO orders (id, user_id, status, total_cents, items, reason, created_at, updated_at, seq)
			VALUES ($1, $2, 'confirmed', 250, '[{"product_id":"p1","quantity":1}]', '', $3, $3, $4)`, id, user, base.Add(time.Duration(i)*time.Second), i+1)
	}
	ids, pages := page(t, srv.URL, "/api/orders?user_id=u1&limit=2", "orders")
	require.Equal(t, mine, ids)
	require.Equal(t, 3, pages)
	code, v := call(t, "GET", srv.URL+"/api/orders?user_id=u1&limit=1", "", "")
	require.Equal(t, http.StatusOK, code)
	o := v["orders"].([]any)[0].(map[string]any)
	require.Equal(t, "o6", o["saga_id"])
	require.Equal(t, []any{map[string]any{"product_id": "p1", "quantity": float64(1)}}, o["items"])

	for _, id := range []string{"pc", "pa", "pb"} {
		e.exec(t, `INSERT INTO products (id, name, price_cents, stock, reserved, sold, created_at, seq)
			VALUES ($1, $1, 100, 5, 1, 0, $2, 1)`, id, base)
	}
	ids, _ = page(t, srv.URL+"", "/api/products?limit=2", "products")
	require.Equal(t, []string{"pa", "pb", "pc"}, ids)
}

func TestAPIOrderShowsItsPayments(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	srv := e.api(t)
	code, o := call(t, "POST", srv.URL+"/api/orders", orderBody(`[{"product_id":"p1","quantity":1}]`, "tok_ok"), "")
	require.Equal(t, http.StatusAccepted, code, o)
	id := o["order_id"].(string)
	code, s := call(t, "GET", srv.URL+"/api/sagas/"+id+"?wait=20s", "", "")
	require.Equal(t, http.StatusOK, code, s)
	require.Equal(t, "completed", s["status"])

	_, ord := call(t, "GET", srv.URL+"/api/orders/"+id, "", "")
	require.NotContains(t, ord, "payments", "the payments read model has not seen it")
	// The orders projection's row, as it would write it.
	e.exec(t, `INSERT INTO payments (order_id, key, status, amount_cents, token, attempt, reason, charged_at, updated_at, seq)
		VALUES ($1, $1 || ':process_payment', 'charged', 250, 'tok_ok', 1, '', now(), now(), 9)`, id)
	_, ord = call(t, "GET", srv.URL+"/api/orders/"+id, "", "")
	require.Equal(t, "confirmed", ord["status"])
	payments := ord["payments"].([]any)
	require.Len(t, payments, 1)
	p := payments[0].(map[string]any)
	require.Equal(t, "charged", p["status"])
	require.EqualValues(t, 250, p["amount_cents"])
	require.NotContains(t, p, "token")
}
