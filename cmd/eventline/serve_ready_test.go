package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// serve says once, on stdout, when it is ready and where the dashboard
// is: after /readyz answers 200 (issue 26: `make run` prints the
// dashboard's address once ready).
func TestServeAnnouncesTheDashboardOnceReady(t *testing.T) {
	s := startServe(t, nil)
	want := "eventline: ready: dashboard at " + s.URL + "/"
	require.Eventually(t, func() bool { return strings.Contains(s.stdout.String(), want) }, 60*time.Second, 20*time.Millisecond,
		"stdout: %s", s.stdout.String())
	resp, err := http.Get(s.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := s.stdout.String()
	require.Equal(t, 1, strings.Count(out, "eventline: ready"), out)
	require.Less(t, strings.Index(out, "eventline: listening on"), strings.Index(out, want), out)
}
