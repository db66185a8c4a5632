package main

import (
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServeExportsGroupCommitCounters: with group commit on, /metrics
// shows per stream how many appends went through it and how they were
// stored, and the appends of an order's saga are counted there.
func TestServeExportsGroupCommitCounters(t *testing.T) {
	env := maps.Clone(shortSagaPolicy)
	env["EVENTLINE_NATS_GROUP_COMMIT"] = "on"
	s := startServe(t, env)
	c := newSagaClient(s.URL)
	o := c.mustOrder(t, orderBody(c.user(t, "Ada", "ada@example.com"), "tok_ok", orderItem{ProductID: c.product(t, "Lamp", 10), Quantity: 1}))
	c.mustWaitSaga(t, o.SagaID)

	resp, err := http.Get(s.URL + "/metrics")
	require.NoError(t, err)
	metrics := readAll(resp)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	m := regexp.MustCompile(`(?m)^eventline_group_commit_appends_total\{[^}]*stream="SAGAS"[^}]*\} (\d+)$`).FindStringSubmatch(metrics)
	require.NotNil(t, m, "no group commit counter for SAGAS in:\n%s", metrics)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	require.Positive(t, n, "the saga's appends went through group commit")
	for _, name := range []string{"batches_total", "batched_appends_total", "single_appends_total", "rejected_batches_total", "conflicts_total"} {
		require.Regexp(t, `(?m)^eventline_group_commit_`+name+`\{[^}]*stream="ORDERS"`, metrics)
	}
}
