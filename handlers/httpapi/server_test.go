package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
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
	}{
		{"all ok", []Check{{Name: "db", Fn: ok}, {Name: "proj", Fn: ok, Degrades: true}}, 200, false, false},
		{"stalled projection", []Check{{Name: "db", Fn: ok}, {Name: "proj", Fn: failing, Degrades: true}}, 200, true, false},
		{"database down", []Check{{Name: "db", Fn: failing}, {Name: "proj", Fn: ok, Degrades: true}}, 503, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(ServerConfig{Checks: tt.checks})
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
			require.Equal(t, tt.status, w.Code)
			var body struct {
				Ready    bool              `json:"ready"`
				Degraded bool              `json:"degraded"`
				Checks   map[string]string `json:"checks"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
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
