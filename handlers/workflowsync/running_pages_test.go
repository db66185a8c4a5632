package workflowsync_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/zuora/zuorasim"
)

// A running sync shows the pages it has listed (issue 25 item 9: "pages":
// 0 after 700 pages): its progress is in its events, and the read model
// shows it while the sync waits on a slow page.
func TestARunningSyncShowsItsPages(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	id := e.addCustomer(t, "slow", zuorasim.GenerateWorkflows(250, simBase))
	release := make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/workflows" && r.URL.Query().Get("page") == "4" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		return false
	})
	syncID := e.start(t, id, false)
	var status string
	var pages, total int
	require.Eventually(t, func() bool {
		err := e.pool.QueryRow(context.Background(), `SELECT status, pages, total FROM sync_runs WHERE sync_id = $1`, syncID).
			Scan(&status, &pages, &total)
		return err == nil && pages == 3
	}, 20*time.Second, 10*time.Millisecond, "pages of the running sync")
	require.Equal(t, "running", status)
	require.Equal(t, 150, total, "the workflows listed so far")
	close(release)
	r := e.wait(t, syncID)
	require.Equal(t, "completed", r.Status)
	require.Equal(t, 5, r.Pages)
}
