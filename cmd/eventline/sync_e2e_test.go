package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// syncView is GET /api/syncs/{id}.
type syncView struct {
	Status string `json:"status"`
	Stats  struct {
		Created int      `json:"created"`
		Updated int      `json:"updated"`
		Deleted int      `json:"deleted"`
		Total   int      `json:"total"`
		Errors  []string `json:"errors"`
	} `json:"stats"`
	Pages  int    `json:"pages"`
	Reason string `json:"reason"`
}

// waitSync polls GET /api/syncs/{id} until the sync is no longer running.
func waitSync(t *testing.T, base, id string) syncView {
	t.Helper()
	var v syncView
	require.Eventually(t, func() bool {
		resp := call(t, "GET", base+"/api/syncs/"+id, "", nil, nil, &v)
		return resp.StatusCode == http.StatusOK && v.Status != "running"
	}, 60*time.Second, 50*time.Millisecond, "sync %s did not finish", id)
	return v
}

// workflowCount is how many workflows the read model lists for customer id.
func workflowCount(t *testing.T, base, id string) int {
	t.Helper()
	n, cursor := 0, ""
	for {
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor string            `json:"next_cursor"`
		}
		resp := call(t, "GET", base+"/api/customers/"+id+"/workflows?limit=500&cursor="+cursor, "", nil, nil, &page)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		n += len(page.Items)
		if page.NextCursor == "" {
			return n
		}
		cursor = page.NextCursor
	}
}

// The whole sync path through the real program against the Zuora stand-in:
// first import, upstream edits and deletions, a failing page that deletes
// nothing, the deletion guard, and the CLI.
func TestWorkflowSyncEndToEnd(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sim, err := zuorasim.New(zuorasim.Options{}, map[string]zuorasim.Tenant{
		"acme": {ClientSecret: "acme-secret", Workflows: zuorasim.GenerateWorkflows(120, base), TimeFormat: "mixed"},
	})
	require.NoError(t, err)
	zs := httptest.NewServer(sim)
	t.Cleanup(zs.Close)
	// No daily sync: past its time (02:00 by default) the scheduler starts
	// today's for a new customer at its next tick, whatever ran before,
	// and a manual sync meeting it is refused (409 sync_running: CI at
	// 558e720).
	s := startServe(t, map[string]string{"EVENTLINE_SYNC_RETRY_ATTEMPTS": "1", "EVENTLINE_SYNC_RETRY_DELAY": "10ms",
		"EVENTLINE_SYNC_DAILY_AT": "-"})

	var created struct {
		ID     string `json:"id"`
		SyncID string `json:"sync_id"`
	}
	body := fmt.Sprintf(`{"name":"Acme","zuora":{"base_url":%q,"client_id":"acme","client_secret":"acme-secret"}}`, zs.URL)
	resp := call(t, "POST", s.URL+"/api/customers", "application/json", []byte(body), nil, &created)
	require.Equal(t, http.StatusCreated, resp.StatusCode, readAll(resp))
	require.NotEmpty(t, created.SyncID, "creating a customer starts its first sync")

	first := waitSync(t, s.URL, created.SyncID)
	require.Equal(t, "completed", first.Status, first.Reason)
	require.Equal(t, 120, first.Stats.Created)
	require.Equal(t, 120, first.Stats.Total)
	require.Zero(t, first.Stats.Updated+first.Stats.Deleted)
	require.Equal(t, 120, workflowCount(t, s.URL, created.ID))

	// Upstream: 5 edited, 10 deleted, 3 added.
	wfs := zuorasim.GenerateWorkflows(123, base)
	for i := range 5 {
		wfs[i].Name += " (edited)"
	}
	wfs = append(wfs[:20], wfs[30:]...)
	require.NoError(t, sim.PutTenant("acme", zuorasim.Tenant{ClientSecret: "acme-secret", Workflows: wfs}))
	sync := func(query string) syncView {
		var started struct {
			SyncID string `json:"sync_id"`
		}
		resp := call(t, "POST", s.URL+"/api/customers/"+created.ID+"/sync"+query, "application/json", []byte(`{}`), nil, &started)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, readAll(resp))
		return waitSync(t, s.URL, started.SyncID)
	}
	second := sync("")
	require.Equal(t, "completed", second.Status, second.Reason)
	require.Equal(t, [3]int{3, 5, 10}, [3]int{second.Stats.Created, second.Stats.Updated, second.Stats.Deleted})
	require.Equal(t, 113, second.Stats.Total)
	require.Equal(t, 113, workflowCount(t, s.URL, created.ID))

	// A page that keeps failing: the sync fails, lists the error, deletes nothing.
	require.NoError(t, sim.PutTenant("acme", zuorasim.Tenant{ClientSecret: "acme-secret", Workflows: wfs[:40]}))
	require.NoError(t, sim.AddFault("acme", zuorasim.Fault{Page: 1, Status: 500, Times: 1000}))
	failed := sync("")
	require.Equal(t, "failed", failed.Status)
	require.NotEmpty(t, failed.Stats.Errors)
	require.Zero(t, failed.Stats.Deleted)
	require.Equal(t, 113, workflowCount(t, s.URL, created.ID), "a failed sync deletes nothing")

	// The listing now would delete 73 of 113: the guard refuses; allowed, it applies.
	require.NoError(t, sim.ClearFaults("acme"))
	guarded := sync("")
	require.Equal(t, "failed", guarded.Status)
	require.Contains(t, guarded.Reason+fmt.Sprint(guarded.Stats.Errors), "deletion guard")
	require.Equal(t, 113, workflowCount(t, s.URL, created.ID))
	allowed := sync("?allow_mass_delete=true")
	require.Equal(t, "completed", allowed.Status, allowed.Reason)
	require.Equal(t, 73, allowed.Stats.Deleted)
	require.Equal(t, 40, workflowCount(t, s.URL, created.ID))
}

