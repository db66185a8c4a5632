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
	// links[i][j] carries node i's routes to node j (nil when i == j).
	links [][]*routeLink
}

// clusterNode is one server of a Cluster: what it needs to start again as
// the same node, and the server while it runs (nil while killed).
type clusterNode struct {
	name       string
	storeDir   string
	clientPort int // picked by the first start, kept by restarts
	srv        *server.Server
	starting   *server.Server // between NewServer and ready
}

// ClusterName is the NATS cluster name of the servers StartCluster starts.
const ClusterName = "eventline-test"

// clusterReadyTimeout bounds how long StartCluster waits for the cluster to
// form (a meta leader seeing every live server).
const clusterReadyTimeout = 30 * time.Second

// noRoute is the route address each server advertises: nothing listens
// there, so servers learn no route to each other but the links'.
const noRoute = "127.0.0.1:1"

// StartCluster starts n JetStream servers (named n1, n2, …) routed to each
// other on loopback with random ports, and returns once the cluster has
// formed (WaitReady). They have the embedded server's max_payload, so that
// a cluster accepts what production does. They are shut down when the test
// ends.
//
// Each server routes to each other one through a link of the Cluster's (a
// loopback listener held from the start, forwarding to the server's random
// route port), which Crash cuts. So no port is picked free and bound later,
// where another process could take it in between: the start cannot fail
// on a taken route port, and a restarted server takes a new one.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	require.Positive(t, n)
	c := &Cluster{t: t}
	for i := range n {
		c.nodes = append(c.nodes, &clusterNode{name: fmt.Sprintf("n%d", i+1), storeDir: t.TempDir(), clientPort: server.RANDOM_PORT})
	}
	t.Cleanup(c.shutdown)
	c.links = make([][]*routeLink, n)
	for i := range n {
		c.links[i] = make([]*routeLink, n)
		for j := range n {
			if i == j {
				continue
			}
			k, err := newRouteLink(func() string { return c.routeAddr(j) })
			require.NoError(t, err)
			c.links[i][j] = k
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = c.startNode(i) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	ctx, cancel := context.WithTimeout(context.Background(), clusterReadyTimeout)
	defer cancel()
	require.NoError(t, c.WaitReady(ctx), "the cluster did not form")
	return c
}

// routeAddr is node i's route address, "" while it does not listen.
func (c *Cluster) routeAddr(i int) string {
	c.mu.Lock()
	srv := c.nodes[i].srv
	if srv == nil {
		srv = c.nodes[i].starting
	}
	c.mu.Unlock()
	if srv == nil {
		return ""
	}
	if a := srv.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

// startNode starts node i's server with its name, store dir and client
// port, routed through its links, and waits until it listens.
func (c *Cluster) startNode(i int) error {
	nd := c.nodes[i]
	var routes []*url.URL
	for j, k := range c.links[i] {
		if j != i {
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: k.addr()})
		}
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
		Cluster: server.ClusterOpts{Name: ClusterName, Host: "127.0.0.1", Port: server.RANDOM_PORT,
			Advertise: noRoute},
		Routes: routes,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("server %s: %w", nd.name, err)
	}
	c.mu.Lock()
	nd.starting = srv
	c.mu.Unlock()
	srv.Start()
	ready := srv.ReadyForConnections(10 * time.Second)
	c.mu.Lock()
	nd.starting = nil
	if ready {
		nd.srv = srv
		nd.clientPort = srv.Addr().(*net.TCPAddr).Port
	}
	c.mu.Unlock()
	if !ready {
		srv.Shutdown()
		srv.WaitForShutdown()
		return fmt.Errorf("server %s did not get ready (client port %d taken?)", nd.name, nd.clientPort)
	}
	return nil
}

// shutdown stops every running server, then the links.
func (c *Cluster) shutdown() {
	for i := range c.nodes {
		c.stop(i)
	}
	for _, row := range c.links {
		for _, k := range row {
			if k != nil {
				k.close()
			}
		}
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
// On its way out the server hands the leadership of its raft groups (meta,
// streams, consumers) to a peer, as on SIGTERM, so that the others need no
// election timeout: Crash is kill -9.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	require.NotNil(c.t, c.Server(i), "server %s is not running", c.nodes[i].name)
	c.stop(i)
}

// Crash stops server i as kill -9 would: its routes are cut first, so its
// peers find it gone without a word and hand nothing over (the groups it
// led elect a leader once their election timeout passes, seconds), and its
// clients are disconnected. Restart brings it back.
func (c *Cluster) Crash(i int) {
	c.t.Helper()
	require.NotNil(c.t, c.Server(i), "server %s is not running", c.nodes[i].name)
	c.cut(i, true)
	c.stop(i)
}

// cut cuts (or mends) every link to and from node i.
func (c *Cluster) cut(i int, cut bool) {
	for j := range c.nodes {
		if j != i {
			c.links[i][j].setCut(cut)
			c.links[j][i].setCut(cut)
		}
	}
}

// Restart starts server i again, killed or crashed before, with the same
// name, store dir and client port, so that it rejoins the cluster with what
// it stored, and returns once it listens. Call WaitReady to wait until it
// has rejoined.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	require.Nil(c.t, c.Server(i), "server %s is running", c.nodes[i].name)
	c.cut(i, false)
	require.NoError(c.t, c.startNode(i))
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
// is routed to every other (every route connection of the pool up),
// JetStream-ready and current with the meta group,
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

// routesPerPeer is how many route connections a server keeps to each
// other one: a pool that accounts are spread over (a missing one drops the
// traffic of its accounts), and one for the system account.
const routesPerPeer = server.DEFAULT_ROUTE_POOL_SIZE + 1

// notReady says why the cluster is not ready ("" when it is).
func (c *Cluster) notReady() string {
	live := c.running()
	leader := false
	for _, s := range live {
		switch {
		case s.NumRoutes() < (len(live)-1)*routesPerPeer:
			return fmt.Sprintf("%s has %d route connections of %d", s.Name(), s.NumRoutes(), (len(live)-1)*routesPerPeer)
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
