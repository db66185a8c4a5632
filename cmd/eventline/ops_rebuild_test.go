package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// postBatch posts n entries and returns their ids and the last sequence,
// without failing the test (it runs in load goroutines).
func postBatch(base string, n int) ([]string, uint64, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"level":"info","message":"entry %d","source":"load"}`, i)
	}
	buf.WriteByte(']')
	resp, err := http.Post(base+"/api/logs/batch", "application/json", &buf)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var out struct {
		IDs     []string `json:"ids"`
		LastSeq uint64   `json:"last_seq"`
	}
	if resp.StatusCode != http.StatusAccepted {
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, 0, err
	}
	return out.IDs, out.LastSeq, nil
}

// TestRebuildWhileServing runs `eventline projections rebuild logs` against
// a serving process under continuous API reads and writes: no read fails,
// no write fails, and every accepted entry is in the swapped table.
func TestRebuildWhileServing(t *testing.T) {
	c := newOpsCLI(t)
	s := startServe(t, map[string]string{"NATS_URL": c.vars["NATS_URL"], "DATABASE_URL": c.vars["DATABASE_URL"]})
	var mu sync.Mutex
	var ids []string
	var lastSeq uint64
	for range 40 {
		got, seq, err := postBatch(s.URL, 50)
		require.NoError(t, err)
		ids, lastSeq = append(ids, got...), seq
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, failedReads, failedWrites atomic.Int64
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(s.URL + "/api/logs?limit=50&level=info")
				reads.Add(1)
				if err != nil || resp.StatusCode != http.StatusOK {
					failedReads.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, seq, err := postBatch(s.URL, 20)
			if err != nil {
				failedWrites.Add(1)
				continue
			}
			mu.Lock()
			ids, lastSeq = append(ids, got...), max(lastSeq, seq)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	})
	out, stderr, err := c.run(t, "projections", "rebuild", "logs", "--quiet", "--batch", "500")
	require.NoError(t, err, stderr)
	require.Contains(t, out, "swapped in at #")
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	require.Zero(t, failedReads.Load(), "failed reads out of %d", reads.Load())
	require.Zero(t, failedWrites.Load())

	resp := call(t, "GET", fmt.Sprintf("%s/api/logs?limit=1&min_seq=%d", s.URL, lastSeq), "", nil, nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, resp.Header.Get("X-Eventline-Stale"))
	pool, err := pgxpool.New(context.Background(), c.vars["DATABASE_URL"])
	require.NoError(t, err)
	defer pool.Close()
	var missing, total int64
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM unnest($1::uuid[]) AS want(id) WHERE NOT EXISTS (SELECT 1 FROM log_entries e WHERE e.id = want.id)),
		(SELECT count(*) FROM log_entries)`, ids).Scan(&missing, &total))
	require.Zero(t, missing, "accepted entries missing after the swap")
	require.Equal(t, int64(len(ids)), total)
	require.Greater(t, total, int64(2000), "writes went on during the rebuild")
}
