package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

func TestErrorsMapToStatusCodes(t *testing.T) {
	tests := []struct {
		err        error
		status     int
		code       string
		retryAfter bool
	}{
		{FieldErr("level", "bad"), 400, "invalid_field", false},
		{fmt.Errorf("append: %w", eventstore.ErrUnavailable), 503, "log_unavailable", true},
		{fmt.Errorf("append: %w", eventstore.ErrConflict), 409, "conflict", false},
		{fmt.Errorf("append: %w", eventstore.ErrTooLarge), 413, "too_large", false},
		{fmt.Errorf("append: %w", eventstore.ErrStorageFull), 507, "log_storage_full", true},
		{&pgconn.PgError{Code: "57P01"}, 503, "database_unavailable", true},
		{&pgconn.ConnectError{}, 503, "database_unavailable", true},
		{context.DeadlineExceeded, 503, "timeout", true},
		{errors.New("boom"), 500, "internal_error", false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, httptest.NewRequest("GET", "/x", nil), tt.err)
			require.Equal(t, tt.status, w.Code)
			require.Contains(t, w.Body.String(), `"code":"`+tt.code+`"`)
			require.NotContains(t, w.Body.String(), "boom", "internal details stay in the log")
			require.Equal(t, tt.retryAfter, w.Header().Get("Retry-After") != "")
		})
	}
}

func TestMediaTypeAndBodyLimit(t *testing.T) {
	r := httptest.NewRequest("POST", "/x", nil)
	mt, err := MediaType(r, "application/json")
	require.NoError(t, err)
	require.Equal(t, "application/json", mt, "a missing Content-Type is taken as JSON")
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	_, err = MediaType(r, "application/json")
	require.NoError(t, err)
	r.Header.Set("Content-Type", "text/csv")
	_, err = MediaType(r, "application/json")
	var apiErr *Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnsupportedMediaType, apiErr.Status)

	w := httptest.NewRecorder()
	_, err = ReadBody(w, httptest.NewRequest("POST", "/x", strings.NewReader(strings.Repeat("a", 11))), 10)
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusRequestEntityTooLarge, apiErr.Status)
}

func TestPanicsBecomeA500WithoutDetails(t *testing.T) {
	s := NewServer(ServerConfig{})
	s.Handle("GET /api/panic", func(http.ResponseWriter, *http.Request) { panic("secret detail") })
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/api/panic", nil))
	require.Equal(t, http.StatusInternalServerError, w.Code)
	require.NotContains(t, w.Body.String(), "secret")
	require.Contains(t, w.Body.String(), `"code":"internal_error"`)
}
