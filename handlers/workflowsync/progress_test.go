package workflowsync_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// endlessTenant answers every page with a next page: ids(page) are the
// page's workflow ids. It counts the pages served.
func endlessTenant(e *syncEnv, pages *atomic.Int64, ids func(page int) []int) {
	e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/workflows" {
			return false
		}
		pages.Add(1)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		page = max(page, 1)
		var data []map[string]any
		for _, id := range ids(page) {
			data = append(data, map[string]any{"id": id, "name": fmt.Sprintf("w%d", id), "description": "", "status": "Active",
				"createdAt": "2025-06-01T00:00:00Z", "updatedAt": "2025-06-01T00:00:00Z"})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "pagination": map[string]any{
			"next_page": fmt.Sprintf("%s/workflows?page=%d&page_length=50", e.srv.URL, page+1), "page": page, "page_length": 50}})
		return true
	})
}

// TestListingWithoutProgressFailsFast: a tenant serving the same ids on
// every page, and one serving new ids without end, fail their sync within
// a few pages (or the workflow bound) instead of holding a sync slot until
// the time limit (30 min) while appending nothing; neither is retried.
func TestListingWithoutProgressFailsFast(t *testing.T) {
	t.Run("same ids on every page", func(t *testing.T) {
		e := newSyncEnv(t, envOptions{})
		id := e.addCustomer(t, "repeating", zuorasim.GenerateWorkflows(1, simBase))
		var pages atomic.Int64
		same := make([]int, 50)
		for i := range same {
			same[i] = i + 1
		}
		endlessTenant(e, &pages, func(int) []int { return same })
		r := e.sync(t, id, false)
		require.Equal(t, "failed", r.Status)
		require.Contains(t, r.Reason, workflowsync.ErrNoProgress.Error())
		require.LessOrEqual(t, pages.Load(), int64(4), "pages fetched before giving up")
	})
	t.Run("new ids without end", func(t *testing.T) {
		e := newSyncEnv(t, envOptions{worker: func(c *workflowsync.WorkerConfig) { c.MaxWorkflows = 120 }})
		id := e.addCustomer(t, "endless", zuorasim.GenerateWorkflows(1, simBase))
		var pages atomic.Int64
		endlessTenant(e, &pages, func(page int) []int {
			ids := make([]int, 50)
			for i := range ids {
				ids[i] = page*50 + i
			}
			return ids
		})
		r := e.sync(t, id, false)
		require.Equal(t, "failed", r.Status)
		require.Contains(t, r.Reason, "more than 120 workflows")
		require.LessOrEqual(t, pages.Load(), int64(4))
	})
}
