package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore/natsserver"
)

// Cluster is a JetStream cluster of in-process nats-servers routed to each
// other over loopback, each storing in its own temp dir, for tests of what
// replicated streams do (R3, a node killed and restarted). Its servers take
// no credentials: URL is enough to connect.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes []*clusterNode
}

// clusterNode is one server of a Cluster: what it needs to start again as
// the same node, and the server while it runs (nil while killed).
type clusterNode struct {
	name       string
	storeDir   string
	clientPort int // picked by the first start, kept by restarts
	routePort  int
	srv        *server.Server
}

// ClusterName is the NATS cluster name of the servers StartCluster starts.
const ClusterName = "eventline-test"

// clusterReadyTimeout bounds how long StartCluster and Restart wait for the
// cluster to form (a meta leader seeing every live server).
const clusterReadyTimeout = 30 * time.Second

// StartCluster starts n JetStream servers (named n1, n2, …) routed to each
// other on loopback with random ports, and returns once the cluster has
// formed (WaitReady). They have the embedded server's max_payload, so that
// a cluster accepts what production does. They are shut down when the test
// ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	require.Positive(t, n)
	c := &Cluster{t: t}
	for i := range n {
		c.nodes = append(c.nodes, &clusterNode{name: fmt.Sprintf("n%d", i+1), storeDir: t.TempDir()})
	}
	t.Cleanup(c.shutdown)
	// Clustered JetStream needs configured routes on every server, so the
	// route ports are picked (free now) before any server starts. Another
	// process may take one of them before its server binds it; the server
	// then fails to listen, and the cluster starts again on new ports.
	for attempt := 1; ; attempt++ {
		err := c.start()
		if err == nil {
			break
		}
		c.shutdown()
		require.Less(t, attempt, 3, "the cluster did not start in %d attempts: %v", attempt, err)
		t.Logf("attempt %d: %v; starting again on new ports", attempt, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterReadyTimeout)
	defer cancel()
	require.NoError(t, c.WaitReady(ctx), "the cluster did not form")
	return c
}

// start picks route ports and starts every server on them; an error says
// which server did not get ready.
func (c *Cluster) start() error {
	for _, nd := range c.nodes {
		port, err := freePort()
		if err != nil {
			return err
		}
		nd.clientPort, nd.routePort = server.RANDOM_PORT, port
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.nodes))
	for i, nd := range c.nodes {
		wg.Go(func() { errs[i] = c.startNode(nd) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startNode starts nd's server with nd's name, store dir and ports, and
// waits until it listens.
func (c *Cluster) startNode(nd *clusterNode) error {
	var routes []*url.URL
	for _, other := range c.nodes {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", other.routePort)})
	}
	opts := &server.Options{
		ServerName: nd.name,
		Host:       "127.0.0.1",
		Port:       nd.clientPort,
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   nd.storeDir,
		// As the embedded server: production's largest message.
		MaxPayload:         natsserver.DefaultMaxPayload,
		MaxPending:         int64(natsserver.DefaultMaxPayload) * 4,
		JetStreamMaxMemory: 256 << 20,
		Cluster:            server.ClusterOpts{Name: ClusterName, Host: "127.0.0.1", Port: nd.routePort},
		Routes:             routes,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("server %s: %w", nd.name, err)
	}
	srv.Start()
	// A taken port makes this return false at once.
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("server %s did not get ready (client port %d or route port %d taken?)", nd.name, nd.clientPort, nd.routePort)
	}
	c.mu.Lock()
	nd.srv = srv
	nd.clientPort = srv.Addr().(*net.TCPAddr).Port
	c.mu.Unlock()
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// shutdown stops every running server.
func (c *Cluster) shutdown() {
	for i := range c.nodes {
		c.stop(i)
	}
}

// stop shuts node i's server down, if it runs, and waits for it.
func (c *Cluster) stop(i int) {
	c.mu.Lock()
	srv := c.nodes[i].srv
	c.nodes[i].srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Size is how many servers the cluster has, running or not.
func (c *Cluster) Size() int { return len(c.nodes) }

// URL lists every server's client URL, comma-separated, for nats.Connect
// (and NATS_URL): a client reaches whichever servers run, before and after
// a Kill or Restart.
func (c *Cluster) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	urls := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", nd.clientPort)
	}
	return strings.Join(urls, ",")
}

// NodeURL is the client URL of server i alone: a client connected to it
// is served by that server (a follower of a stream, say).
func (c *Cluster) NodeURL(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", c.nodes[i].clientPort)
}

// Server returns server i, nil while it is killed.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].srv
}

// Name is server i's name (n1, n2, …), as JetStream reports it in stream
// and cluster info.
func (c *Cluster) Name(i int) string { return c.nodes[i].name }

// Kill shuts server i down at once, without lame-duck mode: its clients are
// disconnected and its routes dropped, and the cluster runs on without it.
// The nats-server still hands off the raft groups it leads on its way out
// (as a SIGTERM would): it cannot be made to vanish as under kill -9 in
// process.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	require.NotNil(c.t, c.Server(i), "server %s is not running", c.nodes[i].name)
	c.stop(i)
}

