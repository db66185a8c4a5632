package orders_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// order builds a POST /api/orders body around items and token.
func orderBody(items, token string) string {
	return `{"user_id":"u1","items":` + items + `,"payment":{"token":"` + token + `"}}`
}

func TestAPIRefusesHostileBodies(t *testing.T) {
	e := newEnv(t)
	srv := e.api(t)
	long := strings.Repeat("a", 201)
	many := "[" + strings.TrimSuffix(strings.Repeat(`{"product_id":"p1","quantity":1},`, 101), ",") + "]"
	tests := []struct {
		name, path, body string
		field            string // the field error's field, when one is expected
	}{
		{"invalid UTF-8 in a name", "/api/users", "{\"name\":\"a\xff\xfe\",\"email\":\"a@example.com\"}", ""},
		{"invalid UTF-8 outside strings", "/api/users", "{\"name\":\"a\",\"email\":\"a@example.com\"}\xff", ""},
		{"lone high surrogate", "/api/users", `{"name":"a\ud800","email":"a@example.com"}`, ""},
		{"lone low surrogate", "/api/users", `{"name":"a\udc00","email":"a@example.com"}`, ""},
		{"high surrogate then a letter", "/api/products", `{"name":"\ud800\u0041","price_cents":1,"stock":1}`, ""},
		{"high surrogate at the end", "/api/products", `{"name":"\uD83D`, ""},
		{"NUL escape", "/api/users", `{"name":"a\u0000","email":"a@example.com"}`, ""},
		{"NUL escape in a token", "/api/orders", orderBody(`[{"product_id":"p1","quantity":1}]`, `tok\u0000`), ""},
		{"unknown field", "/api/products", `{"name":"a","price_cents":1,"stock":1,"stok":5}`, ""},
		{"two objects", "/api/users", `{"name":"a","email":"a@example.com"}{}`, ""},
		{"not an object", "/api/users", `[1,2]`, ""},
		{"number too large", "/api/products", `{"name":"a","price_cents":1e30,"stock":1}`, ""},
		{"quantity as a string", "/api/orders", orderBody(`[{"product_id":"p1","quantity":"1"}]`, "tok_ok"), ""},
		{"name too long", "/api/users", `{"name":"` + long + `","email":"a@example.com"}`, "name"},
		{"product name too long", "/api/products", `{"name":"` + long + `","price_cents":1,"stock":1}`, "name"},
		{"email too long", "/api/users", `{"name":"a","email":"` + strings.Repeat("a", 250) + `@example.com"}`, "email"},
		{"negative price", "/api/products", `{"name":"a","price_cents":-1,"stock":1}`, "price_cents"},
		{"price too high", "/api/products", `{"name":"a","price_cents":1000000001,"stock":1}`, "price_cents"},
		{"stock too high", "/api/products", `{"name":"a","price_cents":1,"stock":1000000000001}`, "stock"},
		{"no items", "/api/orders", orderBody(`[]`, "tok_ok"), "items"},
		{"too many items", "/api/orders", orderBody(many, "tok_ok"), "items"},
		{"zero quantity", "/api/orders", orderBody(`[{"product_id":"p1","quantity":0}]`, "tok_ok"), "items[0].quantity"},
		{"quantity too high", "/api/orders", orderBody(`[{"product_id":"p1","quantity":1000001}]`, "tok_ok"), "items[0].quantity"},
		{"duplicates add up too high", "/api/orders",
			orderBody(`[{"product_id":"p1","quantity":600000},{"product_id":"p1","quantity":600000}]`, "tok_ok"), "items[1].quantity"},
		{"no token", "/api/orders", orderBody(`[{"product_id":"p1","quantity":1}]`, ""), "payment.token"},
		{"token too long", "/api/orders", orderBody(`[{"product_id":"p1","quantity":1}]`, strings.Repeat("t", 65)), "payment.token"},
		{"wildcard user id", "/api/orders", `{"user_id":">","items":[{"product_id":"p1","quantity":1}],"payment":{"token":"tok_ok"}}`, "user_id"},
		{"dotted product id", "/api/orders", orderBody(`[{"product_id":"p.1","quantity":1}]`, "tok_ok"), "items[0].product_id"},
		{"product id too long", "/api/orders", orderBody(`[{"product_id":"`+strings.Repeat("p", 129)+`","quantity":1}]`, "tok_ok"), "items[0].product_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, v := call(t, "POST", srv.URL+tt.path, tt.body, "")
			require.Equal(t, http.StatusBadRequest, code, v)
			apiErr, ok := v["error"].(map[string]any)
			require.True(t, ok, "the contract's error shape: %v", v)
			require.NotEmpty(t, apiErr["code"])
			require.NotEmpty(t, apiErr["message"])
			if tt.field != "" {
				require.Equal(t, tt.field, apiErr["field"], apiErr)
			}
		})
	}
}

func TestAPIAcceptsBodiesAtTheirBounds(t *testing.T) {
	e := newEnv(t)
	srv := e.api(t)
	tests := []struct {
		name, path, body string
		code             int
	}{
		{"a surrogate pair", "/api/users", `{"name":"Ada \ud83d\ude00","email":"ada@example.com"}`, http.StatusCreated},
		{"an escaped backslash before u0000", "/api/users", `{"name":"a\\u0000","email":"ada@example.com"}`, http.StatusCreated},
		{"the largest price and stock", "/api/products", `{"name":"Pen","price_cents":1000000000,"stock":1000000000000}`, http.StatusCreated},
		{"order_id is accepted and ignored", "/api/orders",
			`{"order_id":"mine","user_id":"u1","items":[{"product_id":"p1","quantity":1}],"payment":{"token":"tok_ok"}}`, http.StatusAccepted},
		{"lines of one product add up", "/api/orders",
			orderBody(`[{"product_id":"p1","quantity":1},{"product_id":"p1","quantity":2}]`, strings.Repeat("t", 64)), http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, v := call(t, "POST", srv.URL+tt.path, tt.body, "")
			require.Equal(t, tt.code, code, v)
			if id, ok := v["order_id"].(string); ok {
				require.NotEqual(t, "mine", id)
			}
		})
	}
}

func TestAPIRefusesIDsThatAreNotIDs(t *testing.T) {
	e := newEnv(t)
	srv := e.api(t)
	for _, path := range []string{"/api/sagas/%3E", "/api/sagas/a.b", "/api/sagas/%2A/events", "/api/orders/a%20b",
		"/api/users/%3E", "/api/products/a.%3E", "/api/sagas/" + strings.Repeat("s", 129)} {
		t.Run(path, func(t *testing.T) {
			code, v := call(t, "GET", srv.URL+path, "", "")
			require.Equal(t, http.StatusNotFound, code, v)
			require.Contains(t, v, "error")
		})
	}
	code, v := call(t, "POST", srv.URL+"/api/sagas/%3E/abort", "", "")
	require.Equal(t, http.StatusNotFound, code, v)
}
