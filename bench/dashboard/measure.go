package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// target is one URL measured.
type target struct {
	Name string
	Path string
	// Baseline marks the same-run references (not held to the targets).
	Baseline bool
	// Render is false for a target only measured over HTTP.
	Render bool
}

// result is one target's figures.
type result struct {
	target
	// Status is the answer to the first GET (404: not on this build).
	Status                  int
	FirstP50, FirstP99      time.Duration
	RenderP50, RenderMax    time.Duration
	RenderErr               string
	Fragments, StillLoading int
}

func targets(s seeded) []target {
	return []target{
		{Name: "GET /healthz (bare handler)", Path: "/healthz", Baseline: true},
		{Name: "404 page (layout, no fragment)", Path: "/bench-no-such-page", Baseline: true, Render: true},
		{Name: "/", Path: "/", Render: true},
		{Name: "/logs", Path: "/logs", Render: true},
		{Name: "/sagas", Path: "/sagas", Render: true},
		{Name: "/sagas/{id}", Path: "/sagas/" + s.SagaID, Render: true},
		{Name: "/customers", Path: "/customers", Render: true},
		{Name: "/customers/{id}", Path: "/customers/" + s.CustomerID, Render: true},
		{Name: "/streams", Path: "/streams", Render: true},
	}
}

// measure runs both measurements for every target.
func measure(ctx context.Context, o options, base string, s seeded, logf func(string, ...any)) ([]result, error) {
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	var session *http.Cookie
	if o.Token != "" {
		var err error
		if session, err = signIn(client, base, o.Token); err != nil {
			return nil, err
		}
	}
	br, closeBrowser, err := newBrowser(ctx, base, session)
	if err != nil {
		return nil, err
	}
	defer closeBrowser()
	var out []result
	for _, t := range targets(s) {
		r := result{target: t}
		if r.Status, err = firstBytes(ctx, client, base+t.Path, session, o.Gets, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		logf("%s: HTTP %d, first byte p50 %.2f ms p99 %.2f ms", t.Name, r.Status, ms(r.FirstP50), ms(r.FirstP99))
		if t.Render && (r.Status == http.StatusOK || t.Baseline) {
			renders(br, base+t.Path, o.Loads, &r)
			if r.RenderErr != "" {
				logf("%s: render: %s", t.Name, r.RenderErr)
			} else {
				logf("%s: render p50 %.1f ms (max %.1f ms), %d fragments", t.Name, ms(r.RenderP50), ms(r.RenderMax), r.Fragments)
			}
		}
		out = append(out, r)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// signIn posts the token to /login and returns the session cookie.
func signIn(c *http.Client, base, token string) (*http.Cookie, error) {
	res, err := c.PostForm(base+"/login", url.Values{"token": {token}, "next": {"/"}})
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.Name == "eventline_session" {
			return ck, nil
		}
	}
	return nil, fmt.Errorf("sign in: HTTP %d without a session cookie", res.StatusCode)
}

// firstBytes GETs u n times (after 3 unmeasured) and sets r's first-byte
// percentiles; it returns the first answer's status.
func firstBytes(ctx context.Context, c *http.Client, u string, session *http.Cookie, n int, r *result) (int, error) {
	var times []time.Duration
	status := 0
	for i := range n + 3 {
		var start, first time.Time
		trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { first = time.Now() }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, u, nil)
		if err != nil {
			return 0, err
		}
		if session != nil {
			req.AddCookie(session)
		}
		start = time.Now()
		res, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if status == 0 {
			status = res.StatusCode
		}
		if i >= 3 {
			times = append(times, first.Sub(start))
		}
	}
	r.FirstP50, r.FirstP99 = percentile(times, 0.50), percentile(times, 0.99)
	return status, nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// browser is a headless Chromium tab.
type browser struct{ ctx context.Context }

// newBrowser starts Chromium with the browser tests' flags (a laptop-sized
// window), with the session cookie set when there is one.
func newBrowser(ctx context.Context, base string, session *http.Cookie) (*browser, func(), error) {
	path := os.Getenv("CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path != "" {
			break
		}
		path, _ = exec.LookPath(name)
	}
	if path == "" {
		return nil, nil, errors.New("no chromium on the PATH (apt-get install chromium, or set CHROMIUM)")
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]), chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Headless, chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("no-first-run", true), chromedp.WindowSize(1366, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(actx)
	stop := func() { cancel(); cancelAlloc() }
	actions := []chromedp.Action{network.Enable(), chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(probeJS).Do(ctx)
		return err
	})}
	if session != nil {
		actions = append(actions, chromedp.ActionFunc(func(ctx context.Context) error {
			return network.SetCookie(session.Name, session.Value).WithURL(base).Do(ctx)
		}))
	}
	if err := chromedp.Run(bctx, actions...); err != nil {
		stop()
		return nil, nil, fmt.Errorf("start chromium %s: %w", path, err)
	}
	return &browser{ctx: bctx}, stop, nil
}

// probeJS runs in every page before its own scripts (injected by the
// DevTools protocol, outside the page's CSP): it counts htmx's requests
// and settles and notes when the last swap settled.
const probeJS = `window.__bench = {req: 0, done: 0, last: 0};
document.addEventListener('htmx:beforeRequest', () => { window.__bench.req++; });
document.addEventListener('htmx:afterSettle', () => { window.__bench.done++; window.__bench.last = performance.now(); });
document.addEventListener('htmx:afterRequest', (e) => { if (!e.detail.successful) { window.__bench.done++; window.__bench.last = performance.now(); } });`

// settledJS answers, once the page is loaded and every fragment it
// requested has settled with no "Loading…" left, the time of that from
// navigation start (ms), else -1; and the number of polled fragments.
const settledJS = `(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const b = window.__bench || {req: 0, done: 0, last: 0};
  const parts = Array.from(document.querySelectorAll('[hx-get]'));
  const loading = parts.filter(e => e.textContent.includes('Loading…')).length;
  if (document.readyState !== 'complete' || !nav || nav.loadEventEnd === 0) return [-1, parts.length, loading];
  if (document.querySelectorAll('.htmx-request').length > 0 || loading > 0 || b.done < b.req) return [-1, parts.length, loading];
  return [Math.max(nav.loadEventEnd, b.last), parts.length, loading];
})()`

// renders loads u n times (after 2 unmeasured) and sets r's render p50.
func renders(br *browser, u string, n int, r *result) {
	var times []time.Duration
	for i := range n + 2 {
		d, frags, loading, err := renderOnce(br, u)
		r.Fragments, r.StillLoading = frags, loading
		if err != nil {
			r.RenderErr = err.Error()
			return
		}
		if i >= 2 {
			times = append(times, d)
		}
	}
	r.RenderP50, r.RenderMax = percentile(times, 0.5), slices.Max(times)
}

// renderOnce navigates to u and waits (at most 10 s) until it is settled.
func renderOnce(br *browser, u string) (time.Duration, int, int, error) {
	ctx, cancel := context.WithTimeout(br.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(u)); err != nil {
		return 0, 0, 0, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v []float64
		if err := chromedp.Run(ctx, chromedp.Evaluate(settledJS, &v)); err != nil {
			return 0, 0, 0, err
		}
		if len(v) == 3 && v[0] >= 0 {
			return time.Duration(v[0] * float64(time.Millisecond)), int(v[1]), int(v[2]), nil
		}
		if time.Now().After(deadline) {
			frags, loading := 0, 0
			if len(v) == 3 {
				frags, loading = int(v[1]), int(v[2])
			}
			return 0, frags, loading, fmt.Errorf("not settled after 10 s (%d of %d fragments still loading)", loading, frags)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
