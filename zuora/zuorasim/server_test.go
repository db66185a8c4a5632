package zuorasim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/zuora/zuorasim"
)

// simEnv is a sim served by httptest with a movable clock.
type simEnv struct {
	sim *zuorasim.Server
	srv *httptest.Server
	mu  sync.Mutex
	now time.Time
}

func newSimEnv(t *testing.T, tenants map[string]zuorasim.Tenant) *simEnv {
	t.Helper()
	e := &simEnv{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	sim, err := zuorasim.New(zuorasim.Options{TokenTTL: time.Minute, Now: e.clock}, tenants)
	require.NoError(t, err)
	e.sim, e.srv = sim, httptest.NewServer(sim)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *simEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *simEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// call sends a request and returns the status, headers and decoded JSON body.
func (e *simEnv) call(t *testing.T, method, path, token, contentType, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), "body %s", raw)
	}
	return resp.StatusCode, resp.Header, out
}

func (e *simEnv) token(t *testing.T, id, secret string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"client_id": {id}, "client_secret": {secret}, "grant_type": {"client_credentials"}}
	status, _, body := e.call(t, http.MethodPost, "/oauth/token", "", "application/x-www-form-urlencoded", form.Encode())
	return status, body
}

func (e *simEnv) mustToken(t *testing.T, id, secret string) string {
	t.Helper()
	status, body := e.token(t, id, secret)
	require.Equal(t, http.StatusOK, status, "%v", body)
	return body["access_token"].(string)
}

func demoEnv(t *testing.T) *simEnv {
	t.Helper()
	return newSimEnv(t, zuorasim.DemoTenants())
}

func TestTokenEndpoint(t *testing.T) {
	e := demoEnv(t)
	status, body := e.token(t, "demo-small", "demo-small-secret")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "bearer", body["token_type"])
	require.Equal(t, float64(60), body["expires_in"])
	require.NotEmpty(t, body["access_token"])

	for name, form := range map[string]url.Values{
		"wrong secret":   {"client_id": {"demo-small"}, "client_secret": {"nope"}, "grant_type": {"client_credentials"}},
		"unknown client": {"client_id": {"nobody"}, "client_secret": {"x"}, "grant_type": {"client_credentials"}},
	} {
		t.Run(name, func(t *testing.T) {
			status, _, body := e.call(t, http.MethodPost, "/oauth/token", "", "application/x-www-form-urlencoded", form.Encode())
			require.Equal(t, http.StatusUnauthorized, status)
			require.Equal(t, "invalid_client", body["error"].(map[string]any)["code"])
		})
	}
	t.Run("wrong grant type", func(t *testing.T) {
		form := url.Values{"client_id": {"demo-small"}, "client_secret": {"demo-small-secret"}, "grant_type": {"password"}}
		status, _, _ := e.call(t, http.MethodPost, "/oauth/token", "", "application/x-www-form-urlencoded", form.Encode())
		require.Equal(t, http.StatusBadRequest, status)
	})
}

func TestWorkflowsPaginationAndShape(t *testing.T) {
	e := demoEnv(t)
	tok := e.mustToken(t, "demo-large", "demo-large-secret")
	var ids []float64
	path := "/workflows?page=1&page_length=50"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 20)
		status, hdr, body := e.call(t, http.MethodGet, path, tok, "", "")
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "application/json", hdr.Get("Content-Type"))
		for _, item := range body["data"].([]any) {
			wf := item.(map[string]any)
			ids = append(ids, wf["id"].(float64))
			_, err := time.Parse(time.DateTime, wf["createdAt"].(string)) // demo-large serves "YYYY-MM-DD HH:MM:SS"
			require.NoError(t, err)
			require.Contains(t, []any{"Active", "Inactive"}, wf["status"])
		}
		pg := body["pagination"].(map[string]any)
		require.Equal(t, float64(50), pg["page_length"])
		path = ""
		if next, ok := pg["next_page"].(string); ok {
			require.True(t, strings.HasPrefix(next, e.srv.URL+"/workflows?"), "absolute next_page %s", next)
			path = strings.TrimPrefix(next, e.srv.URL)
		}
	}
	require.Len(t, ids, 500)
	for i, id := range ids {
		require.Equal(t, float64(i+1), id, "sorted by id")
	}

	t.Run("iso and mixed formats", func(t *testing.T) {
		tok := e.mustToken(t, "demo-small", "demo-small-secret")
		_, _, body := e.call(t, http.MethodGet, "/workflows?page=1&page_length=50", tok, "", "")
		wf := body["data"].([]any)[0].(map[string]any)
		_, err := time.Parse(time.RFC3339, wf["updatedAt"].(string))
		require.NoError(t, err)
		_, hasNext := body["pagination"].(map[string]any)["next_page"]
		require.False(t, hasNext, "12 workflows fit one page")
	})
}

