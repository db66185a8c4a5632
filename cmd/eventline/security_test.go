package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRebindingHostIsRefused drives serve (no token, the defaults) as a page
// on another domain resolving to 127.0.0.1 would (DNS rebinding): its own
// name in the Host header gets 421 host_not_allowed on the API and the
// dashboard, while the listening address and the loopback names are
// answered, and the health probes answer any host.
func TestRebindingHostIsRefused(t *testing.T) {
	s := startServe(t, nil)
	port := s.URL[strings.LastIndex(s.URL, ":")+1:]
	send := func(method, path, host, body string) (int, string) {
		req, err := http.NewRequest(method, s.URL+path, bytes.NewReader([]byte(body)))
		require.NoError(t, err)
		req.Host = host
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode, readAll(resp)
	}
	entry := `{"level":"info","message":"rebound"}`
	for _, host := range []string{"rebind.evil.example:" + port, "rebind.evil.example", "127.0.0.1.nip.io:" + port} {
		code, body := send("POST", "/api/logs", host, entry)
		require.Equal(t, http.StatusMisdirectedRequest, code, "POST /api/logs with Host %s: %s", host, body)
		require.Contains(t, body, `"code":"host_not_allowed"`)
		code, body = send("GET", "/api/customers", host, "")
		require.Equal(t, http.StatusMisdirectedRequest, code, "GET /api/customers with Host %s: %s", host, body)
		code, _ = send("GET", "/", host, "")
		require.Equal(t, http.StatusMisdirectedRequest, code, "the dashboard with Host %s", host)
		code, _ = send("GET", "/healthz", host, "")
		require.Equal(t, http.StatusOK, code)
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST", "[::1]:" + port} {
		code, body := send("POST", "/api/logs", host, entry)
		require.Equal(t, http.StatusAccepted, code, "Host %s: %s", host, body)
	}
}

// TestListeningBeyondLoopbackNeedsTheToken: serve refuses to start without
// EVENTLINE_API_TOKEN on a non-loopback address or with any host allowed.
func TestListeningBeyondLoopbackNeedsTheToken(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{}, ""},
		{map[string]string{"EVENTLINE_HTTP_ADDR": "localhost:8080"}, ""},
		{map[string]string{"EVENTLINE_HTTP_ADDR": "[::1]:8080"}, ""},
		{map[string]string{"EVENTLINE_HTTP_ADDR": "0.0.0.0:8080"}, "listens beyond loopback"},
		{map[string]string{"EVENTLINE_HTTP_ADDR": ":8080"}, "listens beyond loopback"},
		{map[string]string{"EVENTLINE_HTTP_ADDR": "192.168.1.5:8080"}, "listens beyond loopback"},
		{map[string]string{"EVENTLINE_HTTP_ADDR": "0.0.0.0:8080", "EVENTLINE_API_TOKEN": "a-long-token"}, ""},
		{map[string]string{"EVENTLINE_ALLOWED_HOSTS": "*"}, "EVENTLINE_ALLOWED_HOSTS=*"},
		{map[string]string{"EVENTLINE_ALLOWED_HOSTS": "*", "EVENTLINE_API_TOKEN": "a-long-token"}, ""},
	}
	for _, tt := range tests {
		c, err := loadConfig(func(k string) string { return tt.env[k] })
		require.NoError(t, err)
		err = c.Validate()
		if tt.wantErr == "" {
			require.NoError(t, err, "%v", tt.env)
		} else {
			require.ErrorContains(t, err, tt.wantErr, "%v", tt.env)
		}
	}
}

// TestAllowedHostsDefaults: the listen address and the loopback names by
// default; EVENTLINE_ALLOWED_HOSTS replaces the listen address, and the
// loopback names stay.
func TestAllowedHostsDefaults(t *testing.T) {
	c, err := loadConfig(func(k string) string {
		return map[string]string{"EVENTLINE_HTTP_ADDR": "10.1.2.3:80", "EVENTLINE_API_TOKEN": "a-long-token"}[k]
	})
	require.NoError(t, err)
	l := c.allowedHosts()
	for _, h := range []string{"10.1.2.3", "10.1.2.3:80", "localhost:8080", "127.0.0.1", "[::1]:80"} {
		require.True(t, l.Allows(h), h)
	}
	require.False(t, l.Allows("rebind.evil.example"))
	c, err = loadConfig(func(k string) string {
		return map[string]string{"EVENTLINE_ALLOWED_HOSTS": "eventline.example.com, .corp.example"}[k]
	})
	require.NoError(t, err)
	l = c.allowedHosts()
	for _, h := range []string{"eventline.example.com:8080", "EVENTLINE.example.com", "corp.example", "a.b.corp.example:443", "localhost:8080", "127.0.0.1"} {
		require.True(t, l.Allows(h), h)
	}
	for _, h := range []string{"evilcorp.example", "example.com", "10.1.2.3", ""} {
		require.False(t, l.Allows(h), h)
	}
}
