package workflowsync

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore/aggregate"
)

func TestCreateCustomerValidation(t *testing.T) {
	e := newAPIEnv(t)
	body := func(name, baseURL, clientID, secret string) string {
		b, _ := json.Marshal(map[string]any{"name": name, "zuora": map[string]string{
			"base_url": baseURL, "client_id": clientID, "client_secret": secret}})
		return string(b)
	}
	const u = "https://rest.zuora.com"
	tests := []struct {
		name, body        string
		status            int
		code, field       string
		contentType, note string
	}{
		{name: "no name", body: body("", u, "c", "s"), status: 400, code: "invalid_field", field: "name"},
		{name: "blank name", body: body("   ", u, "c", "s"), status: 400, code: "invalid_field", field: "name"},
		{name: "name too long", body: body(strings.Repeat("é", 201), u, "c", "s"), status: 400, code: "invalid_field", field: "name"},
		{name: "name with NUL", body: `{"name":"a\u0000b","zuora":{"base_url":"` + u + `","client_id":"c","client_secret":"s"}}`, status: 400, code: "invalid_field", field: "name"},
		{name: "lone surrogate", body: `{"name":"a\ud800b","zuora":{"base_url":"` + u + `","client_id":"c","client_secret":"s"}}`, status: 400, code: "invalid_field", field: "name"},
		{name: "no base url", body: body("a", "", "c", "s"), status: 400, code: "invalid_field", field: "zuora.base_url"},
		{name: "relative base url", body: body("a", "/v1", "c", "s"), status: 400, code: "invalid_field", field: "zuora.base_url"},
		{name: "ftp base url", body: body("a", "ftp://zuora.com", "c", "s"), status: 400, code: "invalid_field", field: "zuora.base_url"},
		{name: "base url with credentials", body: body("a", "https://u:p@zuora.com", "c", "s"), status: 400, code: "invalid_field", field: "zuora.base_url"},
		{name: "base url too long", body: body("a", u+"/"+strings.Repeat("x", MaxURLLen), "c", "s"), status: 400, code: "invalid_field", field: "zuora.base_url"},
		{name: "no client id", body: body("a", u, "", "s"), status: 400, code: "invalid_field", field: "zuora.client_id"},
		{name: "client id too long", body: body("a", u, strings.Repeat("c", MaxClientIDLen+1), "s"), status: 400, code: "invalid_field", field: "zuora.client_id"},
		{name: "no client secret", body: body("a", u, "c", ""), status: 400, code: "invalid_field", field: "zuora.client_secret"},
		{name: "client secret too long", body: body("a", u, "c", strings.Repeat("s", MaxClientSecretLen+1)), status: 400, code: "invalid_field", field: "zuora.client_secret"},
		{name: "client secret too short", body: body("a", u, "c", "1234567"), status: 400, code: "invalid_field", field: "zuora.client_secret"},
		{name: "client secret of one character", body: body("a", u, "c", "e"), status: 400, code: "invalid_field", field: "zuora.client_secret"},
		{name: "no zuora object", body: `{"name":"a"}`, status: 400, code: "invalid_field", field: "zuora.base_url"},
		{name: "name of the wrong type", body: `{"name":5}`, status: 400, code: "invalid_field", field: "name"},
		{name: "not json", body: `{"name":`, status: 400, code: "invalid_json"},
		{name: "an array", body: `[]`, status: 400, code: "invalid_json"},
		{name: "two objects", body: `{} {}`, status: 400, code: "invalid_json"},
		{name: "too large", body: `{"name":"` + strings.Repeat("a", MaxCustomerBody) + `"}`, status: 413, code: "body_too_large"},
		{name: "wrong media type", body: body("a", u, "c", "s"), contentType: "text/plain", status: 415, code: "unsupported_media_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.contentType != "" {
				headers = []string{"Content-Type", tt.contentType}
			}
			r := e.post(t, "/api/customers", tt.body, headers...)
			require.Equal(t, tt.status, r.Status, r.Body)
			code, field := r.errorCode(t)
			require.Equal(t, tt.code, code)
			require.Equal(t, tt.field, field)
		})
	}
	require.Equal(t, "", e.streamBytes(t), "no refused request appended anything")
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM customer_credentials`).Scan(&n))
	require.Zero(t, n)
}

func TestCreateCustomerStartsTheFirstSync(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	r := e.post(t, "/api/customers", customerBody("acme", "pw-secret"))
	require.Equal(t, http.StatusCreated, r.Status, r.Body)
	id, syncID := r.json(t)["id"].(string), r.json(t)["sync_id"].(string)
	_, err := uuid.Parse(id)
	require.NoError(t, err)
	seq, err := strconv.ParseUint(r.Header.Get("X-Eventline-Seq"), 10, 64)
	require.NoError(t, err)

	st, last, err := e.customers.Load(ctx, id)
	require.NoError(t, err)
	require.Equal(t, seq, last, "X-Eventline-Seq is the sequence of the last event")
	require.True(t, st.Exists)
	require.Equal(t, "acme", st.Name)
	require.Equal(t, "client-acme", st.ClientID)
	require.NotNil(t, st.Running)
	require.Equal(t, syncID, st.Running.SyncID)
	require.Equal(t, workflows.TriggerCreated, st.Running.Trigger)

	r = e.post(t, "/api/customers", customerBody("acme", "other-secret"))
	require.Equal(t, http.StatusConflict, r.Status, r.Body)
	code, field := r.errorCode(t)
	require.Equal(t, "customer_exists", code)
	require.Equal(t, "name", field)
}

func TestStartSync(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	id := e.createCustomer(t, "acme", "pw-secret")
	path := "/api/customers/" + id + "/sync"

	r := e.post(t, path, "")
	require.Equal(t, http.StatusConflict, r.Status, r.Body)
	code, _ := r.errorCode(t)
	require.Equal(t, "sync_running", code, "the first sync still runs")

	st, _, err := e.customers.Load(ctx, id)
	require.NoError(t, err)
	require.Contains(t, r.Body, st.Running.SyncID, "the answer names the running sync")
	e.finish(t, id, st.Running.SyncID)

	tests := []struct {
		name, query, body string
		status            int
		allow             bool
		code, field       string
	}{
		{name: "no body", status: 202},
		{name: "query", query: "?allow_mass_delete=true", status: 202, allow: true},
		{name: "body", body: `{"allow_mass_delete":true}`, status: 202, allow: true},
		{name: "body false", body: `{"allow_mass_delete":false}`, status: 202},
		{name: "bad query", query: "?allow_mass_delete=maybe", status: 400, code: "invalid_field", field: "allow_mass_delete"},
		{name: "bad body type", body: `{"allow_mass_delete":"yes"}`, status: 400, code: "invalid_field", field: "allow_mass_delete"},
		{name: "bad json", body: `{`, status: 400, code: "invalid_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.post(t, path+tt.query, tt.body)
			require.Equal(t, tt.status, r.Status, r.Body)
			if tt.status != http.StatusAccepted {
				code, field := r.errorCode(t)
				require.Equal(t, tt.code, code)
				require.Equal(t, tt.field, field)
				return
			}
			syncID := r.json(t)["sync_id"].(string)
			st, last, err := e.customers.Load(ctx, id)
			require.NoError(t, err)
			require.Equal(t, strconv.FormatUint(last, 10), r.Header.Get("X-Eventline-Seq"))
			require.Equal(t, syncID, st.Running.SyncID)
			require.Equal(t, workflows.TriggerManual, st.Running.Trigger)
			require.Equal(t, tt.allow, st.Running.AllowMassDelete)
			e.finish(t, id, syncID)
		})
	}

	for _, unknown := range []string{uuid.NewString(), "not-a-uuid"} {
		r := e.post(t, "/api/customers/"+unknown+"/sync", "")
		require.Equal(t, http.StatusNotFound, r.Status, r.Body)
		code, _ := r.errorCode(t)
		require.Equal(t, "customer_not_found", code)
	}
}

// finish ends a running sync, as the worker would.
func (e *apiEnv) finish(t *testing.T, id, syncID string) {
	t.Helper()
	_, err := e.customers.Handle(context.Background(), id, workflows.Fail{SyncID: syncID, Reason: "test", Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
}

func TestWritesAreIdempotent(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	body := customerBody("acme", "pw-secret")
	first := e.post(t, "/api/customers", body, "Idempotency-Key", "k1")
	require.Equal(t, http.StatusCreated, first.Status, first.Body)
	again := e.post(t, "/api/customers", body, "Idempotency-Key", "k1")
	require.Equal(t, http.StatusCreated, again.Status, again.Body)
	require.Equal(t, first.Body, again.Body)
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Equal(t, first.Header.Get("X-Eventline-Seq"), again.Header.Get("X-Eventline-Seq"))
	id := first.json(t)["id"].(string)

	// A take-over of a crashed first attempt: the same derived ids, the
	// events already stored are not stored again.
	w := NewWrites(e.customers, e.secrets, nil, nil)
	c, err := decodeCustomer([]byte(body))
	require.NoError(t, err)
	_, err = w.create(ctx, c, "idem-other-key")
	require.ErrorIs(t, err, ErrNameTaken, "another key, the same name: another customer")
	c.Name = "globex"
	resp1, err := w.create(ctx, c, "idem-globex")
	require.NoError(t, err)
	resp2, err := w.create(ctx, c, "idem-globex")
	require.NoError(t, err)
	require.Equal(t, resp1.Body, resp2.Body)
	require.Equal(t, resp1.Seq, resp2.Seq)

	started := e.post(t, "/api/customers/"+id+"/sync", "", "Idempotency-Key", "s1")
	require.Equal(t, http.StatusConflict, started.Status, "the first sync runs")
	st, _, err := e.customers.Load(ctx, id)
	require.NoError(t, err)
	e.finish(t, id, st.Running.SyncID)
	started = e.post(t, "/api/customers/"+id+"/sync", "", "Idempotency-Key", "s2")
	require.Equal(t, http.StatusAccepted, started.Status, started.Body)
	replayed := e.post(t, "/api/customers/"+id+"/sync", "", "Idempotency-Key", "s2")
	require.Equal(t, started.Body, replayed.Body)

	types := e.eventTypes(t)
	require.Equal(t, 2, types[workflows.CustomerCreatedV1], "acme and globex once each")
	require.Equal(t, 3, types[workflows.SyncStartedV1], "their first syncs, and s2 once")
}

// eventTypes counts the WORKFLOWS stream's events by type.
func (e *apiEnv) eventTypes(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, line := range strings.Split(e.streamBytes(t), "\n") {
		if v, ok := strings.CutPrefix(line, "Eventline-Type: "); ok {
			out[v]++
		}
	}
	return out
}

func TestClientSecretNeverLeaks(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	const secret = "Zs3cr3t-never-in-a-log-9f2c"
	var bodies []string
	record := func(r response) response {
		bodies = append(bodies, r.Body)
		for k, vs := range r.Header {
			bodies = append(bodies, k+": "+strings.Join(vs, ","))
		}
		return r
	}
	id := record(e.post(t, "/api/customers", customerBody("acme", secret))).json(t)["id"].(string)
	record(e.post(t, "/api/customers", customerBody("acme", secret)))
	record(e.post(t, "/api/customers", `{"name":"b","zuora":{"base_url":"nope","client_id":"c","client_secret":"`+secret+`"}}`))
	record(e.post(t, "/api/customers", `{"name":"b","zuora":{"base_url":"https://z","client_id":"c","client_secret":"`+secret+`"`))
	record(e.post(t, "/api/customers", `{"name":"b","zuora":{"base_url":"https://z","client_id":"c","client_secret":["`+secret+`"]}}`))
	record(e.post(t, "/api/customers/"+id+"/sync", ""))

	got, err := e.secrets.Load(ctx, id)
	require.NoError(t, err)
	require.Equal(t, secret, got, "stored, encrypted")
	for _, b := range bodies {
		require.NotContains(t, b, secret)
	}
	stream := e.streamBytes(t)
	require.Contains(t, stream, `"client_id":"client-acme"`)
	require.NotContains(t, stream, secret, "never in an event")
	require.NotContains(t, e.logs.String(), secret, "never in a log line")

	var dump string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT string_agg(t::text, ' ') FROM customer_credentials t`).Scan(&dump))
	require.NotContains(t, dump, secret, "encrypted at rest")
}

func TestCreateCustomerForgetsCredentialsWhenTheLogIsDown(t *testing.T) {
	e := newAPIEnv(t)
	e.nats.Shutdown()
	r := e.post(t, "/api/customers", customerBody("acme", "pw-secret"))
	require.Equal(t, http.StatusServiceUnavailable, r.Status, r.Body)
	code, _ := r.errorCode(t)
	require.Equal(t, "log_unavailable", code)
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM customer_credentials`).Scan(&n))
	require.Zero(t, n, "the name stays free for a retry")
}
