package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

func TestReadinessSeparatesFatalFromDegraded(t *testing.T) {
	failing := func(context.Context) error { return errors.New("stalled") }
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name         string
		checks       []Check
		status       int
		degraded     bool
		wantRetryHdr bool
		state        string
	}{
		{"all ok", []Check{{Name: "db", Fn: ok}, {Name: "proj", Fn: ok, Degrades: true}}, 200, false, false, "ok"},
		{"stalled projection", []Check{{Name: "db", Fn: ok}, {Name: "proj", Fn: failing, Degrades: true}}, 200, true, false, "degraded"},
		{"database down", []Check{{Name: "db", Fn: failing}, {Name: "proj", Fn: ok, Degrades: true}}, 503, false, true, "unready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(ServerConfig{Checks: tt.checks})
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
			require.Equal(t, tt.status, w.Code)
			var body struct {
				Status   string            `json:"status"`
				Ready    bool              `json:"ready"`
				Degraded bool              `json:"degraded"`
				Reason   string            `json:"reason"`
				Checks   map[string]string `json:"checks"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
			require.Equal(t, tt.state, body.Status)
			require.Equal(t, tt.state != "ok", body.Reason != "")
			require.Equal(t, tt.status == http.StatusOK, body.Ready)
			require.Equal(t, tt.degraded, body.Degraded)
			require.Len(t, body.Checks, 2)
			require.Equal(t, tt.wantRetryHdr, w.Header().Get("Retry-After") != "")
		})
	}
}

func TestUnknownRoutesAndMethodsAnswerInJSON(t *testing.T) {
	s := NewServer(ServerConfig{})
	s.Handle("GET /api/things", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, "ok") })
	for path, want := range map[string]int{"/api/nothing": 404} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		require.Equal(t, want, w.Code)
		require.Contains(t, w.Body.String(), `"code":"not_found"`)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("PUT", "/api/things", nil))
	require.Equal(t, http.StatusMethodNotAllowed, w.Code)
	require.Contains(t, w.Body.String(), `"code":"method_not_allowed"`)
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
}

// TestReadinessShowsShortReasons: a failing check's raw error (a pgx error
// names the user, the database and the address) is logged, never shown.
func TestReadinessShowsShortReasons(t *testing.T) {
	connErr := func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, "postgres://secretuser@127.0.0.1:1/secretdb?sslmode=disable&connect_timeout=1")
		if err == nil {
			conn.Close(ctx)
		}
		return err
	}
	tests := []struct {
		name   string
		fn     func(context.Context) error
		reason string
	}{
		{"connection refused", connErr, "unreachable"},
		{"timeout", func(ctx context.Context) error { return fmt.Errorf("ping: %w", context.DeadlineExceeded) }, "timeout"},
		{"statement timeout", func(context.Context) error { return &pgconn.PgError{Code: "57014", Message: "canceling statement"} }, "timeout"},
		{"database error", func(context.Context) error {
			return &pgconn.PgError{Code: "3D000", Message: `database "secretdb" does not exist`}
		}, "error (SQLSTATE 3D000)"},
		{"log down", func(context.Context) error { return fmt.Errorf("ping: %w", eventstore.ErrUnavailable) }, "unreachable"},
		{"own message", func(context.Context) error { return errors.New("logs stalled at #3") }, "logs stalled at #3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := NewServer(ServerConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Checks: []Check{{Name: "postgres", Fn: tt.fn, Degrades: true}}})
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
			require.Equal(t, http.StatusOK, w.Code)
			var body struct {
				Status string            `json:"status"`
				Reason string            `json:"reason"`
				Checks map[string]string `json:"checks"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
			require.Equal(t, "degraded", body.Status)
			require.Equal(t, tt.reason, body.Checks["postgres"])
			require.Equal(t, "postgres: "+tt.reason, body.Reason)
			for _, secret := range []string{"secretuser", "secretdb", "127.0.0.1", "user=", "host="} {
				require.NotContains(t, w.Body.String(), secret)
			}
			require.Contains(t, logs.String(), "readiness check failing", "the full error is logged")
		})
	}
}

// TestAPIReadsAreBounded: a GET under /api/ runs under ReadTimeout, and a
// read-your-writes request (?min_seq=) gets MaxMinSeqWait more.
func TestAPIReadsAreBounded(t *testing.T) {
	s := NewServer(ServerConfig{ReadTimeout: 50 * time.Millisecond})
	var left time.Duration
	s.Handle("GET /api/slow", func(w http.ResponseWriter, r *http.Request) {
		d, ok := r.Context().Deadline()
		require.True(t, ok)
		left = time.Until(d)
		<-r.Context().Done()
		WriteError(w, r, r.Context().Err())
	})
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/api/slow", nil))
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Contains(t, w.Body.String(), `"code":"timeout"`)
	require.NotEmpty(t, w.Header().Get("Retry-After"))
	require.LessOrEqual(t, left, 50*time.Millisecond)

	s.Handle("GET /api/deadline", func(w http.ResponseWriter, r *http.Request) {
		d, _ := r.Context().Deadline()
		left = time.Until(d)
	})
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/deadline?min_seq=3", nil))
	require.Greater(t, left, MaxMinSeqWait)
}

func TestFallbackServesOnlyWhatNoRouteMatchesOutsideTheAPI(t *testing.T) {
	s := NewServer(ServerConfig{})
	s.Handle("GET /api/things", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, 200, "ok") })
	s.Fallback(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("page " + r.URL.Path))
	}))
	do := func(method, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		return w
	}
	require.Equal(t, "page /sagas", do("GET", "/sagas").Body.String())
	require.Equal(t, "page /", do("GET", "/").Body.String())
	require.Contains(t, do("GET", "/healthz").Body.String(), `"ok"`, "a route wins over the fallback")
	w := do("GET", "/api/nothing")
	require.Equal(t, http.StatusNotFound, w.Code)
	require.Contains(t, w.Body.String(), `"code":"not_found"`)
	require.Equal(t, http.StatusMethodNotAllowed, do("PUT", "/api/things").Code)
}
