package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
)

// TestIdempotencyBucketIsBounded: clients sending ever new keys cannot grow
// the bucket past its bound; the oldest keys are forgotten, writes go on.
func TestIdempotencyBucketIsBounded(t *testing.T) {
	st, _ := testenv.Store(t)
	ctx := context.Background()
	idem, err := NewIdempotency(ctx, st.JetStream(), 1, 5)
	require.NoError(t, err)
	_, err = NewIdempotency(ctx, st.JetStream(), 1, 5) // opening again keeps the bound
	require.NoError(t, err)

	calls := 0
	post := func(key string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/api/x", strings.NewReader("{}"))
		r.Header.Set("Idempotency-Key", key)
		idem.Do(w, r, "POST /api/x", []byte("{}"), func(context.Context, string) (Response, error) {
			calls++
			return Response{Status: http.StatusAccepted, Body: map[string]int{"n": calls}}, nil
		})
		return w
	}
	for i := range 20 {
		require.Equal(t, http.StatusAccepted, post("key-"+strconv.Itoa(i)).Code)
	}
	s, err := st.JetStream().Stream(ctx, "KV_"+IdempotencyBucket)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.LessOrEqual(t, info.State.Msgs, uint64(5))

	w := post("key-19")
	require.Equal(t, "true", w.Header().Get("Idempotent-Replayed"), "a recent key is remembered")
	require.Equal(t, 20, calls)
}
