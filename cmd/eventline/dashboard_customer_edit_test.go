package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/browsertest"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// Operators act on customers from the dashboard (issue 26), in a real
// browser against the real program and the Zuora stand-in: "Add customer"
// with a wrong secret makes a customer whose credentials are refused,
// shown in red with the reason and its backed-off schedule; "Edit" renames
// it and rotates the secret (the next sync completes); "Delete" removes it
// and its workflows.
func TestDashboardCustomerAddEditDeleteInABrowser(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sim, err := zuorasim.New(zuorasim.Options{}, map[string]zuorasim.Tenant{
		"acme": {ClientSecret: "acme-secret", Workflows: zuorasim.GenerateWorkflows(30, base)},
	})
	require.NoError(t, err)
	zs := httptest.NewServer(sim)
	t.Cleanup(zs.Close)
	s := startServe(t, map[string]string{"EVENTLINE_SYNC_RETRY_ATTEMPTS": "1", "EVENTLINE_SYNC_RETRY_DELAY": "10ms",
		"EVENTLINE_SYNC_INTERVAL": "24h", "EVENTLINE_SYNC_DAILY_AT": "-"})

	b := browsertest.New(t)
	b.Run(20*time.Second, chromedp.Navigate(s.URL+"/customers"), chromedp.Click("#add-customer summary", chromedp.ByQuery))
	b.Run(20*time.Second,
		chromedp.SetValue("#ac-name", "Acme", chromedp.ByQuery),
		chromedp.SetValue("#ac-base-url", zs.URL, chromedp.ByQuery),
		chromedp.SetValue("#ac-client-id", "acme", chromedp.ByQuery),
		chromedp.SetValue("#ac-client-secret", "wrong-secret-1", chromedp.ByQuery),
		chromedp.Click("#add-customer-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#summary", chromedp.ByQuery))
	b.WaitText("h1", "Acme", 5*time.Second)
	var loc string
	b.Run(5*time.Second, chromedp.Location(&loc))
	id := loc[strings.LastIndex(loc, "/")+1:]
	require.Len(t, id, 36, loc)
	b.WaitText("#last-status", "failed", 20*time.Second)
	b.WaitText("#credentials-error", "Zuora refused the credentials", 10*time.Second)
	require.Contains(t, b.Text("#credentials-error"), "unauthorized")
	require.Contains(t, b.Text("#schedule"), "Synced every 24h0m0s")
	require.Contains(t, b.Text("#schedule"), "refused the credentials: scheduled syncs wait")
	b.Screenshot("customer-refused")

	// Edit: a new name and the right secret.
	b.Run(20*time.Second, chromedp.Click("#edit-customer summary", chromedp.ByQuery),
		chromedp.SetValue("#ec-name", "Acme Renamed", chromedp.ByQuery),
		chromedp.SetValue("#ec-client-secret", "acme-secret", chromedp.ByQuery),
		chromedp.Click("#edit-customer-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#summary", chromedp.ByQuery))
	b.WaitText("h1", "Acme Renamed", 10*time.Second)
	require.Zero(t, b.Nodes("#credentials-error"), "new credentials clear the refusal")
	require.NotContains(t, b.Text("#schedule"), "refused")
	b.Run(10*time.Second, chromedp.Click("#sync-now", chromedp.ByQuery))
	b.WaitText("#sync-live", "completed", 30*time.Second)
	b.WaitText("#workflow-count", "30", 10*time.Second)
	page, err := http.Get(s.URL + "/customers/" + id)
	require.NoError(t, err)
	html := readAll(page)
	require.NotContains(t, html, "acme-secret", "the secret is never shown")
	require.NotContains(t, html, "wrong-secret-1")

	// Refused input is said in the form's result area, as the API says it.
	hx := map[string]string{"HX-Request": "true"}
	form := "application/x-www-form-urlencoded"
	for path, want := range map[string]string{
		"/customers/" + id + "/delete": "Tick the box to confirm the deletion.",
		"/customers/" + id + "/edit":   "zuora.client_secret must be at least 8 characters.",
		"/customers":                   "name is required.",
	} {
		req, err := http.NewRequest("POST", s.URL+path, strings.NewReader("client_secret=short"))
		require.NoError(t, err)
		req.Header.Set("Content-Type", form)
		for k, v := range hx {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, readAll(resp), want, path)
		resp.Body.Close()
	}

	// Delete, confirmed.
	b.Run(20*time.Second, chromedp.Click("#delete-customer summary", chromedp.ByQuery),
		chromedp.Click("#dc-confirm", chromedp.ByQuery),
		chromedp.Click("#delete-customer-submit", chromedp.ByQuery),
		chromedp.WaitVisible("#customers-list", chromedp.ByQuery))
	require.NotContains(t, b.Text("#customers-list"), "Acme Renamed")
	b.NoProblems()
	resp := call(t, "GET", s.URL+"/api/customers/"+id, "", nil, nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp = call(t, "GET", s.URL+"/api/customers/"+id+"/workflows", "", nil, nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
