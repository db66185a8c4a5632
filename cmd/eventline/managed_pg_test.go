package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// managedDataDir is a data dir for serve's managed PostgreSQL, outside
// t.TempDir (0700 root) so that the postgres user reaches it. Whatever
// happens, no PostgreSQL is left running in it.
func managedDataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eventline-managed-*")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() {
		killPostmaster(dir)
		_ = os.RemoveAll(dir)
	})
	return dir
}

// postmaster reads the managed cluster's pid and port from postmaster.pid.
func postmaster(dataDir string) (pid, port int, ok bool) {
	b, err := os.ReadFile(filepath.Join(dataDir, "pg", "postmaster.pid"))
	if err != nil {
		return 0, 0, false
	}
	lines := strings.Split(string(b), "\n")
	pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	if len(lines) > 3 {
		port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	}
	return pid, port, pid > 0
}

// processAlive reports whether pid runs (a zombie is dead).
func processAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(after, "Z")
}

// livePostmaster returns the pid of a PostgreSQL still running in dataDir.
func livePostmaster(dataDir string) (int, bool) {
	pid, _, ok := postmaster(dataDir)
	if !ok || !processAlive(pid) {
		return 0, false
	}
	return pid, true
}

// signalPostgres sends sig to the postmaster and to each of its children
// (every backend runs in a process group of its own).
func signalPostgres(pid int, sig syscall.Signal) {
	_ = syscall.Kill(pid, sig)
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		_, rest, _ := strings.Cut(string(b), ") ")
		fields := strings.Fields(rest)
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			_ = syscall.Kill(child, sig)
		}
	}
}

// killPostmaster shuts down whatever PostgreSQL runs in dataDir (fast
// shutdown, then SIGKILL).
func killPostmaster(dataDir string) {
	pid, ok := livePostmaster(dataDir)
	if !ok {
		return
	}
	signalPostgres(pid, syscall.SIGCONT) // a test may have frozen it
	_ = syscall.Kill(pid, syscall.SIGINT)
	deadline := time.Now().Add(15 * time.Second)
	for processAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// holdPort listens on port and closes every connection at once: nobody
// else can listen there, and a client gets no PostgreSQL.
func holdPort(port int) (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l, nil
}

// readyz fetches /readyz and returns its status, decoded body and raw body.
func readyz(t *testing.T, base string) (int, map[string]any, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	raw := readAll(resp)
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw), &body), raw)
	return resp.StatusCode, body, raw
}

// waitPersisted polls GET /api/logs/{id} until the entry is in PostgreSQL.
func waitPersisted(t *testing.T, base, id string, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		var e entry
		resp, err := http.Get(base + "/api/logs/" + id)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK && json.Unmarshal([]byte(readAll(resp)), &e) == nil && e.Persisted
	}, timeout, 50*time.Millisecond, "entry %s never persisted", id)
}

// TestManagedPostgresIsSupervised kills the managed cluster's postmaster
// with SIGKILL and holds its port for a while, so that PostgreSQL stays
// down: writes still get 202, /readyz says degraded without leaking
// connection details, reads that need PostgreSQL fail fast with 503. Once
// the port is free the supervisor brings PostgreSQL back and the entry
// accepted meanwhile is persisted.
func TestManagedPostgresIsSupervised(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a managed PostgreSQL")
	}
	dataDir := managedDataDir(t)
	s := startServe(t, map[string]string{"EVENTLINE_DATA_DIR": dataDir, "DATABASE_URL": ""})
	before := postLog(t, s.URL, `{"message":"before the crash"}`)
	waitPersisted(t, s.URL, before.ID, 30*time.Second)

	pid, port, ok := postmaster(dataDir)
	require.True(t, ok)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	// Hold the port so that the supervisor's restarts fail and PostgreSQL
	// stays down.
	var hold net.Listener
	require.Eventually(t, func() bool {
		var err error
		hold, err = holdPort(port)
		return err == nil
	}, 10*time.Second, time.Millisecond, "take the dead postmaster's port")
	held := true
	defer func() {
		if held {
			hold.Close()
		}
	}()

	var body map[string]any
	var raw string
	require.Eventually(t, func() bool {
		var code int
		code, body, raw = readyz(t, s.URL)
		// A backend of the killed postmaster may still answer a pooled
		// connection for a moment: wait until the postgres check sees it.
		checks, _ := body["checks"].(map[string]any)
		return code == http.StatusOK && body["status"] == "degraded" && checks["postgres"] != "ok"
	}, 15*time.Second, 50*time.Millisecond, "readyz never said degraded: %s", raw)
	checks, _ := body["checks"].(map[string]any)
	require.Equal(t, "ok", checks["jetstream"], raw)
	require.Equal(t, "unreachable", checks["postgres"], raw)
	require.Contains(t, body["reason"], "postgres")
	for _, secret := range []string{"user=", "postgres://", "host=", strconv.Itoa(port), "database", "eventline", "127.0.0.1", dataDir} {
		require.NotContains(t, raw, secret, "readyz shows no connection details")
	}

	during := postLog(t, s.URL, `{"message":"while postgres is down"}`)

	start := time.Now()
	var e apiError
	resp := call(t, "GET", s.URL+"/api/logs/stats", "", nil, nil, &e)
	took := time.Since(start)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "database_unavailable", e.Error.Code)
	require.NotEmpty(t, e.Error.Message)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Less(t, took, 8*time.Second, "stats answered within its bound")
	t.Logf("GET /api/logs/stats answered %d in %v while PostgreSQL was down", resp.StatusCode, took)

	require.Eventually(t, func() bool { return strings.Contains(s.stderr.String(), "restart managed postgres failed") },
		30*time.Second, 50*time.Millisecond, "the supervisor tries to restart PostgreSQL")
	require.NoError(t, hold.Close())
	held = false

	waitPersisted(t, s.URL, during.ID, 90*time.Second)
	require.Eventually(t, func() bool {
		code, body, _ := readyz(t, s.URL)
		return code == http.StatusOK && body["status"] == "ok"
	}, 30*time.Second, 50*time.Millisecond)
	require.Contains(t, s.stderr.String(), "managed postgres restarted")
	newPID, ok := livePostmaster(dataDir)
	require.True(t, ok)
	require.NotEqual(t, pid, newPID)

	// A frozen PostgreSQL (every process stopped: connections open, nothing
	// answers) is not restarted, but reads still answer 503 within their
	// bound and /readyz says degraded.
	signalPostgres(newPID, syscall.SIGSTOP)
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			signalPostgres(newPID, syscall.SIGCONT)
		}
	}
	defer thaw()
	e = apiError{}
	start = time.Now()
	resp = call(t, "GET", s.URL+"/api/logs/stats", "", nil, nil, &e)
	took = time.Since(start)
	t.Logf("GET /api/logs/stats answered %d %s in %v while PostgreSQL was frozen", resp.StatusCode, e.Error.Code, took)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Contains(t, []string{"timeout", "database_unavailable"}, e.Error.Code)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Less(t, took, 8*time.Second, "stats answered within its bound")
	code, body, raw := readyz(t, s.URL)
	require.Equal(t, http.StatusOK, code, raw)
	require.Equal(t, "degraded", body["status"], raw)
	thaw()

	s.stop(t)
	_, ok = livePostmaster(dataDir)
	require.False(t, ok, "a clean shutdown stops the restarted PostgreSQL")
}

