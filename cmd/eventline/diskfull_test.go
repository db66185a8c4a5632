package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
)

// readiness is /readyz's answer.
type readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

// TestFullDiskRefusesFastAndRecovers puts the embedded NATS store on a small
// filesystem and fills it: writes are refused at once with 507
// log_storage_full (not left hanging until the ack timeout), /readyz says
// so, and once the space is freed writes succeed again without a restart and
// every acknowledged entry reaches PostgreSQL.
func TestFullDiskRefusesFastAndRecovers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leave int64
	}{
		{"little space left", 4 << 20},
		{"no space left", 0},
	} {
		t.Run(tc.name, func(t *testing.T) { testFullDisk(t, tc.leave) })
	}
}

func testFullDisk(t *testing.T, leave int64) {
	dataDir := t.TempDir()
	natsDir := filepath.Join(dataDir, "nats")
	testenv.SmallFS(t, natsDir, 128<<20)
	db := testenv.Postgres(t)
	s := startServe(t, map[string]string{"EVENTLINE_DATA_DIR": dataDir, "DATABASE_URL": db})

	var acked []string
	for range 5 {
		acked = append(acked, postLog(t, s.URL, `{"message":"before the disk fills"}`).ID)
	}

	filler := testenv.FillFS(t, natsDir, leave)
	var rd readiness
	require.Eventually(t, func() bool {
		rd = readiness{}
		resp := call(t, "GET", s.URL+"/readyz", "", nil, nil, &rd)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(rd.Checks["log_storage"], "log storage full")
	}, 10*time.Second, 50*time.Millisecond, "/readyz never reported the full disk")
	require.False(t, rd.Ready)

	// A client that gives up before the log's 10 s ack timeout: a write that
	// hangs until then fails the test.
	client := &http.Client{Timeout: 8 * time.Second}
	for _, req := range []struct{ path, body string }{
		{"/api/logs", `{"message":"while the disk is full"}`},
		{"/api/logs/batch", `[{"message":"full a"},{"message":"full b"}]`},
	} {
		resp, err := client.Post(s.URL+req.path, "application/json", strings.NewReader(req.body))
		require.NoError(t, err, "POST %s while the disk is full", req.path)
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusInsufficientStorage, resp.StatusCode, "POST %s: %s", req.path, raw)
		var e apiError
		require.NoError(t, json.Unmarshal(raw, &e), "body: %s", raw)
		require.Equal(t, "log_storage_full", e.Error.Code)
		require.NotEmpty(t, resp.Header.Get("Retry-After"))
	}

	require.NoError(t, os.Remove(filler))
	require.Eventually(t, func() bool {
		var a accepted
		resp, err := client.Post(s.URL+"/api/logs", "application/json", bytes.NewReader([]byte(`{"message":"after space is freed"}`)))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&a) != nil {
			return false
		}
		acked = append(acked, a.ID)
		return true
	}, 30*time.Second, 100*time.Millisecond, "writes did not resume once space was freed")
	for range 5 {
		acked = append(acked, postLog(t, s.URL, `{"message":"after space is freed"}`).ID)
	}
	require.Eventually(t, func() bool {
		return call(t, "GET", s.URL+"/readyz", "", nil, nil, nil).StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond)
	waitDrained(t, s.URL, 60*time.Second)
	requireExactlyOnce(t, db, acked)
}
