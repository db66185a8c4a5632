package pgcluster_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/pgcluster"
)

// clusterDir is a directory the postgres user can reach (t.TempDir is 0700
// and owned by whoever runs the test).
func clusterDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eventline-pgcluster-*")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "pg")
}

func startCluster(t *testing.T) *pgcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, clusterDir(t), pgcluster.Options{Ephemeral: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		if c.Alive() {
			_ = c.Stop()
		}
	})
	return c
}

// lockedBuffer is a goroutine-safe log sink.
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

func supervise(t *testing.T, c *pgcluster.Cluster) (*lockedBuffer, context.CancelFunc) {
	t.Helper()
	logs := &lockedBuffer{}
	sup := pgcluster.NewSupervisor(c, pgcluster.SupervisorConfig{Interval: 50 * time.Millisecond, MinBackoff: 50 * time.Millisecond},
		slog.New(slog.NewTextHandler(logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return logs, cancel
}

func waitDead(t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return syscall.Kill(pid, 0) != nil || isZombie(pid)
	}, 10*time.Second, 5*time.Millisecond)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	return err == nil && bytes.Contains(b, []byte(") Z "))
}

func TestSupervisorRestartsAKilledPostmaster(t *testing.T) {
	c := startCluster(t)
	logs, _ := supervise(t, c)
	pid := c.PID()
	require.Positive(t, pid)

	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	waitDead(t, pid)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "managed postgres restarted") },
		60*time.Second, 20*time.Millisecond, "PostgreSQL was not restarted:\n%s", logs)
	require.Contains(t, logs.String(), "managed postgres is down; restarting")
	require.True(t, c.Alive())
	require.NotEqual(t, pid, c.PID())

	// Same port, same data: the pool's URL still works.
	ctx := context.Background()
	var conn *pgx.Conn
	require.Eventually(t, func() bool {
		var err error
		conn, err = pgx.Connect(ctx, c.URL(""))
		return err == nil
	}, 30*time.Second, 20*time.Millisecond)
	defer conn.Close(ctx)
	require.NoError(t, conn.Ping(ctx))
}

func TestSupervisorDoesNotUndoStop(t *testing.T) {
	c := startCluster(t)
	logs, _ := supervise(t, c)
	require.NoError(t, c.Stop())
	require.False(t, c.Alive())
	require.ErrorIs(t, c.Restart(context.Background()), pgcluster.ErrStopped)
	time.Sleep(500 * time.Millisecond) // ten supervisor rounds
	require.False(t, c.Alive(), "the supervisor started PostgreSQL again after Stop:\n%s", logs)
	require.NotContains(t, logs.String(), "restarted")
}

// TestCancelledStartLeavesNothingRunning cancels Start as soon as the
// postmaster has written its pid file: the server it launched is stopped,
// and the next Start on the directory works.
func TestCancelledStartLeavesNothingRunning(t *testing.T) {
	dir := clusterDir(t)
	for _, point := range []string{"", "postmaster.pid"} {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			defer cancel()
			for ctx.Err() == nil {
				if _, err := os.Stat(filepath.Join(dir, point)); err == nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		_, err := pgcluster.Start(ctx, dir, pgcluster.Options{Ephemeral: true})
		cancel()
		require.ErrorIs(t, err, context.Canceled, "cancelled at %q", point)
		probe := &pgcluster.Cluster{Dir: dir}
		require.False(t, probe.Alive(), "cancelled at %q: PostgreSQL left running", point)
	}
	c, err := pgcluster.Start(context.Background(), dir, pgcluster.Options{Ephemeral: true})
	require.NoError(t, err)
	require.NoError(t, c.Stop())
}

// A port taken between FreePort and the server's start (another process
// got there first) costs a new port, not the start.
func TestStartPicksAnotherPortWhenItsPortIsTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	taken := l.Addr().(*net.TCPAddr).Port
	picks := 0
	t.Cleanup(pgcluster.SetFreePort(func() (int, error) {
		picks++
		if picks == 1 {
			return taken, nil
		}
		return pgcluster.FreePort()
	}))
	c := startCluster(t)
	require.Equal(t, 2, picks)
	require.NotEqual(t, taken, c.Port)
	conn, err := pgx.Connect(context.Background(), c.URL("postgres"))
	require.NoError(t, err)
	require.NoError(t, conn.Close(context.Background()))
}
