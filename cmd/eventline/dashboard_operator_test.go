package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/browsertest"
)

// noMidWordBreakJS lists the one-word texts of the overview's cards and
// banner that the browser broke over two lines.
const noMidWordBreakJS = `(() => {
  const broken = [];
  for (const el of document.querySelectorAll('main th, main td, main .label, main .badge, main a, main button, main label, main strong, main span, main li')) {
    for (const n of el.childNodes) {
      if (n.nodeType !== 3) continue;
      for (const w of n.textContent.split(/\s+/).filter(w => w.length > 1)) {
        const i = n.textContent.indexOf(w);
        const r = document.createRange();
        r.setStart(n, i); r.setEnd(n, i + w.length);
        const lines = new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top)));
        if (lines.size > 1) broken.push(w);
      }
    }
  }
  return broken;
})()`

// overflowJS lists the elements wider than the page when the page
// scrolls sideways (nothing when it does not).
const overflowJS = `(() => {
  const w = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= w) return [];
  return Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > w + 1)
    .slice(0, 8).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className);
})()`

// waitSearch waits until the page shown is the answer to the search form's
// submission with query in its URL: the list of the page the form was on
// may hold the sagas the search should find, so waiting for them alone
// can pass before the browser has left it (and a next submission is then
// lost with that page).
func waitSearch(t *testing.T, b *browsertest.Browser, query string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var ready bool
		return b.Try(2*time.Second, chromedp.Evaluate(`location.search.includes(`+strconv.Quote(query)+`) && document.readyState === 'complete'`, &ready)) == nil && ready
	}, 15*time.Second, 50*time.Millisecond, "the search for %s was not shown", query)
}

