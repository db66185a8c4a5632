package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHostAllowList(t *testing.T) {
	l := NewHostAllowList([]string{"localhost", "127.0.0.1", "::1", "Eventline.Example.com.", ".corp.example"})
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true}, {"localhost:8080", true}, {"LOCALHOST:80", true}, {"127.0.0.1:8080", true},
		{"[::1]:8080", true}, {"[::1]", true}, {"eventline.example.com", true}, {"eventline.example.com.:443", true},
		{"corp.example", true}, {"x.corp.example:1", true},
		{"", false}, {"rebind.evil.example", false}, {"localhost.evil.example", false}, {"evilcorp.example", false},
		{"127.0.0.2", false}, {"example.com", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, l.Allows(tt.host), tt.host)
	}
	require.True(t, NewHostAllowList([]string{"*"}).Allows("anything.example"))
	var none *HostAllowList
	require.True(t, none.Allows("anything.example"), "no list: every host")
}

func TestServerRefusesOtherHosts(t *testing.T) {
	s := NewServer(ServerConfig{AllowedHosts: NewHostAllowList(LoopbackHosts)})
	s.Handle("POST /api/things", func(w http.ResponseWriter, r *http.Request) { WriteJSON(w, http.StatusAccepted, "ok") })
	do := func(method, path, host string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		req.Host = host
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		return w
	}
	w := do("POST", "/api/things", "rebind.evil.example:8080")
	require.Equal(t, http.StatusMisdirectedRequest, w.Code)
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.Equal(t, "host_not_allowed", body.Error.Code)
	require.Equal(t, http.StatusMisdirectedRequest, do("GET", "/metrics", "rebind.evil.example").Code)
	require.Equal(t, http.StatusOK, do("GET", "/healthz", "10.0.0.7:8080").Code, "health answers any host")
	require.Equal(t, http.StatusAccepted, do("POST", "/api/things", "127.0.0.1:8080").Code)
}