// kill -9 in the middle of a sync, then restart: the sync ends failed as
// interrupted, nothing is deleted, and the next sync applies the deletions.
func TestWorkflowSyncSurvivesKill9(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sim, err := zuorasim.New(zuorasim.Options{Latency: 100 * time.Millisecond}, map[string]zuorasim.Tenant{
		"acme": {ClientSecret: "acme-secret", Workflows: zuorasim.GenerateWorkflows(1000, base)},
	})
	require.NoError(t, err)
	zs := httptest.NewServer(sim)
	t.Cleanup(zs.Close)
	env := map[string]string{
		"NATS_URL": testenv.NATS(t).ClientURL(), "DATABASE_URL": testenv.Postgres(t), "EVENTLINE_DATA_DIR": t.TempDir(),
		"EVENTLINE_HTTP_ADDR": "127.0.0.1:0", "EVENTLINE_PROJECTION_WAIT": "10ms",
	}
	p := startProc(t, env)
	var created struct {
		ID     string `json:"id"`
		SyncID string `json:"sync_id"`
	}
	body := fmt.Sprintf(`{"name":"Acme","zuora":{"base_url":%q,"client_id":"acme","client_secret":"acme-secret"}}`, zs.URL)
	resp := call(t, "POST", p.URL+"/api/customers", "application/json", []byte(body), nil, &created)
	require.Equal(t, http.StatusCreated, resp.StatusCode, readAll(resp))
	require.Equal(t, "completed", waitSync(t, p.URL, created.SyncID).Status)
	require.Equal(t, 1000, workflowCount(t, p.URL, created.ID))

	// 100 gone upstream; the sync lists 20 pages at 100 ms each.
	require.NoError(t, sim.PutTenant("acme", zuorasim.Tenant{ClientSecret: "acme-secret", Workflows: zuorasim.GenerateWorkflows(900, base)}))
	var started struct {
		SyncID string `json:"sync_id"`
	}
	resp = call(t, "POST", p.URL+"/api/customers/"+created.ID+"/sync", "application/json", []byte(`{}`), nil, &started)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, readAll(resp))
	before := sim.Stats().PageRequests
	require.Eventually(t, func() bool { return sim.Stats().PageRequests >= before+3 }, 60*time.Second, 10*time.Millisecond, "the sync is listing")
	require.NoError(t, p.cmd.Process.Kill()) // kill -9 mid-listing
	_ = p.cmd.Wait()

	p = startProc(t, env)
	var v syncView
	require.Eventually(t, func() bool {
		resp := call(t, "GET", p.URL+"/api/syncs/"+started.SyncID, "", nil, nil, &v)
		return resp.StatusCode == http.StatusOK && v.Status != "running"
	}, 90*time.Second, 100*time.Millisecond, "the interrupted sync was never ended")
	require.Equal(t, "failed", v.Status)
	require.Contains(t, v.Reason, "interrupted")
	require.Zero(t, v.Stats.Deleted)
	require.Equal(t, 1000, workflowCount(t, p.URL, created.ID), "an interrupted sync deletes nothing")

	resp = call(t, "POST", p.URL+"/api/customers/"+created.ID+"/sync", "application/json", []byte(`{}`), nil, &started)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, readAll(resp))
	again := waitSync(t, p.URL, started.SyncID)
	require.Equal(t, "completed", again.Status, again.Reason)
	require.Equal(t, 100, again.Stats.Deleted)
	require.Equal(t, 900, workflowCount(t, p.URL, created.ID))
}
