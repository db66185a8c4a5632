package logsapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// bigBatch is a JSON array of entries just under MaxBatchBody.
func bigBatch(t *testing.T) []byte {
	t.Helper()
	msg := strings.Repeat("m", 65000)
	var b bytes.Buffer
	b.WriteString("[")
	for i := range 255 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"level":"info","source":"big","message":"` + msg + `"}`)
	}
	b.WriteString("]")
	require.LessOrEqual(t, b.Len(), MaxBatchBody)
	require.Greater(t, b.Len(), MaxBatchBody-(1<<20))
	return b.Bytes()
}

// TestConcurrentBigBatchesStayWithinTheBudget: 24 concurrent 16 MiB batches
// against a budget of two: the others are refused at once with 503 and
// Retry-After in the contract's shape, none fails with a 500, and every
// entry answered 202 is stored.
func TestConcurrentBigBatchesStayWithinTheBudget(t *testing.T) {
	env := newLogsEnv(t)
	env.startProjector(t)
	p := env.startAPI(t, IngestConfig{MaxInFlightBytes: 2 * BodyCostFactor * MaxBatchBody}, LookupConfig{})
	body := bigBatch(t)

	type result struct {
		status     int
		retryAfter string
		raw        []byte
		err        error
	}
	results := make([]result, 24)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := http.Post(p.URL+"/api/logs/batch", "application/json", bytes.NewReader(body))
			if err != nil {
				results[i].err = err
				return
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			results[i] = result{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), raw: raw}
		}()
	}
	close(start)
	wg.Wait()
	require.Eventually(t, func() bool { return p.ingester.budget.InUse() == 0 }, 10*time.Second, 5*time.Millisecond,
		"every reservation is released once its request is answered")

	var ids []uuid.UUID
	var accepted, refused int
	for i, r := range results {
		if r.err != nil {
			t.Logf("request %d: %v (the server closed a connection it did not read)", i, r.err)
			continue
		}
		switch r.status {
		case http.StatusAccepted:
			accepted++
			var a batchAnswer
			require.NoError(t, json.Unmarshal(r.raw, &a))
			require.Len(t, a.IDs, 255)
			ids = append(ids, a.IDs...)
		case http.StatusServiceUnavailable:
			refused++
			require.NotEmpty(t, r.retryAfter, "request %d", i)
			var e apiError
			require.NoError(t, json.Unmarshal(r.raw, &e), "request %d: %s", i, r.raw)
			require.Equal(t, "overloaded", e.Error.Code)
			require.NotEmpty(t, e.Error.Message)
		default:
			t.Fatalf("request %d: status %d: %s", i, r.status, r.raw)
		}
	}
	t.Logf("%d accepted, %d refused with 503", accepted, refused)
	require.Positive(t, accepted)
	require.Positive(t, refused)

	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, env.pool.QueryRow(t.Context(), `SELECT count(*) FROM log_entries WHERE id = ANY($1)`, ids).Scan(&n))
		return n == len(ids)
	}, 60*time.Second, 50*time.Millisecond, "every entry answered 202 is stored")
}