func TestWorkflowsRefusals(t *testing.T) {
	e := demoEnv(t)
	tok := e.mustToken(t, "demo-small", "demo-small-secret")
	tests := []struct {
		name, path, token string
		status            int
		field             string
	}{
		{"no token", "/workflows", "", http.StatusUnauthorized, ""},
		{"unknown token", "/workflows", "deadbeef", http.StatusUnauthorized, ""},
		{"page_length 51", "/workflows?page_length=51", tok, http.StatusBadRequest, "page_length"},
		{"page_length 0", "/workflows?page_length=0", tok, http.StatusBadRequest, "page_length"},
		{"page 0", "/workflows?page=0", tok, http.StatusBadRequest, "page"},
		{"page text", "/workflows?page=two", tok, http.StatusBadRequest, "page"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.call(t, http.MethodGet, tt.path, tt.token, "", "")
			require.Equal(t, tt.status, status)
			errBody := body["error"].(map[string]any)
			require.NotEmpty(t, errBody["code"])
			require.NotEmpty(t, errBody["message"])
			if tt.field != "" {
				require.Equal(t, tt.field, errBody["field"])
			}
		})
	}
	t.Run("expired token", func(t *testing.T) {
		e.advance(61 * time.Second)
		status, _, _ := e.call(t, http.MethodGet, "/workflows", tok, "", "")
		require.Equal(t, http.StatusUnauthorized, status)
	})
	t.Run("default page length and a page past the end", func(t *testing.T) {
		tok := e.mustToken(t, "demo-large", "demo-large-secret")
		_, _, body := e.call(t, http.MethodGet, "/workflows", tok, "", "")
		require.Len(t, body["data"], 20)
		_, _, body = e.call(t, http.MethodGet, "/workflows?page=99&page_length=50", tok, "", "")
		require.Empty(t, body["data"])
		_, hasNext := body["pagination"].(map[string]any)["next_page"]
		require.False(t, hasNext)
	})
}

func TestControlAPI(t *testing.T) {
	e := demoEnv(t)
	put := `{"client_secret":"s2","time_format":"mixed","workflows":[` +
		`{"id":7,"name":"b","status":"Inactive","createdAt":"2026-01-01T00:00:00Z"},{"id":3,"name":"a"}]}`
	status, _, body := e.call(t, http.MethodPut, "/_sim/tenants/acme", "", "application/json", put)
	require.Equal(t, http.StatusOK, status, "%v", body)
	tok := e.mustToken(t, "acme", "s2")

	status, _, _ = e.call(t, http.MethodPost, "/_sim/tenants/acme/faults", "", "application/json", `{"page":1,"status":429,"times":2,"retry_after":3}`)
	require.Equal(t, http.StatusCreated, status)
	for range 2 {
		status, hdr, body := e.call(t, http.MethodGet, "/workflows?page=1&page_length=50", tok, "", "")
		require.Equal(t, http.StatusTooManyRequests, status)
		require.Equal(t, "3", hdr.Get("Retry-After"))
		require.Equal(t, "simulated_fault", body["error"].(map[string]any)["code"])
	}
	status, _, body = e.call(t, http.MethodGet, "/workflows?page=1&page_length=50", tok, "", "")
	require.Equal(t, http.StatusOK, status)
	data := body["data"].([]any)
	require.Equal(t, float64(3), data[0].(map[string]any)["id"], "sorted by id")
	require.Equal(t, "Active", data[0].(map[string]any)["status"], "status defaults to Active")
	require.Equal(t, "2026-01-01T00:00:00.000Z", data[1].(map[string]any)["createdAt"], "odd id: ISO")

	status, _, _ = e.call(t, http.MethodPost, "/_sim/tenants/acme/faults", "", "application/json", `{"page":1,"status":500,"times":5}`)
	require.Equal(t, http.StatusCreated, status)
	status, _, _ = e.call(t, http.MethodDelete, "/_sim/tenants/acme/faults", "", "", "")
	require.Equal(t, http.StatusNoContent, status)
	status, _, _ = e.call(t, http.MethodGet, "/workflows?page=1&page_length=50", tok, "", "")
	require.Equal(t, http.StatusOK, status, "faults cleared")

	status, _, _ = e.call(t, http.MethodDelete, "/_sim/tenants/acme/tokens", "", "", "")
	require.Equal(t, http.StatusNoContent, status)
	status, _, _ = e.call(t, http.MethodGet, "/workflows?page=1&page_length=50", tok, "", "")
	require.Equal(t, http.StatusUnauthorized, status, "tokens revoked")

	tok = e.mustToken(t, "acme", "s2")
	status, _, _ = e.call(t, http.MethodPut, "/_sim/tenants/acme", "", "application/json", `{"client_secret":"s3","workflows":[]}`)
	require.Equal(t, http.StatusOK, status)
	status, _, _ = e.call(t, http.MethodGet, "/workflows", tok, "", "")
	require.Equal(t, http.StatusUnauthorized, status, "a new secret revokes the old tokens")

	status, _, body = e.call(t, http.MethodGet, "/_sim/stats", "", "", "")
	require.Equal(t, http.StatusOK, status)
	acme := body["tenants"].(map[string]any)["acme"].(map[string]any)
	require.Equal(t, float64(2), acme["token_requests"])
	require.Equal(t, float64(4), acme["page_requests"], "401s with an unknown token count in the total only")
	require.Equal(t, float64(2), acme["faults_served"])
	require.Equal(t, float64(2), body["token_requests"])
	require.Equal(t, float64(6), body["page_requests"])
	require.Equal(t, float64(2), body["unauthorized"])
}

