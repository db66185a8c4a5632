package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/platform/httpapi"
)

// TestLongPollsLeaveConnectionsForWritesAndHealth sends 2,000 concurrent
// GET /api/sagas/{id}?wait=30s for a saga that stays running (each on a
// connection of its own, more than the server's 1,024): the server keeps
// at most half its connections in a wait and answers the others at once
// with the current state, so an ingest probe (POST /api/logs) and /readyz
// sent meanwhile answer within 1 s.
func TestLongPollsLeaveConnectionsForWritesAndHealth(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 connections")
	}
	const waiters = 2000
	maxWaiting := httpapi.DefaultMaxConns / 2
	s := startServe(t, nil)
	c := newSagaClient(s.URL)
	user := c.user(t, "Poller", "poller@example.com")
	product := c.product(t, "Long poll", 10)
	// tok_slow answers after the step timeout (300 s): the saga stays running.
	saga := c.mustOrder(t, orderBody(user, "tok_slow", orderItem{ProductID: product, Quantity: 1})).SagaID

	ctx, cancel := context.WithCancel(context.Background())
	tr := &http.Transport{DisableKeepAlives: true}
	client := &http.Client{Transport: tr}
	var answered atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		tr.CloseIdleConnections()
	})
	for range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/sagas/"+saga+"?wait=30s", nil)
			if err != nil {
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil && resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"status":"running"`) {
				answered.Add(1)
			}
		}()
	}
	require.Eventually(t, func() bool { return answered.Load() >= waiters-int64(maxWaiting) }, 30*time.Second, 20*time.Millisecond,
		"the waiters beyond the server's wait budget were not answered at once (answered: %d)", answered.Load())

	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 3 {
		start := time.Now()
		resp, err := probe.Post(s.URL+"/api/logs", "application/json", strings.NewReader(fmt.Sprintf(`{"message":"probe %d"}`, i)))
		require.NoError(t, err, "ingest did not answer within 1 s while %d long polls are in flight", waiters)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		resp, err = probe.Get(s.URL + "/readyz")
		require.NoError(t, err, "/readyz did not answer within 1 s")
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		t.Logf("probe %d answered in %v", i, time.Since(start))
	}
	require.Equal(t, int64(waiters-maxWaiting), answered.Load(), "the waits in the budget were cut short")
}
