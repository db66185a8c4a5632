package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer safe for the server goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listening = regexp.MustCompile(`zuora-sim: listening on (http://\S+)`)

// startRun runs the real program on a random port and returns its base URL
// and a function that stops it and returns run's error.
func startRun(t *testing.T, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), &stdout, &stderr) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			var once sync.Once
			var stopErr error
			stop := func() error {
				once.Do(func() {
					cancel()
					select {
					case stopErr = <-done:
					case <-time.After(10 * time.Second):
						stopErr = errors.New("run did not return after cancel")
					}
				})
				return stopErr
			}
			t.Cleanup(func() { _ = stop() })
			return m[1], stop
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run returned before listening: %v (stderr %s)", err, stderr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "no listening line; stderr: %s", stderr.String())
		time.Sleep(10 * time.Millisecond)
	}
}

// firstPage gets a token and page 1 and returns the number of workflows.
func firstPage(t *testing.T, base, id, secret string) int {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth/token", url.Values{"client_id": {id}, "client_secret": {secret}, "grant_type": {"client_credentials"}})
	require.NoError(t, err)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, base+"/workflows?page=1&page_length=50", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var page struct {
		Data []json.RawMessage `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	return len(page.Data)
}

func TestRunServesDemoTenantsAndStops(t *testing.T) {
	base, stop := startRun(t, "--demo", "--latency", "1ms")
	require.Equal(t, 12, firstPage(t, base, "demo-small", "demo-small-secret"))
	require.Equal(t, 50, firstPage(t, base, "demo-large", "demo-large-secret"))
	require.NoError(t, stop())
}

func TestRunLoadsATenantsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenants.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"acme":{"client_secret":"s","workflows":[{"id":1,"name":"a"},{"id":2,"name":"b"}]}}`), 0o600))
	base, stop := startRun(t, "--tenants", path)
	require.Equal(t, 2, firstPage(t, base, "acme", "s"))
	require.NoError(t, stop())
}

func TestRunRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"acme":{"workflows":[]}}`), 0o600))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
		{"missing tenants file", []string{"--tenants", filepath.Join(dir, "none.json")}, "read tenants"},
		{"tenant without secret", []string{"--tenants", bad}, "client_secret"},
		{"short token ttl", []string{"--token-ttl", "1ms"}, "token-ttl"},
		{"address in use", []string{"--addr", "256.0.0.1:1"}, "listen"},
		{"stray argument", []string{"extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr lockedBuffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