// Restart starts server i again, killed before, with the same name, store
// dir and ports, so that it rejoins the cluster with what it stored, and
// returns once it listens. Call WaitReady to wait until it has rejoined.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	require.Nil(c.t, c.Server(i), "server %s is running", c.nodes[i].name)
	require.NoError(c.t, c.startNode(c.nodes[i]))
}

// running returns the servers that run.
func (c *Cluster) running() []*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*server.Server
	for _, nd := range c.nodes {
		if nd.srv != nil {
			out = append(out, nd.srv)
		}
	}
	return out
}

// WaitReady waits until the running servers form a JetStream cluster: each
// is routed to every other, JetStream-ready and current with the meta group,
// and a meta leader is elected that counts every running server as an
// online peer. A killed server does not count; while a majority is down,
// no meta leader can be elected and WaitReady waits until ctx ends.
func (c *Cluster) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		why := c.notReady()
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("jetstream cluster not ready: %s: %w", why, ctx.Err())
		case <-tick.C:
		}
	}
}

// notReady says why the cluster is not ready ("" when it is).
func (c *Cluster) notReady() string {
	live := c.running()
	leader := false
	for _, s := range live {
		switch {
		case s.NumRoutes() < len(live)-1:
			return fmt.Sprintf("%s has %d routes of %d", s.Name(), s.NumRoutes(), len(live)-1)
		case !s.JetStreamEnabled():
			return s.Name() + " has no jetstream yet"
		case !s.JetStreamIsCurrent():
			return s.Name() + " is not current with the meta group"
		case s.JetStreamIsLeader():
			// Only the meta leader lists the peers it sees online.
			if peers := len(s.JetStreamClusterPeers()); peers < len(live) {
				return fmt.Sprintf("meta leader %s sees %d of %d servers", s.Name(), peers, len(live))
			}
			leader = true
		}
	}
	if !leader {
		return "no meta leader"
	}
	return ""
}

// StreamLeader returns the index of the server leading stream (of the
// default account), or -1 while it has none.
func (c *Cluster) StreamLeader(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, nd := range c.nodes {
		if nd.srv != nil && nd.srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// StreamLastSeq is the last sequence that server i's own replica of stream
// (of the default account) holds: 0 when it holds none or is killed.
func (c *Cluster) StreamLastSeq(i int, stream string) uint64 {
	srv := c.Server(i)
	if srv == nil {
		return 0
	}
	jsz, err := srv.Jsz(&server.JSzOptions{Account: server.DEFAULT_GLOBAL_ACCOUNT, Streams: true})
	if err != nil {
		return 0
	}
	for _, acc := range jsz.AccountDetails {
		for _, sd := range acc.Streams {
			if sd.Name == stream {
				return sd.State.LastSeq
			}
		}
	}
	return 0
}
