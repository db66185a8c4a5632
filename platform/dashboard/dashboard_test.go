package dashboard_test

import (
	"embed"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/browsertest"
	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
)

//go:embed testdata/hello.html
var helloFS embed.FS

// helloServer serves a dashboard with one page whose counter a fragment
// keeps live and whose button posts an action.
func helloServer(t *testing.T, token string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	d, err := dashboard.New(dashboard.Config{Token: token})
	require.NoError(t, err)
	tmpl := d.MustTemplates(helloFS, "testdata/hello.html")
	var n, acted atomic.Int64
	d.Page(dashboard.Page{Pattern: "GET /hello", Nav: "Hello", Handler: func(w http.ResponseWriter, r *http.Request) {
		d.Render(w, r, tmpl, "Hello", nil)
	}})
	d.Handle("GET /hello/counter", func(w http.ResponseWriter, r *http.Request) {
		d.Fragment(w, r, tmpl, "counter", n.Add(1))
	})
	d.Handle("POST /hello/act", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("acted " + strconv.FormatInt(acted.Add(1), 10)))
	})
	srv := httpapi.NewServer(httpapi.ServerConfig{Token: token, Session: d.APIAuthorized})
	srv.Handle("GET /api/ping", func(w http.ResponseWriter, r *http.Request) { httpapi.WriteJSON(w, 200, "pong") })
	d.Mount(srv)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts, &acted
}

func TestPageIsLiveAndItsActionWorksInABrowser(t *testing.T) {
	ts, acted := helloServer(t, "")
	b := browsertest.New(t)
	b.Run(15*time.Second, chromedp.Navigate(ts.URL+"/hello"))
	b.WaitText("#counter", "3", 10*time.Second) // the fragment polled at least thrice
	b.Run(10*time.Second, chromedp.Click("#act", chromedp.ByQuery))
	b.WaitText("#acted", "acted 1", 10*time.Second)
	assert.Equal(t, int64(1), acted.Load())
	assert.Equal(t, "Hello", b.Text(`nav a[aria-current="page"]`))
	b.Screenshot("dashboard-hello")
	b.NoProblems()
}

func TestTokenGuardsPagesFragmentsAndActions(t *testing.T) {
	ts, acted := helloServer(t, "s3cret")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	res, err := noRedirect.Get(ts.URL + "/hello")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/login?next=%2Fhello", res.Header.Get("Location"))

	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/hello/counter", nil)
	req.Header.Set("HX-Request", "true")
	res, err = noRedirect.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "a fragment without the session")

	// A wrong token is refused; the right one gives a cookie that is not the token.
	res, err = noRedirect.PostForm(ts.URL+"/login", map[string][]string{"token": {"nope"}, "next": {"/hello"}})
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	res, err = noRedirect.PostForm(ts.URL+"/login", map[string][]string{"token": {"s3cret"}, "next": {"//evil.example/"}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/", res.Header.Get("Location"), "never sent to another site")
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == dashboard.SessionCookie {
			session = c
		}
	}
	require.NotNil(t, session)
	assert.True(t, session.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, session.SameSite)
	assert.NotContains(t, session.Value, "s3cret")

	get := func(path string, hx bool) int {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		req.AddCookie(session)
		if hx {
			req.Header.Set("HX-Request", "true")
		}
		res, err := noRedirect.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	assert.Equal(t, http.StatusOK, get("/hello", false))
	assert.Equal(t, http.StatusOK, get("/hello/counter", true))
	assert.Equal(t, http.StatusOK, get("/api/ping", false), "the session reads the API")

	// An action posted by another site's form (no HX-Request) is refused.
	req, _ = http.NewRequest(http.MethodPost, ts.URL+"/hello/act", strings.NewReader(""))
	req.AddCookie(session)
	res, err = noRedirect.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode)
	req, _ = http.NewRequest(http.MethodPost, ts.URL+"/hello/act", strings.NewReader(""))
	req.AddCookie(session)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("Origin", "https://evil.example")
	res, err = noRedirect.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusForbidden, res.StatusCode, "a script of another origin")
	assert.Zero(t, acted.Load())

	// A form body beyond MaxFormBytes is refused before the action reads it.
	req, _ = http.NewRequest(http.MethodPost, ts.URL+"/hello/act",
		strings.NewReader("x="+strings.Repeat("a", dashboard.MaxFormBytes)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(session)
	req.Header.Set("HX-Request", "true")
	res, err = noRedirect.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	assert.Zero(t, acted.Load())

	// The browser signs in through the form and then sees the page live.
	b := browsertest.New(t)
	b.Run(15*time.Second, chromedp.Navigate(ts.URL+"/hello"))
	b.WaitText("h1", "Sign in", 10*time.Second)
	b.Run(10*time.Second, chromedp.SendKeys("#token", "s3cret", chromedp.ByQuery), chromedp.Submit("#token", chromedp.ByQuery))
	b.WaitText("#counter", "2", 10*time.Second)
	b.Run(10*time.Second, chromedp.Click("#act", chromedp.ByQuery))
	b.WaitText("#acted", "acted 1", 10*time.Second)
	b.NoProblems()
}

// A page whose reading hangs (a frozen database) ends with the request's
// bound, with a message, instead of holding the request while the page
// keeps polling.
func TestAHangingReadEndsWithItsBound(t *testing.T) {
	d, err := dashboard.New(dashboard.Config{ReadTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	d.Handle("GET /stuck", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // what a query on a frozen database does
		d.Error(w, r, http.StatusServiceUnavailable, "The database did not answer in time.")
	})
	srv := httpapi.NewServer(httpapi.ServerConfig{})
	d.Mount(srv)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/stuck", nil)
	req.Header.Set("HX-Request", "true")
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err, "the request ended on its own bound, long before the client's")
	defer res.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
}
