package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBudgetAccounting(t *testing.T) {
	b := NewBudget(100)
	require.NoError(t, b.Reserve(60))
	require.NoError(t, b.Reserve(40))
	require.ErrorIs(t, b.Reserve(1), ErrOverloaded)
	require.Equal(t, int64(100), b.InUse())
	b.Release(60)
	require.ErrorIs(t, b.Reserve(61), ErrOverloaded, "a refused reservation takes nothing")
	require.Equal(t, int64(40), b.InUse())
	b.Release(40)
	require.NoError(t, b.Reserve(500), "one request larger than the whole budget passes alone")
	require.ErrorIs(t, b.Reserve(1), ErrOverloaded)
	b.Release(500)
	require.Zero(t, b.InUse())
	require.Panics(t, func() { b.Release(1) })
}

// onlyReader hides bytes.Reader's other methods, so that the request has
// no Content-Length (chunked).
type onlyReader struct{ io.Reader }

func TestReadBodyWithinReservesAndReleases(t *testing.T) {
	const factor = 3
	body := bytes.Repeat([]byte("a"), 3<<20+5)
	tests := []struct {
		name    string
		chunked bool
		budget  int64
		limit   int64
		status  int // 0: read
		// reserved while held
		reserved int64
	}{
		{name: "by content length", budget: 64 << 20, limit: 16 << 20, reserved: int64(len(body)) * factor},
		{name: "chunked, as it arrives", chunked: true, budget: 64 << 20, limit: 16 << 20, reserved: 4 * readChunk * factor},
		{name: "over the budget by content length", budget: 64 << 20, limit: 16 << 20, status: http.StatusServiceUnavailable},
		{name: "over the budget while reading", chunked: true, budget: 64 << 20, limit: 16 << 20, status: http.StatusServiceUnavailable},
		{name: "over the limit by content length", budget: 64 << 20, limit: 1 << 20, status: http.StatusRequestEntityTooLarge},
		{name: "over the limit while reading", chunked: true, budget: 64 << 20, limit: 1 << 20, status: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBudget(tt.budget)
			if tt.status == http.StatusServiceUnavailable {
				require.NoError(t, b.Reserve(tt.budget-2*readChunk*factor)) // someone else's request
				defer b.Release(tt.budget - 2*readChunk*factor)
			}
			held := b.InUse()
			var r *http.Request
			if tt.chunked {
				r = httptest.NewRequest("POST", "/x", onlyReader{bytes.NewReader(body)})
				r.ContentLength = -1
			} else {
				r = httptest.NewRequest("POST", "/x", bytes.NewReader(body))
			}
			got, err := ReadBodyWithin(httptest.NewRecorder(), r, tt.limit, b, factor)
			if tt.status != 0 {
				require.Error(t, err)
				require.Equal(t, tt.status, toAPIError(err).Status)
				require.Equal(t, held, b.InUse(), "a refused body holds nothing")
				return
			}
			require.NoError(t, err)
			require.Equal(t, body, got.Data)
			require.Equal(t, held+tt.reserved, b.InUse())
			got.Release()
			got.Release()
			require.Equal(t, held, b.InUse())
		})
	}
}

func TestOverloadedIsA503WithRetryAfter(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("POST", "/api/logs", strings.NewReader("")), ErrOverloaded)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "1", w.Header().Get("Retry-After"))
	require.JSONEq(t, `{"error":{"code":"overloaded","message":"Too much is in flight right now; nothing was stored. Retry shortly."}}`, w.Body.String())
}
