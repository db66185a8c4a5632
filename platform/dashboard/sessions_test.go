package dashboard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
)

// sessionServer serves a dashboard with one page behind the token.
func sessionServer(t *testing.T, cfg dashboard.Config) *httptest.Server {
	t.Helper()
	d, err := dashboard.New(cfg)
	require.NoError(t, err)
	d.Handle("GET /private", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("private")) })
	srv := httpapi.NewServer(httpapi.ServerConfig{Token: cfg.Token, Session: d.APIAuthorized})
	srv.Handle("GET /api/private", func(w http.ResponseWriter, r *http.Request) { httpapi.WriteJSON(w, 200, "private") })
	d.Mount(srv)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

// seen reports whether the session cookie opens the page and the API.
func seen(t *testing.T, base string, c *http.Cookie) bool {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page, api := 0, 0
	for _, path := range []string{"/private", "/api/private"} {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		require.NoError(t, err)
		req.AddCookie(c)
		res, err := noRedirect.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		if path == "/private" {
			page = res.StatusCode
		} else {
			api = res.StatusCode
		}
	}
	require.Equal(t, page == http.StatusOK, api == http.StatusOK, "page %d, api %d", page, api)
	return page == http.StatusOK
}

func signOut(t *testing.T, base string, c *http.Cookie) {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(http.MethodPost, base+"/logout", nil)
	require.NoError(t, err)
	req.AddCookie(c)
	res, err := noRedirect.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
}

// TestEachSignInIsASessionTheServerCanEnd: every sign-in gets a cookie of
// its own; signing out ends that session on the server (a copy of the
// cookie no longer opens anything) and leaves the others; a session ends
// by itself after its TTL, and when the token changes; a made-up cookie
// opens nothing.
func TestEachSignInIsASessionTheServerCanEnd(t *testing.T) {
	store := dashboard.NewMemorySessions()
	ts := sessionServer(t, dashboard.Config{Token: "s3cret-token", Sessions: store})
	a, b := signIn(t, ts.URL, "s3cret-token"), signIn(t, ts.URL, "s3cret-token")
	require.NotEqual(t, a.Value, b.Value, "two sign-ins share a cookie")
	require.True(t, seen(t, ts.URL, a))
	require.True(t, seen(t, ts.URL, b))

	signOut(t, ts.URL, a)
	require.False(t, seen(t, ts.URL, a), "the cookie still works after sign-out")
	require.True(t, seen(t, ts.URL, b), "signing out one session ended another")

	require.False(t, seen(t, ts.URL, &http.Cookie{Name: dashboard.SessionCookie, Value: strings.Repeat("ab", 32)}))

	other := sessionServer(t, dashboard.Config{Token: "another-token", Sessions: store})
	require.False(t, seen(t, other.URL, b), "a session outlives the token it was made with")

	short := sessionServer(t, dashboard.Config{Token: "s3cret-token", Sessions: store, SessionTTL: 300 * time.Millisecond})
	c := signIn(t, short.URL, "s3cret-token")
	require.True(t, seen(t, short.URL, c))
	require.Eventually(t, func() bool { return !seen(t, short.URL, c) }, 5*time.Second, 50*time.Millisecond,
		"the server never ended an expired session")
}

// TestSessionsAreSharedByProcesses: with the key-value store, a session
// made on one process opens the other's pages, and signing out on the
// other ends it on both.
func TestSessionsAreSharedByProcesses(t *testing.T) {
	srv := testenv.NATS(t)
	ctx := context.Background()
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: srv.ClientURL(), Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	storeA, err := dashboard.NewKVSessions(ctx, st.JetStream(), 1)
	require.NoError(t, err)
	storeB, err := dashboard.NewKVSessions(ctx, st.JetStream(), 1)
	require.NoError(t, err)
	a := sessionServer(t, dashboard.Config{Token: "s3cret-token", Sessions: storeA})
	b := sessionServer(t, dashboard.Config{Token: "s3cret-token", Sessions: storeB})
	c := signIn(t, a.URL, "s3cret-token")
	require.True(t, seen(t, b.URL, c))
	signOut(t, b.URL, c)
	require.False(t, seen(t, a.URL, c))
	require.False(t, seen(t, b.URL, c))
}
