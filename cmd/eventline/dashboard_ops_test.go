package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/browsertest"
	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/opsdash"
)

// settledJS is true once every polled part of the page (overview cards,
// /streams sections) has replaced its "Loading…" and no request is in
// flight.
const settledJS = `(() => {
  const parts = Array.from(document.querySelectorAll('[hx-get]'));
  return parts.length > 0 && document.querySelectorAll('.htmx-request').length === 0 &&
    parts.every(e => !e.textContent.includes('Loading…'));
})()`

// waitSettled waits until settledJS holds, failing after timeout.
func waitSettled(t *testing.T, b *browsertest.Browser, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		if err := b.Try(2*time.Second, chromedp.Evaluate(settledJS, &ok)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page's fragments did not load within %s (problems: %v)", timeout, b.Problems())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// projectionCells returns, for each projection row of /streams, its
// checkpoint cell's text.
func projectionCells(t *testing.T, b *browsertest.Browser) map[string]string {
	t.Helper()
	var rows [][]string
	b.Run(10*time.Second, chromedp.Evaluate(`Array.from(document.querySelectorAll('#projections tbody tr')).map(
	  tr => [tr.querySelector('th').textContent.trim(), tr.querySelectorAll('td')[1].textContent.trim()])`, &rows))
	out := map[string]string{}
	for _, r := range rows {
		out[r[0]] = r[1]
	}
	return out
}

// checkOverviewAndStreams loads / and /streams in b and checks what they
// show.
func checkOverviewAndStreams(t *testing.T, b *browsertest.Browser, base string, shots bool) {
	t.Helper()
	b.Run(15*time.Second, chromedp.Navigate(base+"/"))
	waitSettled(t, b, 15*time.Second)
	cards := b.Nodes("section.card")
	require.Positive(t, cards)
	assert.Positive(t, b.Nodes(`section.card [hx-get="`+opsdash.CardPath+`"]`), "the Consumers card")
	assert.Zero(t, b.Nodes("section.card .error"), "no card shows an error")
	b.WaitText(`section.card [hx-get="`+opsdash.CardPath+`"]`, "logs projection", 10*time.Second)
	var titles []string
	b.Run(10*time.Second, chromedp.Evaluate(`Array.from(document.querySelectorAll('section.card h2')).map(h => h.textContent.trim())`, &titles))
	t.Logf("overview cards: %v", titles)
	if shots {
		b.Screenshot("overview")
	}

	b.Run(15*time.Second, chromedp.Navigate(base+opsdash.PagePath))
	waitSettled(t, b, 15*time.Second)
	assert.Equal(t, "Streams", b.Text(`nav a[aria-current="page"]`))
	for _, s := range []string{"LOGS", "SAGAS", "ORDERS", "WORKFLOWS"} {
		b.WaitText("#streams", s, 10*time.Second)
	}
	b.WaitText("#consumers", "proj_logs", 10*time.Second)
	assert.Zero(t, b.Nodes("main .error"), "no section shows an error")
	// The log posted before is projected: the page shows checkpoint 1.
	deadline := time.Now().Add(10 * time.Second)
	for projectionCells(t, b)["logs"] != "1" {
		require.True(t, time.Now().Before(deadline), "logs checkpoint never showed 1: %v", projectionCells(t, b))
		time.Sleep(100 * time.Millisecond)
	}
	cells := projectionCells(t, b)
	for _, name := range modules(defaultConfig()).Projections().Names() {
		assert.Contains(t, cells, name, "every projection is listed")
	}
	if shots {
		b.Screenshot("streams")
	}
	b.NoProblems()
}

func TestDashboardOpsOverviewAndStreamsInABrowser(t *testing.T) {
	s := startServe(t, nil)
	postLog(t, s.URL, `{"message":"for the streams page"}`)
	b := browsertest.New(t)
	checkOverviewAndStreams(t, b, s.URL, true)
}

func TestDashboardOpsNeedsTheToken(t *testing.T) {
	const token = "dash-s3cret"
	s := startServe(t, map[string]string{"EVENTLINE_API_TOKEN": token})
	call(t, "POST", s.URL+"/api/logs", "application/json", []byte(`{"message":"m"}`),
		map[string]string{"Authorization": "Bearer " + token}, nil)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	fetch := func(path string, hx bool, cookie *http.Cookie) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
		require.NoError(t, err)
		if hx {
			req.Header.Set("HX-Request", "true")
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := noRedirect.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, res.Header, string(body)
	}
	paths := []string{"/", opsdash.PagePath, opsdash.StreamsPath, opsdash.ConsumersPath, opsdash.ProjectionsPath, opsdash.CardPath}
	for _, p := range paths {
		for _, hx := range []bool{false, true} {
			status, h, body := fetch(p, hx, nil)
			if hx {
				assert.Equal(t, http.StatusUnauthorized, status, p)
				assert.True(t, strings.HasPrefix(h.Get("HX-Redirect"), "/login"), p)
			} else {
				assert.Equal(t, http.StatusSeeOther, status, p)
				assert.Equal(t, "/login?next="+url.QueryEscape(p), h.Get("Location"), p)
			}
			assert.NotContains(t, body, "LOGS", p)
			assert.NotContains(t, body, "proj_logs", p)
		}
	}
	for _, p := range []string{"/api/ops/streams", "/api/ops/consumers", "/api/ops/projections"} {
		status, _, body := fetch(p, true, nil)
		assert.Equal(t, http.StatusUnauthorized, status, p)
		assert.NotContains(t, body, "LOGS", p)
	}

	// A wrong token is refused and sets no session.
	res, err := noRedirect.PostForm(s.URL+"/login", url.Values{"token": {"wrong"}, "next": {"/streams"}})
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	for _, c := range res.Cookies() {
		assert.NotEqual(t, dashboard.SessionCookie, c.Name)
	}
	// The right one gives the session that opens the pages, fragments and API.
	res, err = noRedirect.PostForm(s.URL+"/login", url.Values{"token": {token}, "next": {"/streams"}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == dashboard.SessionCookie {
			session = c
		}
	}
	require.NotNil(t, session)
	status, _, body := fetch(opsdash.StreamsPath, true, session)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "LOGS")
	status, _, body = fetch("/api/ops/streams", false, session)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "LOGS")

	// In the browser: /streams asks for the token, the form signs in and
	// sends back to /streams, and both pages show their data.
	b := browsertest.New(t)
	b.Run(15*time.Second, chromedp.Navigate(s.URL+opsdash.PagePath))
	b.WaitText("h1", "Sign in", 10*time.Second)
	assert.Zero(t, b.Nodes("#streams"), "no data before signing in")
	b.Run(10*time.Second, chromedp.SendKeys("#token", token, chromedp.ByQuery), chromedp.Submit("#token", chromedp.ByQuery))
	b.WaitText("#streams", "LOGS", 15*time.Second)
	checkOverviewAndStreams(t, b, s.URL, false)
}