func TestControlAPIRefusesBadInput(t *testing.T) {
	e := demoEnv(t)
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		field                           string
	}{
		{"malformed json", http.MethodPut, "/_sim/tenants/x", "application/json", `{"client_secret":`, 400, ""},
		{"unknown field", http.MethodPut, "/_sim/tenants/x", "application/json", `{"secret":"a"}`, 400, ""},
		{"two values", http.MethodPut, "/_sim/tenants/x", "application/json", `{"client_secret":"a"}{}`, 400, ""},
		{"no secret", http.MethodPut, "/_sim/tenants/x", "application/json", `{"workflows":[]}`, 400, "client_secret"},
		{"bad id", http.MethodPut, "/_sim/tenants/x", "application/json", `{"client_secret":"a","workflows":[{"id":0}]}`, 400, "workflows[0].id"},
		{"duplicate id", http.MethodPut, "/_sim/tenants/x", "application/json", `{"client_secret":"a","workflows":[{"id":1},{"id":1}]}`, 400, "workflows[1].id"},
		{"bad status", http.MethodPut, "/_sim/tenants/x", "application/json", `{"client_secret":"a","workflows":[{"id":1,"status":"On"}]}`, 400, "workflows[0].status"},
		{"bad time format", http.MethodPut, "/_sim/tenants/x", "application/json", `{"client_secret":"a","time_format":"unix"}`, 400, "time_format"},
		{"bad timestamp", http.MethodPut, "/_sim/tenants/x", "application/json", `{"client_secret":"a","workflows":[{"id":1,"createdAt":"yesterday"}]}`, 400, ""},
		{"wrong media type", http.MethodPut, "/_sim/tenants/x", "text/plain", `{}`, 415, ""},
		{"fault page 0", http.MethodPost, "/_sim/tenants/demo-small/faults", "application/json", `{"page":0,"status":500,"times":1}`, 400, "page"},
		{"fault status 200", http.MethodPost, "/_sim/tenants/demo-small/faults", "application/json", `{"page":1,"status":200,"times":1}`, 400, "status"},
		{"fault times 0", http.MethodPost, "/_sim/tenants/demo-small/faults", "application/json", `{"page":1,"status":500}`, 400, "times"},
		{"fault unknown tenant", http.MethodPost, "/_sim/tenants/nobody/faults", "application/json", `{"page":1,"status":500,"times":1}`, 404, ""},
		{"clear unknown tenant", http.MethodDelete, "/_sim/tenants/nobody/faults", "", "", 404, ""},
		{"unknown endpoint", http.MethodGet, "/nope", "", "", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.call(t, tt.method, tt.path, "", tt.ctype, tt.body)
			require.Equal(t, tt.status, status, "%v", body)
			errBody := body["error"].(map[string]any)
			require.NotEmpty(t, errBody["code"])
			require.NotEmpty(t, errBody["message"])
			if tt.field != "" {
				require.Equal(t, tt.field, errBody["field"])
			}
		})
	}
}

func TestLatencyIsAddedPerPage(t *testing.T) {
	sim, err := zuorasim.New(zuorasim.Options{Latency: 30 * time.Millisecond}, zuorasim.DemoTenants())
	require.NoError(t, err)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	e := &simEnv{sim: sim, srv: srv}
	tok := e.mustToken(t, "demo-small", "demo-small-secret")
	start := time.Now()
	status, _, _ := e.call(t, http.MethodGet, "/workflows", tok, "", "")
	require.Equal(t, http.StatusOK, status)
	require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond) // a lower bound only: never flaky
}

func TestNewRefusesBadTenants(t *testing.T) {
	_, err := zuorasim.New(zuorasim.Options{}, map[string]zuorasim.Tenant{"x": {}})
	require.ErrorContains(t, err, "client_secret")
}
