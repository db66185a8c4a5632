package logsapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// largeBatch is a JSON array of entries just over LargeBatchBytes.
func largeBatch(t *testing.T) []byte {
	t.Helper()
	msg := strings.Repeat("l", 65000)
	var b bytes.Buffer
	b.WriteString("[")
	for i := 0; b.Len() < LargeBatchBytes; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"level":"info","source":"large","message":"` + msg + `"}`)
	}
	b.WriteString("]")
	return b.Bytes()
}

// postLarge posts body as a batch, with its Content-Length or chunked, and
// returns the status, Retry-After and the decoded error code (if any).
func postLarge(t *testing.T, url string, body []byte, chunked bool) (int, string, string) {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // no length known: sent chunked
	}
	req, err := http.NewRequest("POST", url+"/api/logs/batch", r)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var e apiError
	if resp.StatusCode != http.StatusAccepted {
		require.NoError(t, json.Unmarshal(raw, &e), "%s", raw)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), e.Error.Code
}

// TestLargeBatchesWithinTheServerCacheBound: large batches answered within
// ServerCacheHold count against ServerCacheBytes (the memory an in-process
// NATS server keeps for their events): over it, the next large batch gets
// 503 with Retry-After while small batches still pass, and once the hold
// has passed large batches are taken again.
func TestLargeBatchesWithinTheServerCacheBound(t *testing.T) {
	env := newLogsEnv(t)
	large := largeBatch(t)
	for _, chunked := range []bool{false, true} {
		t.Run(map[bool]string{false: "by content length", true: "chunked"}[chunked], func(t *testing.T) {
			const hold = 2 * time.Second
			p := env.startAPI(t, IngestConfig{ServerCacheBytes: int64(2 * len(large)), ServerCacheHold: hold}, LookupConfig{})
			for i := range 2 {
				status, _, _ := postLarge(t, p.URL, large, chunked)
				require.Equal(t, http.StatusAccepted, status, "large batch %d", i)
			}
			status, retryAfter, code := postLarge(t, p.URL, large, chunked)
			require.Equal(t, http.StatusServiceUnavailable, status, "a third large batch within the hold")
			require.NotEmpty(t, retryAfter)
			require.Equal(t, "overloaded", code)
			status, _, _ = postLarge(t, p.URL, []byte(`[{"message":"small"}]`), chunked)
			require.Equal(t, http.StatusAccepted, status, "a small batch is not bounded")
			require.Eventually(t, func() bool {
				status, _, _ := postLarge(t, p.URL, large, chunked)
				return status == http.StatusAccepted
			}, 10*hold, hold/4, "large batches are taken again once the hold has passed")
		})
	}
}
