package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/testenv"
)

// TestMain stops the package's shared PostgreSQL cluster after the tests.
func TestMain(m *testing.M) { testenv.Main(m) }

// testServer is `eventline serve` running in-process through run().
type testServer struct {
	URL    string
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs the real program with env over test defaults: free ports,
// NATS store in a temp dir, and a fresh database in the shared test cluster.
func startServe(t *testing.T, env map[string]string) *testServer {
	t.Helper()
	vars := map[string]string{
		"EVENTLINE_HTTP_ADDR":       "127.0.0.1:0",
		"EVENTLINE_NATS_LISTEN":     "127.0.0.1:0",
		"EVENTLINE_DATA_DIR":        t.TempDir(),
		"EVENTLINE_PROJECTION_WAIT": "10ms",
	}
	for k, v := range env {
		vars[k] = v
	}
	if _, ok := vars["DATABASE_URL"]; !ok {
		vars["DATABASE_URL"] = testenv.Postgres(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &testServer{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := run(ctx, []string{"serve"}, func(k string) string { return vars[k] }, pw, s.stderr)
		pw.Close()
		s.done <- err
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(s.stdout, sc.Text())
			if u, ok := strings.CutPrefix(sc.Text(), "eventline: listening on "); ok {
				urls <- u
			}
		}
	}()
	select {
	case s.URL = <-urls:
	case err := <-s.done:
		t.Fatalf("serve exited: %v\n%s", err, s.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start\n%s", s.stderr.String())
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *testServer) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Errorf("serve did not stop within 30s\n%s", s.stderr.String())
	}
}

// call sends a request and decodes a JSON answer into out (if not nil).
func call(t *testing.T, method, url, contentType string, body []byte, headers map[string]string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out), "body: %s", raw)
	}
	return resp
}

// apiError is the contract's error shape.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/eventline once per test run, for tests that need a real
// process to kill.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "eventline-bin-*")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "eventline")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	require.NoError(t, buildErr, binPath)
	return binPath
}

// proc is `eventline serve` as a child process.
type proc struct {
	cmd    *exec.Cmd
	URL    string
	stderr *syncBuffer
}

func startProc(t *testing.T, env map[string]string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "eventline: listening on "); ok {
				urls <- u
			}
		}
	}()
	select {
	case p.URL = <-urls:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("eventline serve did not start\n%s", p.stderr.String())
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return p
}

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
