package logsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/migrations"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// TestMain stops the package's shared PostgreSQL cluster after the tests.
func TestMain(m *testing.M) { testenv.Main(m) }

// logsEnv is a JetStream server and a PostgreSQL database shared by the API
// processes of one test.
type logsEnv struct {
	natsURL string
	pool    *pgxpool.Pool
}

func newLogsEnv(t *testing.T) *logsEnv {
	t.Helper()
	srv := testenv.NATS(t)
	st := connect(t, srv.ClientURL(), "setup")
	require.NoError(t, st.EnsureStreams(context.Background(), testenv.Streams))
	pool, err := pgxpool.New(context.Background(), testenv.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(context.Background(), pool)
	require.NoError(t, err)
	return &logsEnv{natsURL: srv.ClientURL(), pool: pool}
}

func connect(t *testing.T, url, name string) *eventstore.Store {
	t.Helper()
	st, err := eventstore.Connect(context.Background(), eventstore.Options{URL: url, Name: name})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

// apiProc is one API process: its own connections, ingester and HTTP server.
type apiProc struct {
	URL      string
	writes   *eventstore.Store
	reads    *eventstore.Store
	ingester *Ingester
	h        *Handler
}

// startAPI starts an API process over e with the given bounds.
func (e *logsEnv) startAPI(t *testing.T, icfg IngestConfig, lcfg LookupConfig) *apiProc {
	return e.startAPIWith(t, icfg, lcfg, true)
}

// startAPIWith starts an API process; without tail its lookups read the
// log themselves.
func (e *logsEnv) startAPIWith(t *testing.T, icfg IngestConfig, lcfg LookupConfig, tail bool) *apiProc {
	t.Helper()
	p := &apiProc{writes: connect(t, e.natsURL, "writes"), reads: connect(t, e.natsURL, "reads")}
	ctx, cancel := context.WithCancel(context.Background())
	p.ingester = NewIngester(p.writes, icfg, nil)
	done := make(chan struct{})
	go func() { defer close(done); _ = p.ingester.Run(ctx) }()
	tailDone := make(chan struct{})
	idem, err := httpapi.NewIdempotency(ctx, p.writes.JetStream(), 1, 0)
	require.NoError(t, err)
	lcfg.Reads = p.reads
	p.h = NewHandler(p.writes, e.pool, p.ingester, idem, nil, lcfg)
	srv := httpapi.NewServer(httpapi.ServerConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	p.h.Mount(srv)
	if tail {
		go func() { defer close(tailDone); _ = p.h.Run(ctx) }()
		require.Eventually(t, func() bool { return p.h.finder.tail.caughtUp(ctx) }, 10*time.Second, 5*time.Millisecond, "the tail index is enabled")
	} else {
		close(tailDone)
	}
	hs := httptest.NewServer(srv)
	p.URL = hs.URL
	t.Cleanup(func() {
		hs.Close()
		cancel()
		<-done
		<-tailDone
	})
	return p
}

// startProjector runs the logs projector over e until the test ends.
func (e *logsEnv) startProjector(t *testing.T) {
	t.Helper()
	st := connect(t, e.natsURL, "projector")
	ctx, cancel := context.WithCancel(context.Background())
	r := projections.NewRunner(logentries.New(""), st.JetStream(), e.pool,
		projections.Config{BatchSize: 1000, BatchWait: 10 * time.Millisecond}, projections.NewMetrics(prometheus.NewRegistry()),
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// inBytes is what the log has sent this process so far, over both its
// connections: the work its lookups made the log do.
func (p *apiProc) inBytes() uint64 {
	return p.writes.Conn().Stats().InBytes + p.reads.Conn().Stats().InBytes
}

// do sends a request and decodes a JSON answer into out (when not nil).
func do(t *testing.T, method, url, contentType string, body []byte, out any) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out), "body: %s", raw)
	}
	return resp, raw
}

// apiError is the contract's error shape.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}
