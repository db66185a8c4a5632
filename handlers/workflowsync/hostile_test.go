package workflowsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/projections/syncmodel"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// hostileTenant serves, on the test HTTP server, pages of 50 new ids
// without end, each workflow with a description of descBytes bytes
// (issue 25 item 5). It counts the pages served.
func hostileTenant(e *syncEnv, pages *atomic.Int64, descBytes int) {
	desc := strings.Repeat("x", descBytes)
	e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/workflows" {
			return false
		}
		pages.Add(1)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		page = max(page, 1)
		data := make([]map[string]any, 50)
		for i := range data {
			id := page*50 + i
			data[i] = map[string]any{"id": id, "name": fmt.Sprintf("w%d", id), "description": desc, "status": "Active",
				"createdAt": "2025-06-01T00:00:00Z", "updatedAt": "2025-06-01T00:00:00Z"}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "pagination": map[string]any{
			"next_page": fmt.Sprintf("%s/workflows?page=%d&page_length=50", e.srv.URL, page+1), "page": page, "page_length": 50}})
		return true
	})
}

// addLimited creates a customer on sim tenant clientID with its own limits.
func (e *syncEnv) addLimited(t *testing.T, clientID string, limits workflows.Limits) string {
	t.Helper()
	e.putTenant(t, clientID, zuorasim.GenerateWorkflows(1, simBase))
	id := uuid.NewString()
	e.mu.Lock()
	e.clients[id], e.secrets[clientID] = clientID, simSecret
	e.mu.Unlock()
	_, err := e.customers.Handle(context.Background(), id, workflows.Create{CustomerID: id, Name: clientID,
		BaseURL: e.srv.URL, ClientID: clientID, Limits: limits, Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	return id
}

// A tenant serving pages of 50 new ids with 150 KB descriptions: every
// description is refused at the door (over workflows.MaxDescriptionBytes),
// the sync stops at the customer's byte bound with a reason that says so,
// and its recorded errors stay bounded. Before: the sync stored every
// description and kept them all in memory until the 200,000-workflow bound.
func TestAHostileTenantIsBoundedByBytesAndFieldSizes(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	id := e.addLimited(t, "hostile", workflows.Limits{MaxBytes: 20 << 20})
	var pages atomic.Int64
	hostileTenant(e, &pages, 150<<10)
	r := e.sync(t, id, false)
	require.Equal(t, "failed", r.Status)
	require.Contains(t, r.Reason, workflowsync.ErrOverLimit.Error())
	require.Contains(t, r.Reason, "more than 20971520 bytes of pages read (page 3)")
	require.LessOrEqual(t, pages.Load(), int64(3))
	require.Empty(t, e.rows(t, id), "no description over the bound is stored")
	require.Zero(t, r.Created)
	require.LessOrEqual(t, len(r.Errors), 102, "item errors are bounded")
	require.Contains(t, r.Errors[0], "description is 153600 bytes, more than 16384")
}

// A customer's own workflow bound replaces the process's.
func TestACustomersOwnWorkflowBound(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	id := e.addLimited(t, "many", workflows.Limits{MaxWorkflows: 70})
	var pages atomic.Int64
	hostileTenant(e, &pages, 100)
	r := e.sync(t, id, false)
	require.Equal(t, "failed", r.Status)
	require.Contains(t, r.Reason, "more than 70 workflows listed (page 2)")
	require.Equal(t, int64(2), pages.Load())
}

// Descriptions up to the bound are stored, compared by fingerprint (the
// read model hashes them) and left alone when unchanged.
func TestDescriptionsUpToTheBoundAreStoredAndCompared(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	wfs := zuorasim.GenerateWorkflows(60, simBase)
	for i := range wfs {
		wfs[i].Description = strings.Repeat(strconv.Itoa(i%10), workflows.MaxDescriptionBytes)
	}
	id := e.addCustomer(t, "big", wfs)
	require.Equal(t, 60, e.sync(t, id, false).Created)
	wfs[7].Description = strings.Repeat("y", workflows.MaxDescriptionBytes)
	e.putTenant(t, "big", wfs)
	r := e.sync(t, id, false)
	require.Equal(t, "completed", r.Status)
	require.Equal(t, 1, r.Updated, "only the changed description")
	require.Equal(t, 59, r.Unchanged)
}

// Defect 1 of issue 26: a sync decides creates and deletions from the
// read model; when the read model holds back the customer's events (one is
// parked), its rows are stale while the checkpoint moves on. The sync
// refuses instead of deciding on them. Before: it completed, deciding on
// the stale rows.
func TestASyncRefusesWhileTheCustomerIsHeld(t *testing.T) {
	e := newSyncEnv(t, envOptions{noReactor: true})
	wfs := zuorasim.GenerateWorkflows(10, simBase)
	id := e.addCustomer(t, "held", wfs)
	ctx := context.Background()
	first := e.start(t, id, false)
	out, err := e.worker.RunSync(ctx, id, first)
	require.NoError(t, err)
	require.True(t, out.Completed)

	// An event the domain takes but PostgreSQL refuses (a NUL): the
	// projection parks it and holds the customer's later events.
	syncID := e.start(t, id, false)
	bad := workflows.Workflow{ZuoraID: 99, Name: "bad\x00name", Status: "Active", CreatedAt: simBase, UpdatedAt: simBase}
	_, err = e.customers.Handle(ctx, id, workflows.Apply{SyncID: syncID, Listed: []workflows.Workflow{bad},
		Known: map[int64]workflows.Fingerprint{}}, aggregate.Meta{})
	require.NoError(t, err)
	_, err = e.customers.Handle(ctx, id, workflows.Fail{SyncID: syncID, Reason: "test", Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var n int
		return e.pool.QueryRow(ctx, `SELECT count(*) FROM projection_parked WHERE aggregate = $1`,
			workflows.Subject(id)).Scan(&n) == nil && n > 0
	}, 20*time.Second, 10*time.Millisecond)

	// The read model's rows of the customer are stale (the parked event
	// and all after it are missing), though its checkpoint is past them.
	syncID = e.start(t, id, false)
	require.NoError(t, syncmodel.WaitCaughtUp(ctx, e.pool, e.lastSeq(t, id), 20*time.Second))
	out, err = e.worker.RunSync(ctx, id, syncID)
	require.NoError(t, err)
	require.False(t, out.Completed)
	require.Contains(t, out.Reason, "holds back this customer's events")
}
