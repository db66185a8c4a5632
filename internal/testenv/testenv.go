package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/internal/pgcluster"
)

// NATS starts an embedded JetStream server for the test and returns it. Like
// serve's, it requires a user and password (generated into its store dir):
// its ClientURL carries them, so it can be passed on as NATS_URL.
func NATS(t testing.TB) *natsserver.Server {
	t.Helper()
	srv, err := natsserver.Start(natsserver.Config{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	return srv
}

// Streams that Store creates: the logs domain's stream, which most
// integration tests use, and a neutral one for tests of the event store.
var (
	LogsStream = eventstore.StreamSpec{Name: logs.Stream, Subjects: []string{logs.Subjects}, Description: "write-behind log entries"}
	TestStream = eventstore.StreamSpec{Name: "EVENTS", Subjects: []string{"events.>"}, Description: "events of the test at hand"}
	Streams    = []eventstore.StreamSpec{LogsStream, TestStream}
)

// TestSubject is a subject of TestStream.
const TestSubject = "events.test"

// Store starts an embedded server and returns a Store connected with the
// server's credentials, with Streams created.
func Store(t testing.TB) (*eventstore.Store, *natsserver.Server) {
	t.Helper()
	srv := NATS(t)
	st, err := eventstore.Connect(context.Background(), eventstore.Options{URL: srv.ClientURL(), Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.EnsureStreams(context.Background(), Streams))
	return st, srv
}

var (
	sharedOnce    sync.Once
	sharedCluster *pgcluster.Cluster
	sharedErr     error
	dbCounter     atomic.Int64
	dirs          []string
	dirsMu        sync.Mutex
)

// NewCluster initialises and starts a private PostgreSQL cluster, stopped and
// removed when the test ends. Use it when a test stops or restarts PostgreSQL.
func NewCluster(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	c, dir, err := newCluster()
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.Stop()
		release(dir)
	})
	return c
}

func newCluster() (*pgcluster.Cluster, string, error) {
	// t.TempDir is 0700 and owned by root: the postgres user could not
	// reach a cluster inside it, so the cluster gets a directory of its own.
	reapOnce.Do(func() { reapOrphans(os.TempDir()) })
	dir, err := os.MkdirTemp("", clusterPattern)
	if err != nil {
		return nil, "", err
	}
	if err := claim(dir); err != nil {
		release(dir)
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, dir, pgcluster.Options{Ephemeral: true, Database: "postgres"})
	if err != nil {
		release(dir)
		return nil, "", err
	}
	return c, dir, nil
}

// Postgres returns the URL of a fresh, empty database for the test, in the
// test binary's shared cluster (started on first use).
func Postgres(t testing.TB) string {
	t.Helper()
	sharedOnce.Do(func() {
		var dir string
		sharedCluster, dir, sharedErr = newCluster()
		if sharedErr == nil {
			dirsMu.Lock()
			dirs = append(dirs, dir)
			dirsMu.Unlock()
		}
	})
	require.NoError(t, sharedErr, "start test PostgreSQL")
	return FreshDatabase(t, sharedCluster)
}

// FreshDatabase creates a new database in c for the test.
func FreshDatabase(t testing.TB, c *pgcluster.Cluster) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("t%d_%s", dbCounter.Add(1), sanitize(t.Name()))
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, pgcluster.CreateDatabase(ctx, conn, name))
	return c.URL(name)
}

func sanitize(s string) string {
	s = strings.ToLower(s)
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 40; i++ {
		ch := s[i]
		if (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') {
			b = append(b, ch)
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}

// Main runs the package's tests and then stops the shared cluster. Call it
// from TestMain in every package that uses Postgres.
func Main(m *testing.M) {
	code := m.Run()
	if sharedCluster != nil {
		_ = sharedCluster.Stop()
	}
	dirsMu.Lock()
	for _, d := range dirs {
		release(d)
	}
	dirsMu.Unlock()
	os.Exit(code)
}

// RestartableNATS is an embedded JetStream server that a test stops and
// starts again on the same address and store, as an operator restarts
// NATS: the clients connected to it reconnect.
type RestartableNATS struct {
	t    testing.TB
	dir  string
	addr string
	url  string
	srv  *natsserver.Server
}

// StartRestartableNATS starts a RestartableNATS, shut down when the test ends.
func StartRestartableNATS(t testing.TB) *RestartableNATS {
	t.Helper()
	r := &RestartableNATS{t: t, dir: t.TempDir(), addr: "127.0.0.1:0"}
	r.Start()
	u, err := url.Parse(r.srv.ClientURL())
	require.NoError(t, err)
	r.addr, r.url = u.Host, r.srv.ClientURL()
	t.Cleanup(func() {
		if r.srv != nil {
			r.srv.Shutdown()
		}
	})
	return r
}

// URL is the server's client URL, credentials included; it stays the same
// across restarts.
func (r *RestartableNATS) URL() string { return r.url }

// Stop shuts the server down.
func (r *RestartableNATS) Stop() {
	r.srv.Shutdown()
	r.srv = nil
}

// Start starts the server again on its address and store.
func (r *RestartableNATS) Start() {
	r.t.Helper()
	srv, err := natsserver.Start(natsserver.Config{StoreDir: r.dir, Listen: r.addr})
	require.NoError(r.t, err)
	r.srv = srv
}

// WaitReconnected waits until st answers again after a restart.
func WaitReconnected(t testing.TB, st *eventstore.Store) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, err := st.JetStream().AccountInfo(context.Background())
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "the store reconnects")
}
