package workflowsync_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/zuora/zuorasim"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}

// TestSyncsShareOneBoundedHTTPClient runs 60 syncs of different customers:
// they share the worker's one HTTP client, whose idle connections are
// bounded, so they leave a bounded number of sockets open, not one (or
// more) per sync until each transport's idle timeout.
func TestSyncsShareOneBoundedHTTPClient(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	const syncs = 60
	ids := make([]string, syncs)
	for i := range ids {
		ids[i] = e.addCustomer(t, fmt.Sprintf("fd-tenant-%d", i), zuorasim.GenerateWorkflows(3, simBase))
	}
	// A first sync warms the pools (database, NATS, HTTP).
	require.Equal(t, "completed", e.sync(t, ids[0], false).Status)
	before := openFDs(t)
	started := make([]string, 0, syncs-1)
	for _, id := range ids[1:] {
		started = append(started, e.start(t, id, false))
	}
	for _, s := range started {
		require.Equal(t, "completed", e.wait(t, s).Status)
	}
	after := openFDs(t)
	require.LessOrEqual(t, after-before, 24, "%d syncs left %d more file descriptors open", syncs-1, after-before)
}