// TestCancelDuringStartupStopsPostgres ends serve's context at several points
// of its start-up (while initdb runs, while PostgreSQL is starting, after
// fixed delays) and requires that no PostgreSQL is left running, and that
// the data dir still starts afterwards.
func TestCancelDuringStartupStopsPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a managed PostgreSQL many times")
	}
	dataDir := managedDataDir(t)
	env := map[string]string{
		"EVENTLINE_DATA_DIR": dataDir, "EVENTLINE_HTTP_ADDR": "127.0.0.1:0", "EVENTLINE_NATS_LISTEN": "127.0.0.1:0",
		"EVENTLINE_PROJECTION_WAIT": "10ms", "DATABASE_URL": "", "NATS_URL": "",
	}
	appears := func(name string) func(string) bool {
		return func(string) bool {
			_, err := os.Stat(filepath.Join(dataDir, name))
			return err == nil
		}
	}
	logged := func(msg string) func(string) bool {
		return func(stderr string) bool { return strings.Contains(stderr, msg) }
	}
	after := func(d time.Duration) func(string) bool {
		var start time.Time
		return func(string) bool {
			if start.IsZero() {
				start = time.Now()
			}
			return time.Since(start) >= d
		}
	}
	type cancelPoint struct {
		name   string
		cancel func(stderr string) bool
	}
	cases := []cancelPoint{
		{"while initdb runs", appears("pg")},
		{"while postgres starts", appears("pg/postmaster.pid")},
		{"once postgres is ready", logged("managed postgres ready")},
		{"once serving", logged("http listening")},
	}
	for _, d := range []time.Duration{50, 150, 300, 500} {
		cases = append(cases, cancelPoint{"after " + (d * time.Millisecond).String(), after(d * time.Millisecond)})
	}
	for _, tc := range cases {
		stderr := &syncBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, discard{}, stderr)
		}()
		deadline := time.After(90 * time.Second)
		for !tc.cancel(stderr.String()) {
			select {
			case err := <-done:
				cancel()
				t.Fatalf("%s: serve ended before the cancel point: %v\n%s", tc.name, err, stderr.String())
			case <-deadline:
				cancel()
				t.Fatalf("%s: the cancel point never came\n%s", tc.name, stderr.String())
			case <-time.After(time.Millisecond):
			}
		}
		cancel()
		select {
		case err := <-done:
			t.Logf("%s: serve returned: %v", tc.name, err)
		case <-time.After(90 * time.Second):
			t.Fatalf("%s: serve did not stop\n%s", tc.name, stderr.String())
		}
		if pid, ok := livePostmaster(dataDir); ok {
			killPostmaster(dataDir)
			t.Fatalf("%s: PostgreSQL (pid %d) left running\n%s", tc.name, pid, stderr.String())
		}
		if m := natsStarted.FindStringSubmatch(stderr.String()); m != nil {
			addr := m[1]
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
			}
			require.Error(t, err, "%s: the embedded NATS server still listens on %s", tc.name, addr)
		}
	}

	s := startServe(t, env)
	a := postLog(t, s.URL, `{"message":"the data dir still works"}`)
	waitPersisted(t, s.URL, a.ID, 30*time.Second)
	s.stop(t)
	_, ok := livePostmaster(dataDir)
	require.False(t, ok)
}

// natsStarted finds the embedded NATS server's address in serve's log.
var natsStarted = regexp.MustCompile(`embedded nats started.*? url=nats://([0-9.]+:[0-9]+)`)

// discard is an io.Writer that keeps nothing.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
