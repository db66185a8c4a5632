package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/browsertest"
)

// statNumber reads a count the stats panel shows ("1,234" → 1234), or -1.
func statNumber(b *browsertest.Browser, sel string) int64 {
	var s string
	if err := b.Try(2*time.Second, chromedp.Text(sel, &s, chromedp.ByQuery)); err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func TestDashboardLogsBurstConvergesAndFilters(t *testing.T) {
	s := startServe(t, nil)
	for i := range 3 {
		postLog(t, s.URL, `{"level":"error","message":"disk failure `+strconv.Itoa(i)+`","source":"node-9"}`)
	}

	b := browsertest.New(t)
	b.Run(15*time.Second, chromedp.Navigate(s.URL+"/logs"))
	b.WaitText("#logs-stats", "received", 10*time.Second)
	b.WaitText("#logs-entries", "disk failure 2", 10*time.Second)
	b.WaitText("#logs-retention", "Retention: entries kept 7 days. Oldest retained entry: 20", 10*time.Second)

	// A burst of 500 through the form: accepted once stored in the log,
	// then the projection catches up while the panel polls.
	b.Run(10*time.Second,
		chromedp.SetValue("#send-count", "500", chromedp.ByQuery),
		chromedp.SetValue("#send-message", "burst entry", chromedp.ByQuery),
		chromedp.Click("#send-button", chromedp.ByQuery))
	b.WaitText("#logs-sent", "Accepted 500 entries (last seq", 15*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		persisted, pending := statNumber(b, "#logs-persisted"), statNumber(b, "#logs-pending")
		if persisted >= 503 && pending == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "stats never converged: persisted %d, pending %d", persisted, pending)
		time.Sleep(200 * time.Millisecond)
	}
	assert.Equal(t, int64(503), statNumber(b, "#logs-received"))
	b.WaitText("#logs-entries", "burst entry (500/500)", 10*time.Second)

	// The chart draws both series once the sampler has two samples.
	deadline = time.Now().Add(15 * time.Second)
	for b.Nodes("#logs-chart svg polyline") < 2 {
		require.True(t, time.Now().Before(deadline), "the chart never drew its series")
		time.Sleep(200 * time.Millisecond)
	}
	b.Screenshot("logs")
	b.NoProblems()

	// Filter by level: only the three errors (once the new page's list is in).
	b.Run(10*time.Second,
		chromedp.SetValue("#f-level", "error", chromedp.ByQuery),
		chromedp.Click("#f-apply", chromedp.ByQuery))
	var levels []string
	deadline = time.Now().Add(15 * time.Second)
	for {
		var loc string
		levels = nil
		err := b.Try(5*time.Second, chromedp.Location(&loc),
			chromedp.Evaluate(`Array.from(document.querySelectorAll("#logs-entries tbody .badge")).map(e => e.textContent)`, &levels))
		if err == nil && strings.Contains(loc, "level=error") && len(levels) > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the filtered list never showed (at %s)", loc)
		time.Sleep(200 * time.Millisecond)
	}
	assert.Equal(t, []string{"error", "error", "error"}, levels)
	var selected string
	b.Run(5*time.Second, chromedp.Value("#f-level", &selected, chromedp.ByQuery))
	assert.Equal(t, "error", selected, "the filter form shows the filter applied")
	b.Screenshot("logs-filtered")

	// The overview's card shows the ingest rate, pending and a link.
	b.Run(15*time.Second, chromedp.Navigate(s.URL+"/"))
	b.WaitText("#card-logs-rate", "", 10*time.Second)
	b.WaitText("main", "entries/s (10 s)", 10*time.Second)
	b.NoProblems()

	// A bad filter is a clear message with 400, never a 500.
	for _, q := range []string{"level=loud", "cursor=nope", "q=" + strings.Repeat("x", 1100), "since=yesterday"} {
		res, err := http.Get(s.URL + "/logs?" + q)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, q)
		assert.Contains(t, string(body), `id="logs-error"`, q)
	}
	res, err := http.Get(s.URL + "/logs/entries?level=loud")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
}

func TestDashboardLogsSendRefusesBadInput(t *testing.T) {
	s := startServe(t, nil)
	post := func(form string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, s.URL+"/logs/send", strings.NewReader(form))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("HX-Request", "true")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	for form, want := range map[string]string{
		"level=info&message=m&count=0":                                     "Count must be",
		"level=info&message=m&count=10001":                                 "Count must be",
		"level=info&message=m&count=x":                                     "Count must be",
		"level=loud&message=m":                                             "level",
		"level=info&message=":                                              "message",
		"level=info&message=" + strings.Repeat("m", 60000) + "&count=1000": "16 MiB",
	} {
		status, body := post(form)
		assert.Equal(t, http.StatusBadRequest, status, form[:min(len(form), 40)])
		assert.Contains(t, body, want, form[:min(len(form), 40)])
	}
	status, body := post("level=warning&message=one&source=t")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "Accepted 1 entry")
}

func TestDashboardLogsNeedTheSessionWithAToken(t *testing.T) {
	s := startServe(t, map[string]string{"EVENTLINE_API_TOKEN": "s3cret"})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(s.URL + "/logs")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/login?next=%2Flogs", res.Header.Get("Location"))
	for _, path := range []string{"/logs/entries", "/logs/stats", "/logs/chart", "/logs/card"} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		req.Header.Set("HX-Request", "true")
		res, err := noRedirect.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode, path)
		assert.NotContains(t, string(body), "received", path)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/logs/send", strings.NewReader("level=info&message=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	res, err = noRedirect.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "send without the session")
}
