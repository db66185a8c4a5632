package workflowsync

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/migrations"
	"github.com/eventline/eventline/platform/httpapi"
)

// testKey is a fixed 32-byte key.
var testKey = bytes.Repeat([]byte{7}, KeySize)

// newPool returns a pool on a fresh, migrated database with the
// credentials table.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(ctx, pool)
	require.NoError(t, err)
	return pool
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// apiEnv is the write endpoints over a real JetStream and PostgreSQL.
type apiEnv struct {
	URL       string
	store     *eventstore.Store
	pool      *pgxpool.Pool
	secrets   *Secrets
	customers *aggregate.Handler[workflows.Customer, any]
	logs      *syncBuffer
	nats      *natsserver.Server
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	ctx := context.Background()
	srv := testenv.NATS(t)
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: srv.ClientURL(), Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	mod := Module(Config{SecretKey: func() ([]byte, error) { return testKey, nil }})
	require.NoError(t, st.EnsureStreams(ctx, mod.Streams))
	pool := newPool(t)
	secrets, err := NewSecrets(pool, testKey)
	require.NoError(t, err)
	customers, err := NewCustomers(st, Registry(), eventstore.NewSnapshots(st))
	require.NoError(t, err)
	idem, err := httpapi.NewIdempotency(ctx, st.JetStream(), 1, 0)
	require.NoError(t, err)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hs := httpapi.NewServer(httpapi.ServerConfig{Logger: log})
	NewWrites(customers, secrets, idem, log).Mount(hs)
	ts := httptest.NewServer(hs)
	t.Cleanup(ts.Close)
	return &apiEnv{URL: ts.URL, store: st, pool: pool, secrets: secrets, customers: customers, logs: logs, nats: srv}
}

// response is an answer as the tests look at it.
type response struct {
	Status int
	Header http.Header
	Body   string
}

// json decodes the body into a map.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Body), &m), r.Body)
	return m
}

// errorCode returns the error code and field of an error answer.
func (r response) errorCode(t *testing.T) (string, string) {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	require.True(t, ok, r.Body)
	field, _ := e["field"].(string)
	return e["code"].(string), field
}

// post sends body to path with optional headers (name, value pairs).
func (e *apiEnv) post(t *testing.T, path, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// customerBody is a valid POST /api/customers body.
func customerBody(name, secret string) string {
	b, _ := json.Marshal(map[string]any{"name": name, "zuora": map[string]string{
		"base_url": "https://rest.test.zuora.com", "client_id": "client-" + name, "client_secret": secret}})
	return string(b)
}

// createCustomer creates a customer and returns its id.
func (e *apiEnv) createCustomer(t *testing.T, name, secret string) string {
	t.Helper()
	r := e.post(t, "/api/customers", customerBody(name, secret))
	require.Equal(t, http.StatusCreated, r.Status, r.Body)
	return r.json(t)["id"].(string)
}

// streamBytes returns every stored message of the WORKFLOWS stream, headers
// and data, as one string.
func (e *apiEnv) streamBytes(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	js := e.store.JetStream()
	st, err := js.Stream(ctx, workflows.Stream)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	var all strings.Builder
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := st.GetMsg(ctx, seq)
		require.NoError(t, err)
		for k, vs := range msg.Header {
			all.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
		all.Write(msg.Data)
		all.WriteString("\n")
	}
	return all.String()
}
