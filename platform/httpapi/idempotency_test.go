package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
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

// A request that failed because JetStream stopped answering gives its key
// up once JetStream is back: the client's retry is handled, not told 409
// request_in_progress until the claim goes stale (30 s). Before, the one
// delete, sent while the server was down, failed and the claim stayed.
func TestAFailedRequestReleasesItsKeyOnceJetStreamIsBack(t *testing.T) {
	nats := testenv.StartRestartableNATS(t)
	ctx := context.Background()
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: nats.URL(), Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	idem, err := NewIdempotency(ctx, st.JetStream(), 1, 0)
	require.NoError(t, err)

	post := func(h Handler) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/api/x", strings.NewReader("{}"))
		r.Header.Set("Idempotency-Key", "k1")
		idem.Do(w, r, "POST /api/x", []byte("{}"), h)
		return w
	}
	w := post(func(context.Context, string) (Response, error) {
		nats.Stop() // the log goes away under the request
		return Response{}, fmt.Errorf("append: %w", eventstore.ErrUnavailable)
	})
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	nats.Start()

	calls := 0
	require.Eventually(t, func() bool {
		w := post(func(context.Context, string) (Response, error) {
			calls++
			return Response{Status: http.StatusAccepted, Body: map[string]int{"n": calls}}, nil
		})
		return w.Code == http.StatusAccepted
	}, 15*time.Second, 200*time.Millisecond, "the retry is handled well before the claim's 30 s")
	require.Equal(t, 1, calls)
}

// Only the replicated stream's "still being applied" refusal (10164) is
// tried again; a revision that moved on (10071) or another failure is final.
func TestOnlyAnInProcessRefusalIsTriedAgain(t *testing.T) {
	refusal := func(code jetstream.ErrorCode) error {
		return fmt.Errorf("%w: %w", &jetstream.APIError{Code: 400, ErrorCode: code, Description: "wrong last sequence"}, jetstream.ErrKeyExists)
	}
	require.True(t, inProcess(refusal(jetstream.JSErrCodeStreamWrongLastSequenceConstant)))
	require.False(t, inProcess(refusal(jetstream.JSErrCodeStreamWrongLastSequence)))
	require.False(t, inProcess(context.DeadlineExceeded))
	require.False(t, inProcess(nil))
}
