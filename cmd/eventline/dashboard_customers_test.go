package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/browsertest"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// The customers pages in a real browser against the real program and the
// Zuora stand-in: the list and the customer page show the first sync and
// the workflows; after the tenant changes upstream, "Sync now" runs a sync
// whose status, stats and workflows show up without a reload.
func TestDashboardCustomersSyncNowInABrowser(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sim, err := zuorasim.New(zuorasim.Options{}, map[string]zuorasim.Tenant{
		"acme": {ClientSecret: "acme-secret", Workflows: zuorasim.GenerateWorkflows(60, base)},
	})
	require.NoError(t, err)
	zs := httptest.NewServer(sim)
	t.Cleanup(zs.Close)
	// No daily sync: past its time of day, the scheduler's first tick (at
	// start) or any later one would start today's for the new customer,
	// a second row in its syncs.
	s := startServe(t, map[string]string{"EVENTLINE_SYNC_RETRY_ATTEMPTS": "1", "EVENTLINE_SYNC_RETRY_DELAY": "10ms",
		"EVENTLINE_SYNC_INTERVAL": "24h", "EVENTLINE_SYNC_DAILY_AT": "-"})
	awaitSchedulerQuiet(t)

	var created struct {
		ID     string `json:"id"`
		SyncID string `json:"sync_id"`
	}
	body := fmt.Sprintf(`{"name":"Acme <b>Corp</b>","zuora":{"base_url":%q,"client_id":"acme","client_secret":"acme-secret"}}`, zs.URL)
	resp := call(t, "POST", s.URL+"/api/customers", "application/json", []byte(body), nil, &created)
	require.Equal(t, http.StatusCreated, resp.StatusCode, readAll(resp))
	first := waitSync(t, s.URL, created.SyncID)
	require.Equal(t, "completed", first.Status, first.Reason)

	b := browsertest.New(t)
	b.Run(20*time.Second, chromedp.Navigate(s.URL+"/customers"))
	b.WaitText("#customers-list tbody", "Acme <b>Corp</b>", 10*time.Second) // escaped, shown as text
	b.WaitText("#customers-list tbody", "completed", 10*time.Second)
	row := b.Text("#customers-list tbody tr")
	require.Contains(t, row, "60", "created and workflow count")
	require.Contains(t, row, zs.URL)
	require.Equal(t, "Customers", b.Text(`nav a[aria-current="page"]`))
	b.Screenshot("customers")

	b.Run(20*time.Second, chromedp.Click(`#customers-list tbody a`, chromedp.ByQuery), chromedp.WaitVisible("#summary", chromedp.ByQuery))
	b.WaitText("h1", "Acme <b>Corp</b>", 5*time.Second)
	b.WaitText("#last-status", "completed", 10*time.Second)
	require.Equal(t, "60", b.Text("#last-created"))
	require.Equal(t, "60", b.Text("#last-total"))
	require.Equal(t, "60", b.Text("#workflow-count"))
	require.Equal(t, zs.URL, b.Text("#cust-base-url"))
	require.Equal(t, 50, b.Nodes("#workflows tbody tr"), "50 workflows per page")
	require.Contains(t, b.Text("#workflows tbody tr"), "Workflow 1")
	require.Equal(t, 1, b.Nodes(`#workflows a[rel="next"]`))
	require.Equal(t, 1, b.Nodes("#syncs tbody tr"))
	page, err := http.Get(s.URL + "/customers/" + created.ID)
	require.NoError(t, err)
	html := readAll(page)
	require.NotContains(t, html, "acme-secret", "the client secret is never shown")
	require.NotContains(t, html, "<b>Corp</b>")

	// Upstream: 1 edited, 10 deleted (41..50), 5 added (61..65).
	wfs := zuorasim.GenerateWorkflows(65, base)
	wfs[0].Name += " (edited)"
	wfs = append(wfs[:40], wfs[50:]...)
	require.NoError(t, sim.PutTenant("acme", zuorasim.Tenant{ClientSecret: "acme-secret", Workflows: wfs}))
	b.Run(10*time.Second, chromedp.Click("#sync-now", chromedp.ByQuery))
	b.WaitText("#sync-live", "completed", 30*time.Second)
	require.Contains(t, b.Text("#sync-live"), "5 created, 1 updated, 10 deleted of 55 listed")
	b.WaitText("#last-deleted", "10", 10*time.Second)
	require.Equal(t, "5", b.Text("#last-created"))
	require.Equal(t, "1", b.Text("#last-updated"))
	require.Equal(t, "55", b.Text("#last-total"))
	b.WaitText("#workflow-count", "55", 10*time.Second)
	b.WaitText("#workflows tbody tr", "Workflow 1 (edited)", 10*time.Second)
	b.WaitText("#syncs tbody tr", "manual", 10*time.Second)
	require.Equal(t, 2, b.Nodes("#syncs tbody tr"))
	b.Screenshot("customer")

	// The filters, as the API validates them.
	b.Run(20*time.Second, chromedp.Navigate(s.URL+"/customers/"+created.ID+"?status=inactive&q=Workflow+4"))
	b.WaitText("#workflows tbody", "Workflow 4", 10*time.Second)
	require.Equal(t, 2, b.Nodes("#workflows tbody tr"), "Workflow 4 and 40 are inactive; 44 and 48 are gone")

	// The overview's card lists the last syncs.
	b.Run(20*time.Second, chromedp.Navigate(s.URL+"/"))
	b.WaitText(".cust-last", "Acme <b>Corp</b>", 10*time.Second)
	b.NoProblems()

	for path, want := range map[string]int{
		"/customers/not-a-uuid":                           http.StatusBadRequest,
		"/customers/" + uuid.NewString():                  http.StatusNotFound,
		"/customers/" + created.ID + "?status=bogus":      http.StatusBadRequest,
		"/customers/" + created.ID + "?cursor=%25%25":     http.StatusBadRequest,
		"/customers/" + created.ID + "?limit=0":           http.StatusBadRequest,
		"/customers/" + created.ID + "?q=%00":             http.StatusBadRequest,
		"/customers/" + created.ID + "?sync_cursor=e30":   http.StatusBadRequest,
		"/customers?cursor=" + strings.Repeat("A", 40):    http.StatusBadRequest,
		"/customers/" + created.ID + "/syncs/nope":        http.StatusOK, // not yet known: followed as "starting"
		"/customers/" + created.ID + "/workflows?cursor=": http.StatusOK,
	} {
		res, err := http.Get(s.URL + path)
		require.NoError(t, err)
		text := readAll(res)
		require.Equal(t, want, res.StatusCode, "%s: %s", path, text)
		if want == http.StatusBadRequest {
			require.Contains(t, text, `class="error"`, path)
		}
	}
}

// awaitSchedulerQuiet returns when the next scheduler tick is far enough
// away for the test to run without a scheduled sync: the scheduler starts
// a customer's interval sync at the first minute boundary after the
// customer is created when its first sync has not completed by then (still
// running, or failed), which would change "the last sync" under the test.
func awaitSchedulerQuiet(t *testing.T) {
	t.Helper()
	const need = 25 * time.Second // the test takes about 10 s
	now := time.Now()
	next := now.Truncate(time.Minute).Add(time.Minute)
	if next.Sub(now) >= need {
		return
	}
	wait := next.Sub(now) + 2*time.Second // past the tick, with a margin
	t.Logf("waiting %s for the scheduler's minute tick to pass", wait.Round(time.Second))
	<-time.After(wait)
}
