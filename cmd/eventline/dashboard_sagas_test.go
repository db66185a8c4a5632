package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/browsertest"
)

// placeFromForm picks token in the order form of /sagas, places the order
// and returns the link to its saga that the form answers with.
func placeFromForm(t *testing.T, b *browsertest.Browser, token string) string {
	t.Helper()
	var before string
	_ = b.Try(2*time.Second, chromedp.AttributeValue("#placed-saga", "href", &before, nil, chromedp.AtLeast(0)))
	b.Run(10*time.Second, chromedp.SetValue("#of-token", token, chromedp.ByQuery), chromedp.Click("#place-order", chromedp.ByQuery))
	deadline := time.Now().Add(20 * time.Second)
	for {
		var href string
		var ok bool
		err := b.Try(2*time.Second, chromedp.AttributeValue("#placed-saga", "href", &href, &ok, chromedp.AtLeast(0)))
		if err == nil && ok && href != "" && href != before {
			require.True(t, strings.HasPrefix(href, "/sagas/"), href)
			return href
		}
		require.True(t, time.Now().Before(deadline), "the form never answered with a saga link (result: %q)", b.Text("#order-result"))
		time.Sleep(100 * time.Millisecond)
	}
}

// createDemo creates a demo user and product from the form of /sagas
// (whose address bounces when bounce).
func createDemo(t *testing.T, b *browsertest.Browser, bounce bool) {
	t.Helper()
	if bounce {
		b.Run(5*time.Second, chromedp.Click("#demo-bounce", chromedp.ByQuery))
	}
	b.Run(10*time.Second, chromedp.Click("#create-demo", chromedp.ByQuery))
	want := "@example.com"
	if bounce {
		want = "@bounce.test"
	}
	b.WaitText("#order-result", want, 15*time.Second)
}

func TestDashboardSagasWatchEveryPathInABrowser(t *testing.T) {
	s := startServe(t, shortSagaPolicy)
	b := browsertest.New(t)
	b.Run(30*time.Second, chromedp.EmulateViewport(1366, 900), chromedp.Navigate(s.URL+"/sagas"))
	b.WaitText("h1", "Sagas", 10*time.Second)
	// The counts and the list come as a fragment after the page: settled
	// before the form is used.
	b.WaitText("#sagas-list", "all", 10*time.Second)

	createDemo(t, b, false)
	declined := placeFromForm(t, b, "tok_declined")
	ok := placeFromForm(t, b, "tok_ok")
	createDemo(t, b, true)
	bounced := placeFromForm(t, b, "tok_ok")

	// tok_declined: the payment is refused and the saga undoes the order
	// and the reservation.
	b.Run(15*time.Second, chromedp.Navigate(s.URL+declined))
	b.WaitText("#saga-status", "compensated", 60*time.Second)
	b.WaitText("#saga-timeline", "cancel_order (compensates create_order)", 10*time.Second)
	b.WaitText("#saga-timeline", "release_inventory (compensates reserve_inventory)", 10*time.Second)
	b.WaitText("#saga-timeline", "saga compensated", 10*time.Second)
	tl := b.Text("#saga-timeline")
	assert.Contains(t, tl, "declined")
	assert.Less(t, strings.Index(tl, "cancel_order"), strings.Index(tl, "release_inventory"), "compensations run backwards")
	assert.Zero(t, b.Nodes("#saga-retry:not([disabled])"), "a compensated saga cannot be retried")
	assert.Zero(t, b.Nodes("#saga-abort:not([disabled])"), "a compensated saga cannot be aborted")
	b.WaitText("#why-retry", "Only a saga that needs attention or failed can be retried", 5*time.Second)
	b.Screenshot("saga-timeline")

	b.Run(15*time.Second, chromedp.Navigate(s.URL+ok))
	b.WaitText("#saga-status", "completed", 60*time.Second)
	b.WaitText("#saga-timeline", "saga completed", 10*time.Second)

	// A bounced notification: the saga waits for an operator, and retrying
	// from the page goes through the API's code.
	b.Run(15*time.Second, chromedp.Navigate(s.URL+bounced))
	b.WaitText("#saga-status", "needs_attention", 60*time.Second)
	require.Equal(t, 1, b.Nodes("#saga-retry:not([disabled])"), "needs_attention shows Retry")
	assert.Zero(t, b.Nodes("#saga-abort:not([disabled])"))
	b.Run(10*time.Second, chromedp.Click("#saga-retry", chromedp.ByQuery))
	b.WaitText("#saga-action", "Retried", 15*time.Second)
	b.WaitText("#saga-timeline", "retried by an operator", 15*time.Second)
	b.WaitText("#saga-status", "needs_attention", 60*time.Second) // the address still bounces
	b.WaitText("#saga-timeline", "saga needs attention", 15*time.Second)
	b.Screenshot("saga-needs-attention")

	b.Run(15*time.Second, chromedp.Navigate(s.URL+"/sagas"))
	b.WaitText("#count-compensated", "1", 15*time.Second)
	b.WaitText("#count-completed", "1", 15*time.Second)
	b.WaitText("#count-needs_attention", "1", 15*time.Second)
	b.Run(10*time.Second, chromedp.Click(`a[href="/sagas?status=compensated"]`, chromedp.ByQuery))
	b.WaitText("#sagas-list tbody", strings.TrimPrefix(declined, "/sagas/"), 10*time.Second)
	assert.NotContains(t, b.Text("#sagas-list tbody"), strings.TrimPrefix(ok, "/sagas/"))
	b.Run(15*time.Second, chromedp.Navigate(s.URL+"/sagas"))
	b.WaitText("#sagas-list tbody", strings.TrimPrefix(ok, "/sagas/"), 10*time.Second)
	b.Screenshot("sagas")

	b.Run(15*time.Second, chromedp.Navigate(s.URL+"/"))
	b.WaitText("main", "needs_attention", 15*time.Second)
	b.NoProblems()
}

func TestDashboardSagasRefusesBadInput(t *testing.T) {
	s := startServe(t, shortSagaPolicy)
	for path, want := range map[string]int{
		"/sagas/no.such.id":                  http.StatusBadRequest,
		"/sagas/" + strings.Repeat("a", 200): http.StatusBadRequest,
		"/sagas/no-such-saga":                http.StatusNotFound,
		"/sagas?status=bogus":                http.StatusBadRequest,
		"/sagas?cursor=bogus":                http.StatusBadRequest,
		"/sagas?limit=5":                     http.StatusBadRequest,
		"/sagas?status=running":              http.StatusOK,
		"/sagas?user_id=a.b":                 http.StatusBadRequest,
		"/sagas?since=yesterday":             http.StatusBadRequest,
		"/sagas?id=abc&user_id=u1&since=1h":  http.StatusOK,
	} {
		res, err := http.Get(s.URL + path)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, want, res.StatusCode, path)
		assert.Contains(t, res.Header.Get("Content-Type"), "text/html", path)
	}
}