// An operator finds a saga that needs attention through the overview's
// banner and the search, and marks its step after the pivot resolved with
// who and why: the saga completes and the banner goes. The overview
// neither breaks words at 1280 px nor overflows at 800 px.
func TestDashboardOperatorSearchesResolvesAndTheBannerGoes(t *testing.T) {
	s := startServe(t, shortSagaPolicy)
	c := newSagaClient(s.URL)
	ok := c.mustOrder(t, orderBody(c.user(t, "Ada", "ada@example.com"), "tok_ok", orderItem{ProductID: c.product(t, "Lamp", 10), Quantity: 1}))
	bounceUser := c.user(t, "Bo", "bo@bounce.test")
	bounced := c.mustOrder(t, orderBody(bounceUser, "tok_ok", orderItem{ProductID: c.product(t, "Pen", 10), Quantity: 1}))
	c.mustWaitSaga(t, ok.SagaID)
	bv := c.mustWaitSaga(t, bounced.SagaID)
	require.Equal(t, "needs_attention", bv.Status, "%+v", bv)

	b := browsertest.New(t)
	b.Run(30*time.Second, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(s.URL+"/"))
	b.WaitText("#overview-banner", "1 saga needs attention", 30*time.Second)
	waitSettled(t, b, 15*time.Second)
	var broken []string
	b.Run(10*time.Second, chromedp.Evaluate(noMidWordBreakJS, &broken))
	assert.Empty(t, broken, "words broken over two lines at 1280 px")
	var spilled []string
	b.Run(10*time.Second, chromedp.Evaluate(`Array.from(document.querySelectorAll('section.card')).filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent.trim().slice(0, 40))`, &spilled))
	assert.Empty(t, spilled, "cards whose content is wider than the card at 1280 px")
	b.Screenshot("overview-banner")

	// The banner's link lists the sagas that need attention.
	b.Run(10*time.Second, chromedp.Click(`#overview-banner a[href="/sagas?status=needs_attention"]`, chromedp.ByQuery))
	b.WaitText("#sagas-list tbody", bounced.SagaID, 15*time.Second)
	assert.NotContains(t, b.Text("#sagas-list tbody"), ok.SagaID)

	// Search by the user, then by the first characters of the saga's id.
	b.Run(15*time.Second, chromedp.Navigate(s.URL+"/sagas"))
	b.WaitText("#sagas-list", "all", 10*time.Second)
	b.Run(10*time.Second, chromedp.SetValue("#ss-user", bounceUser, chromedp.ByQuery), chromedp.Click("#ss-submit", chromedp.ByQuery))
	waitSearch(t, b, "user_id="+bounceUser)
	b.WaitText("#sagas-list tbody", bounced.SagaID, 15*time.Second)
	require.Equal(t, 1, b.Nodes("#sagas-list tbody tr.saga-row"), "only the user's saga: %s", b.Text("#sagas-list tbody"))
	b.Run(15*time.Second, chromedp.Navigate(s.URL+"/sagas"))
	b.WaitText("#sagas-list", "all", 10*time.Second)
	b.Run(10*time.Second, chromedp.SetValue("#ss-id", ok.SagaID[:13], chromedp.ByQuery), chromedp.Click("#ss-submit", chromedp.ByQuery))
	waitSearch(t, b, "id="+ok.SagaID[:13])
	b.WaitText("#sagas-list tbody", ok.SagaID, 15*time.Second)
	b.Run(10*time.Second, chromedp.SetValue("#ss-id", "no-such-saga", chromedp.ByQuery), chromedp.Click("#ss-submit", chromedp.ByQuery))
	waitSearch(t, b, "id=no-such-saga")
	b.WaitText("#sagas-none", "No sagas match this search.", 15*time.Second)

	// The saga page: each step's input and output; abort refused with the
	// reason; mark resolved needs a reason, then completes the saga.
	b.Run(15*time.Second, chromedp.Navigate(s.URL+"/sagas/"+bounced.SagaID))
	b.WaitText("#saga-status", "needs_attention", 15*time.Second)
	b.WaitText("#why-abort", "Only a running saga can be aborted", 5*time.Second)
	text := func(sel string) string {
		var v string
		b.Run(5*time.Second, chromedp.Evaluate(`(document.querySelector('`+sel+`') || {}).textContent || ''`, &v))
		return v
	}
	out := text("#step-process_payment .step-output")
	assert.Contains(t, out, "charged", "the payment's output")
	in := text("#step-send_notification .step-input")
	assert.Contains(t, in, bounceUser, "the notification's input")
	assert.Contains(t, in, "(hidden)", "the payment token is not shown")
	assert.NotContains(t, in, "tok_ok")
	b.Run(10*time.Second, chromedp.Click("#saga-resolve", chromedp.ByQuery))
	b.WaitText("#saga-action", "Refused: A reason is required", 10*time.Second)
	b.Run(10*time.Second, chromedp.SetValue("#op-by", "ops-alice", chromedp.ByQuery),
		chromedp.SetValue("#op-reason", "mailbox fixed, customer called", chromedp.ByQuery),
		chromedp.Click("#saga-resolve", chromedp.ByQuery))
	b.WaitText("#saga-action", "Marked resolved by ops-alice", 15*time.Second)
	b.WaitText("#saga-status", "completed", 15*time.Second)
	b.WaitText("#saga-timeline", "send_notification marked resolved by an operator", 15*time.Second)
	b.WaitText("#step-send_notification", "resolved by ops-alice: mailbox fixed, customer called", 5*time.Second)

	// The banner goes once the read model has the saga completed.
	b.Run(15*time.Second, chromedp.Navigate(s.URL+"/"))
	b.WaitText("#overview-banner", "All clear", 30*time.Second)
	require.Zero(t, b.Nodes("#overview-banner .shout"))

	for _, page := range []string{"/sagas", "/sagas/" + bounced.SagaID, "/streams", "/customers", "/logs"} {
		b.Run(15*time.Second, chromedp.Navigate(s.URL+page))
		require.Eventually(t, func() bool {
			var loading bool
			return b.Try(2*time.Second, chromedp.Evaluate(`document.body.textContent.includes('Loading…')`, &loading)) == nil && !loading
		}, 15*time.Second, 100*time.Millisecond, "%s still loading", page)
		var broken []string
		b.Run(10*time.Second, chromedp.Evaluate(noMidWordBreakJS, &broken))
		assert.Empty(t, broken, "%s: words broken over two lines at 1280 px", page)
	}

	b.Run(10*time.Second, chromedp.EmulateViewport(800, 900), chromedp.Navigate(s.URL+"/"))
	waitSettled(t, b, 15*time.Second)
	for _, page := range []string{"/", "/sagas", "/sagas/" + bounced.SagaID, "/streams", "/customers", "/logs"} {
		b.Run(15*time.Second, chromedp.Navigate(s.URL+page))
		b.WaitText("h1", "", 10*time.Second)
		require.Eventually(t, func() bool {
			var loading bool
			return b.Try(2*time.Second, chromedp.Evaluate(`document.body.textContent.includes('Loading…')`, &loading)) == nil && !loading
		}, 15*time.Second, 100*time.Millisecond, "%s still loading", page)
		var wide []string
		b.Run(5*time.Second, chromedp.Evaluate(overflowJS, &wide))
		assert.Empty(t, wide, "%s overflows at 800 px", page)
	}
	b.NoProblems()
}
