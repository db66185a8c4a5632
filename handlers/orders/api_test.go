package orders_test

import (
	"bytes"
	"context"
	json "github.com/go-json-experiment/json/v1"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/handlers/orders"
	"github.com/eventline/eventline/platform/httpapi"
)

// api serves the orders API of e over HTTP.
func (e *env) api(t *testing.T) *httptest.Server {
	t.Helper()
	idem, err := httpapi.NewIdempotency(context.Background(), e.store.JetStream(), 1, 0)
	require.NoError(t, err)
	s := httpapi.NewServer(httpapi.ServerConfig{})
	orders.NewAPI(e.manager, e.parts, idem, policy, orders.ReadSide{Events: e.store, Pool: e.pool}).Mount(s)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

// call sends a request and decodes the JSON answer.
func call(t *testing.T, method, url, body, key string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return resp.StatusCode, v
}

func TestAPIRunsAnOrderToTheEnd(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	srv := e.api(t)

	code, u := call(t, "POST", srv.URL+"/api/users", `{"name":"Ada","email":"ada@example.com"}`, "")
	require.Equal(t, http.StatusCreated, code, u)
	code, p := call(t, "POST", srv.URL+"/api/products", `{"name":"Pen","price_cents":150,"stock":2}`, "")
	require.Equal(t, http.StatusCreated, code, p)
	body := `{"user_id":"` + u["id"].(string) + `","items":[{"product_id":"` + p["id"].(string) + `","quantity":1}],"payment":{"token":"tok_ok"}}`

	code, o := call(t, "POST", srv.URL+"/api/orders", body, "k1")
	require.Equal(t, http.StatusAccepted, code, o)
	id := o["saga_id"].(string)
	require.Equal(t, id, o["order_id"])
	code, again := call(t, "POST", srv.URL+"/api/orders", body, "k1")
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, id, again["saga_id"], "the same Idempotency-Key starts one saga")

	code, ord := call(t, "GET", srv.URL+"/api/orders/"+id, "", "")
	require.Equal(t, http.StatusOK, code, "the order is found as soon as the POST answered")
	require.Contains(t, []any{"pending", "confirmed"}, ord["status"])

	code, s := call(t, "GET", srv.URL+"/api/sagas/"+id+"?wait=20s", "", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "completed", s["status"], s)
	require.Len(t, s["steps"], 5)
	e.drained(t)
	_, ord = call(t, "GET", srv.URL+"/api/orders/"+id, "", "")
	require.Equal(t, "confirmed", ord["status"])
	_, prod := call(t, "GET", srv.URL+"/api/products/"+p["id"].(string), "", "")
	require.EqualValues(t, 1, prod["stock"])
	require.EqualValues(t, 0, prod["reserved"])
}

func TestAPIRefusesBadRequests(t *testing.T) {
	e := newEnv(t)
	srv := e.api(t)
	tests := []struct {
		name, method, path, body string
		code                     int
	}{
		{"malformed", "POST", "/api/users", `{"name":`, http.StatusBadRequest},
		{"invalid email", "POST", "/api/users", `{"name":"a","email":"nope"}`, http.StatusBadRequest},
		{"negative stock", "POST", "/api/products", `{"name":"a","price_cents":1,"stock":-1}`, http.StatusBadRequest},
		{"no items", "POST", "/api/orders", `{"user_id":"u1","items":[],"payment":{"token":"tok_ok"}}`, http.StatusBadRequest},
		{"unknown saga", "GET", "/api/sagas/nope", "", http.StatusNotFound},
		{"unknown order", "GET", "/api/orders/nope", "", http.StatusNotFound},
		{"bad wait", "GET", "/api/sagas/nope?wait=soon", "", http.StatusBadRequest},
		{"retry an unknown saga", "POST", "/api/sagas/nope/retry", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, v := call(t, tt.method, srv.URL+tt.path, tt.body, "")
			require.Equal(t, tt.code, code, v)
			require.Contains(t, v, "error")
		})
	}
}
