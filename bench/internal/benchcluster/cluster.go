package benchcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/eventline/eventline/eventstore/natsserver"
)

// Size is how many servers a Cluster has.
const Size = 3

// formTimeout bounds how long Start and Restart wait for the cluster to
// form (every live server routed, a meta leader that sees them).
const formTimeout = 30 * time.Second

// Cluster is three in-process JetStream servers (n1, n2, n3) routed to
// each other. Its servers take no credentials: URL is enough to connect.
type Cluster struct {
	mu    sync.Mutex
	nodes [Size]*node
}

// node is one server: what it needs to start again as the same node, and
// the server while it runs (nil while killed).
type node struct {
	name       string
	storeDir   string
	clientPort int
	routePort  int
	srv        *server.Server
}

// Start starts the three servers with their stores under dir and returns
// once the cluster has formed. Ports are picked free just before the
// servers start; one taken meanwhile costs a new attempt (up to three).
func Start(ctx context.Context, dir string) (*Cluster, error) {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		c := &Cluster{}
		for i := range Size {
			cp, err1 := freePort()
			rp, err2 := freePort()
			if err := errors.Join(err1, err2); err != nil {
				return nil, err
			}
			c.nodes[i] = &node{name: fmt.Sprintf("n%d", i+1), storeDir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
				clientPort: cp, routePort: rp}
		}
		var wg sync.WaitGroup
		errs := make([]error, Size)
		for i := range Size {
			wg.Go(func() { errs[i] = c.startNode(i) })
		}
		wg.Wait()
		if last = errors.Join(errs...); last == nil {
			if last = c.WaitFormed(ctx); last == nil {
				return c, nil
			}
		}
		c.Shutdown()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("start a 3-node cluster: %w", last)
}

// startNode starts node i on its ports and waits until it listens.
func (c *Cluster) startNode(i int) error {
	nd := c.nodes[i]
	var routes []*url.URL
	for _, other := range c.nodes {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", other.routePort)})
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: nd.name, Host: "127.0.0.1", Port: nd.clientPort, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: nd.storeDir,
		// As the embedded server (and docs/SCALING.md's configs): the
		// largest message production sends.
		MaxPayload: natsserver.DefaultMaxPayload,
		MaxPending: int64(natsserver.DefaultMaxPayload) * 4,
		Cluster:    server.ClusterOpts{Name: "eventline-bench", Host: "127.0.0.1", Port: nd.routePort},
		Routes:     routes,
	})
	if err != nil {
		return fmt.Errorf("server %s: %w", nd.name, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		shutdown(srv)
		return fmt.Errorf("server %s did not get ready (port %d or %d taken?)", nd.name, nd.clientPort, nd.routePort)
	}
	c.mu.Lock()
	nd.srv = srv
	c.mu.Unlock()
	return nil
}

// WaitFormed waits until every running server is routed to the others
// that run, JetStream is current on each, and a meta leader sees every
// peer.
func (c *Cluster) WaitFormed(ctx context.Context) error {
	deadline := time.Now().Add(formTimeout)
	for !c.formed() {
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster did not form in %s", formTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func (c *Cluster) formed() bool {
	servers := c.servers()
	seesAll := false
	for _, s := range servers {
		if !s.Running() || s.NumRoutes() < len(servers)-1 || !s.JetStreamIsCurrent() {
			return false
		}
		seesAll = seesAll || len(s.JetStreamClusterPeers()) == Size
	}
	return seesAll
}

// servers are the servers that run now, by index (a killed one is left
// out).
func (c *Cluster) servers() map[int]*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	running := make(map[int]*server.Server, Size)
	for i, nd := range c.nodes {
		if nd.srv != nil {
			running[i] = nd.srv
		}
	}
	return running
}

// URL lists every server's client URL, comma-separated (NATS_URL): a
// client reaches whichever servers run, before and after Kill and Restart.
func (c *Cluster) URL() string {
	urls := make([]string, Size)
	for i, nd := range c.nodes {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", nd.clientPort)
	}
	return strings.Join(urls, ",")
}

// Name is server i's name (n1, n2, n3) as JetStream reports it.
func (c *Cluster) Name(i int) string { return c.nodes[i].name }

// Index is the index of the server named name, -1 when none.
func (c *Cluster) Index(name string) int {
	for i, nd := range c.nodes {
		if nd.name == name {
			return i
		}
	}
	return -1
}

// Kill stops server i at once (its clients see their connection drop; its
// store stays for Restart).
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	srv := c.nodes[i].srv
	c.nodes[i].srv = nil
	c.mu.Unlock()
	shutdown(srv)
}

// shutdown stops srv, when there is one, and waits until it has stopped.
func shutdown(srv *server.Server) {
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts a killed server i again on its ports with its store, and
// waits until the cluster has formed again.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	if err := c.startNode(i); err != nil {
		return err
	}
	return c.WaitFormed(ctx)
}

// Shutdown stops every running server.
func (c *Cluster) Shutdown() {
	for i := range c.nodes {
		if c.nodes[i] != nil {
			c.Kill(i)
		}
	}
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

// StreamLeader is the index of the server that leads stream (of the
// default account), -1 when none does now.
func (c *Cluster) StreamLeader(stream string) int {
	for i, s := range c.servers() {
		if s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}
