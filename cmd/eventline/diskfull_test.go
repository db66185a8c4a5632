package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore/natsserver"
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

// serveOnSmallFS starts serve with its JetStream store on a 128 MiB
// filesystem of its own; it returns the server, the store's directory and
// the database URL.
func serveOnSmallFS(t *testing.T) (*testServer, string, string) {
	t.Helper()
	dataDir := t.TempDir()
	natsDir := filepath.Join(dataDir, "nats")
	testenv.SmallFS(t, natsDir, 128<<20)
	db := testenv.Postgres(t)
	return startServe(t, map[string]string{"EVENTLINE_DATA_DIR": dataDir, "DATABASE_URL": db}), natsDir, db
}

func testFullDisk(t *testing.T, leave int64) {
	s, natsDir, db := serveOnSmallFS(t)

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

// TestWriteErrorInJetStreamRecoversWithoutRestart fills the disk and makes a
// write fail inside the embedded JetStream, past serve's guard (as when the
// disk fills between two measures): JetStream then refuses every write to
// the stream until it is restarted. serve answers 507 at once meanwhile and,
// once space is freed, restarts JetStream by itself; the projector resumes
// and every acknowledged entry reaches PostgreSQL exactly once.
//
// The test talks to the embedded server directly, on its address from the
// log, with the credentials serve generated in the data dir.
func TestWriteErrorInJetStreamRecoversWithoutRestart(t *testing.T) {
	s, natsDir, db := serveOnSmallFS(t)
	var acked []string
	for range 20 {
		acked = append(acked, postLog(t, s.URL, `{"message":"before the disk fills"}`).ID)
	}
	m := regexp.MustCompile(`embedded nats started.* url=(\S+)`).FindStringSubmatch(s.stderr.String())
	require.Len(t, m, 2, "embedded nats address in the log:\n%s", s.stderr.String())
	addr, err := url.Parse(m[1])
	require.NoError(t, err)
	creds, err := natsserver.ReadCredentials(natsDir)
	require.NoError(t, err)
	nc, err := nats.Connect("nats://"+addr.Host, nats.UserInfo(creds.User, creds.Password))
	require.NoError(t, err)
	t.Cleanup(nc.Close)

	filler := testenv.FillFS(t, natsDir, 0)
	_, err = nc.Request(logs.Subject, make([]byte, 256<<10), 2*time.Second)
	require.Error(t, err, "a write to a full disk cannot be acknowledged")
	require.Eventually(t, func() bool {
		var rd readiness
		resp := call(t, "GET", s.URL+"/readyz", "", nil, nil, &rd)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(rd.Checks["log_storage"], "log storage full")
	}, 10*time.Second, 50*time.Millisecond, "/readyz never reported the full disk")
	var e apiError
	client := &http.Client{Timeout: 8 * time.Second}
	resp, err := client.Post(s.URL+"/api/logs", "application/json", strings.NewReader(`{"message":"while full"}`))
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	resp.Body.Close()
	require.Equal(t, http.StatusInsufficientStorage, resp.StatusCode)
	require.Equal(t, "log_storage_full", e.Error.Code)

	require.NoError(t, os.Remove(filler))
	require.Eventually(t, func() bool {
		resp, err := client.Post(s.URL+"/api/logs", "application/json", strings.NewReader(`{"message":"after space is freed"}`))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var a accepted
		if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&a) != nil {
			return false
		}
		acked = append(acked, a.ID)
		return true
	}, 30*time.Second, 100*time.Millisecond, "writes did not resume once space was freed")
	for range 20 {
		acked = append(acked, postLog(t, s.URL, `{"message":"after space is freed"}`).ID)
	}
	waitDrained(t, s.URL, 60*time.Second)
	requireExactlyOnce(t, db, acked)
}
