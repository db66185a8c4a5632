package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/internal/pgcluster"
	"github.com/eventline/eventline/internal/testenv"
)

// loadResult is what a load run saw: ids the server acknowledged with 202,
// and how many requests got anything else.
type loadResult struct {
	mu       sync.Mutex
	acked    []string
	refused  map[int]int
	transErr int
}

func (r *loadResult) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.acked...)
}

// load posts single entries and small batches from workers until stop is
// closed, recording every acknowledged id.
func load(base string, workers int, stop <-chan struct{}) (*loadResult, *sync.WaitGroup) {
	res := &loadResult{refused: map[int]int{}}
	client := &http.Client{Timeout: 15 * time.Second}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var body []byte
				path := "/api/logs"
				if i%4 == 3 {
					path = "/api/logs/batch"
					body = []byte(fmt.Sprintf(`[{"message":"w%d b%d a"},{"message":"w%d b%d b","level":"error"},{"message":"w%d b%d c"}]`, w, i, w, i, w, i))
				} else {
					body = []byte(fmt.Sprintf(`{"message":"worker %d entry %d","source":"load"}`, w, i))
				}
				resp, err := client.Post(base+path, "application/json", bytes.NewReader(body))
				if err != nil {
					res.mu.Lock()
					res.transErr++
					res.mu.Unlock()
					time.Sleep(20 * time.Millisecond)
					continue
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				res.mu.Lock()
				if resp.StatusCode == http.StatusAccepted {
					var one struct{ ID string }
					var many struct{ IDs []string }
					if path == "/api/logs" && json.Unmarshal(raw, &one) == nil && one.ID != "" {
						res.acked = append(res.acked, one.ID)
					} else if json.Unmarshal(raw, &many) == nil {
						res.acked = append(res.acked, many.IDs...)
					}
				} else {
					res.refused[resp.StatusCode]++
				}
				res.mu.Unlock()
			}
		}()
	}
	return res, &wg
}

