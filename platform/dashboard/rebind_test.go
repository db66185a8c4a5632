package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/platform/httpapi"
)

// TestActionFromAReboundOriginIsRefused: a page on another domain that
// resolves to the server (DNS rebinding) sends its own name as both Host
// and Origin; the dashboard compares the Origin with the allowed hosts, not
// only with the Host header, so its action is refused even where no server
// in front checked the Host (here the server allows every host).
func TestActionFromAReboundOriginIsRefused(t *testing.T) {
	d, err := dashboard.New(dashboard.Config{Token: "s3cret-token", AllowedHosts: httpapi.NewHostAllowList(httpapi.LoopbackHosts)})
	require.NoError(t, err)
	acted := 0
	d.Handle("POST /act", func(w http.ResponseWriter, r *http.Request) { acted++ })
	srv := httpapi.NewServer(httpapi.ServerConfig{Token: "s3cret-token", Session: d.APIAuthorized})
	srv.Handle("POST /api/act", func(w http.ResponseWriter, r *http.Request) { acted++ })
	d.Mount(srv)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	port := ts.URL[strings.LastIndex(ts.URL, ":")+1:]
	session := signIn(t, ts.URL, "s3cret-token")

	post := func(path, host string) int {
		req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(""))
		require.NoError(t, err)
		req.Host = host
		req.Header.Set("Origin", "http://"+host)
		req.Header.Set("HX-Request", "true")
		req.AddCookie(session)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	for _, path := range []string{"/act", "/api/act"} {
		for _, host := range []string{"rebind.evil.example:" + port, "127.0.0.1.evil.example:" + port} {
			code := post(path, host)
			require.Contains(t, []int{http.StatusForbidden, http.StatusUnauthorized}, code, "%s from Origin http://%s", path, host)
		}
		require.Zero(t, acted, "an action from a rebound origin ran")
	}
	require.Equal(t, http.StatusOK, post("/act", "127.0.0.1:"+port))
	require.Equal(t, http.StatusOK, post("/api/act", "localhost:"+port))
	require.Equal(t, 2, acted)
}

// signIn posts the token to /login and returns the session cookie.
func signIn(t *testing.T, base, token string) *http.Cookie {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.PostForm(base+"/login", url.Values{"token": {token}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	for _, c := range res.Cookies() {
		if c.Name == dashboard.SessionCookie {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

// TestActionSecFetchSite: the browser's Sec-Fetch-Site header decides
// before the Origin (http.CrossOriginProtection): a cross-site or
// same-site action is refused even when its Origin names this host, a
// same-origin one is accepted, and a request with neither header (a
// script that is not a browser's) is treated as the dashboard's own.
func TestActionSecFetchSite(t *testing.T) {
	d, err := dashboard.New(dashboard.Config{Token: "s3cret-token", AllowedHosts: httpapi.NewHostAllowList(httpapi.LoopbackHosts)})
	require.NoError(t, err)
	d.Handle("POST /act", func(w http.ResponseWriter, r *http.Request) {})
	srv := httpapi.NewServer(httpapi.ServerConfig{Token: "s3cret-token", Session: d.APIAuthorized})
	d.Mount(srv)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	session := signIn(t, ts.URL, "s3cret-token")
	host := ts.URL[len("http://"):]
	for _, tc := range []struct {
		site, origin string
		want         int
	}{
		{"cross-site", "http://" + host, http.StatusForbidden},
		{"same-site", "http://" + host, http.StatusForbidden},
		{"same-origin", "http://" + host, http.StatusOK},
		{"same-origin", "", http.StatusOK},
		{"", "", http.StatusOK},
		{"", "http://evil.example", http.StatusForbidden},
	} {
		req, err := http.NewRequest(http.MethodPost, ts.URL+"/act", strings.NewReader(""))
		require.NoError(t, err)
		req.Header.Set("HX-Request", "true")
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		req.AddCookie(session)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, tc.want, res.StatusCode, "Sec-Fetch-Site %q, Origin %q", tc.site, tc.origin)
	}
}