// requireExactlyOnce checks that every id is in log_entries exactly once.
func requireExactlyOnce(t *testing.T, dbURL string, ids []string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	uids := make([]uuid.UUID, len(ids))
	for i, id := range ids {
		uids[i] = uuid.MustParse(id)
	}
	var found, distinct int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT id) FROM log_entries WHERE id = ANY($1)`, uids).Scan(&found, &distinct))
	require.Equal(t, len(ids), distinct, "every acknowledged entry is in PostgreSQL")
	require.Equal(t, distinct, found, "and only once")
}

func waitDrained(t *testing.T, base string, timeout time.Duration) stats {
	t.Helper()
	var st stats
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/api/logs/stats")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
			return false
		}
		return st.Pending == 0 && st.LagSeq == 0
	}, timeout, 50*time.Millisecond, "stats never drained: %+v", st)
	return st
}

// postgresURLFromDataDir reads the managed cluster's port from postmaster.pid
// and the application role's password from its credentials file.
func postgresURLFromDataDir(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "pg", "postmaster.pid"))
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	require.GreaterOrEqual(t, len(lines), 4)
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	require.NoError(t, err)
	url, err := pgcluster.AppURLOf(filepath.Join(dataDir, "pg"), port)
	require.NoError(t, err)
	return url
}

// TestKill9DuringIngest runs the `make run` configuration (embedded NATS,
// managed PostgreSQL in the data dir), kills the process with SIGKILL in the
// middle of ingest, restarts it on the same data dir and checks that every
// acknowledged entry reached PostgreSQL exactly once.
func TestKill9DuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dataDir, err := os.MkdirTemp("", "eventline-kill9-*")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dataDir, 0o755))
	env := map[string]string{
		"EVENTLINE_DATA_DIR": dataDir, "EVENTLINE_HTTP_ADDR": "127.0.0.1:0", "EVENTLINE_NATS_LISTEN": "127.0.0.1:0",
		"EVENTLINE_PROJECTION_WAIT": "20ms", "NATS_URL": "", "DATABASE_URL": "",
	}
	first := startProc(t, env)
	t.Cleanup(func() {
		// Whatever happens, leave no PostgreSQL behind.
		if pgURL, err := os.ReadFile(filepath.Join(dataDir, "pg", "postmaster.pid")); err == nil && len(pgURL) > 0 {
			second := startProcQuiet(env)
			if second != nil {
				_ = second.Signal(syscall.SIGTERM)
				_, _ = second.Wait()
			}
		}
		os.RemoveAll(dataDir)
	})

	stop := make(chan struct{})
	res, wg := load(first.URL, 8, stop)
	require.Eventually(t, func() bool { return len(res.ids()) >= 3000 }, 60*time.Second, 5*time.Millisecond)
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	_ = first.cmd.Wait()
	close(stop)
	wg.Wait()
	acked := res.ids()
	t.Logf("acknowledged %d entries before kill -9 (%v refused, %d transport errors)", len(acked), res.refused, res.transErr)

	second := startProc(t, env)
	require.Contains(t, second.stderr.String(), "reused=true", "the managed PostgreSQL outlived the kill and is reused")
	st := waitDrained(t, second.URL, 60*time.Second)
	require.Equal(t, st.Received, st.Persisted)
	require.GreaterOrEqual(t, st.Persisted, int64(len(acked)))
	requireExactlyOnce(t, postgresURLFromDataDir(t, dataDir), acked)

	// A clean shutdown stops the managed cluster too.
	require.NoError(t, second.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, second.cmd.Wait())
	_, err = os.Stat(filepath.Join(dataDir, "pg", "postmaster.pid"))
	require.True(t, os.IsNotExist(err), "postgres stopped on shutdown")
}

// startProcQuiet starts serve without a test to report to (for cleanup).
func startProcQuiet(env map[string]string) *os.Process {
	if binPath == "" {
		return nil
	}
	attr := &os.ProcAttr{Env: os.Environ()}
	for k, v := range env {
		attr.Env = append(attr.Env, k+"="+v)
	}
	p, err := os.StartProcess(binPath, []string{binPath, "serve"}, attr)
	if err != nil {
		return nil
	}
	time.Sleep(5 * time.Second)
	return p
}

// TestPostgresOutageDuringIngest stops PostgreSQL for 10 s under load:
// writes keep getting 202s and, once it is back, nothing is lost or doubled.
func TestPostgresOutageDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s outage")
	}
	cluster := testenv.NewCluster(t)
	db := testenv.FreshDatabase(t, cluster)
	s := startServe(t, map[string]string{"DATABASE_URL": db})

	stop := make(chan struct{})
	res, wg := load(s.URL, 4, stop)
	require.Eventually(t, func() bool { return len(res.ids()) >= 100 }, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, cluster.Stop())
	before := len(res.ids())
	time.Sleep(5 * time.Second)
	// Reads that need PostgreSQL say so; an entry accepted meanwhile is
	// still found, from the log.
	var e apiError
	resp := call(t, "GET", s.URL+"/api/logs", "", nil, nil, &e)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "database_unavailable", e.Error.Code)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	ids := res.ids()
	var got entry
	resp = call(t, "GET", s.URL+"/api/logs/"+ids[len(ids)-1], "", nil, nil, &got)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, got.Persisted)
	time.Sleep(5 * time.Second)
	during := len(res.ids()) - before
	require.NoError(t, cluster.StartAgain(context.Background()))
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	res.mu.Lock()
	refused, transErr := res.refused, res.transErr
	res.mu.Unlock()
	t.Logf("acknowledged %d entries while PostgreSQL was down; %d in all", during, len(res.ids()))
	require.Positive(t, during, "writes were accepted while PostgreSQL was down")
	require.Empty(t, refused, "no write was refused")
	require.Zero(t, transErr)

	st := waitDrained(t, s.URL, 60*time.Second)
	acked := res.ids()
	require.Equal(t, int64(len(acked)), st.Persisted)
	require.Equal(t, st.Received, st.Persisted)
	requireExactlyOnce(t, db, acked)
}

// TestNATSUnreachable: with the log gone, writes get 503 with Retry-After and
// never a false 202; when it is back, every 202 is in PostgreSQL.
func TestNATSUnreachable(t *testing.T) {
	storeDir := t.TempDir()
	srv, err := natsserver.Start(natsserver.Config{StoreDir: storeDir, Listen: "127.0.0.1:0"})
	require.NoError(t, err)
	url := srv.ClientURL()
	db := testenv.Postgres(t)
	s := startServe(t, map[string]string{"NATS_URL": url, "DATABASE_URL": db})
	defer func() { srv.Shutdown() }()

	stop := make(chan struct{})
	res, wg := load(s.URL, 4, stop)
	require.Eventually(t, func() bool { return len(res.ids()) >= 50 }, 20*time.Second, 5*time.Millisecond)
	srv.Shutdown()

	var e apiError
	require.Eventually(t, func() bool {
		resp := call(t, "POST", s.URL+"/api/logs", "application/json", []byte(`{"message":"while down"}`), nil, &e)
		return resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, "log_unavailable", e.Error.Code)
	resp := call(t, "GET", s.URL+"/readyz", "", nil, nil, nil)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	acked := res.ids()

	// Bring the same store back on the same address; the server reconnects.
	host := srv.Addr()
	srv, err = natsserver.Start(natsserver.Config{StoreDir: storeDir, Listen: host})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return call(t, "GET", s.URL+"/readyz", "", nil, nil, nil).StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond)
	st := waitDrained(t, s.URL, 60*time.Second)
	require.Equal(t, st.Received, st.Persisted)
	require.GreaterOrEqual(t, st.Persisted, int64(len(acked)))
	requireExactlyOnce(t, db, acked)
}
