package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// cluster is three in-process JetStream servers routed to each other, for
// measuring on replicas-3 streams (where atomic batches are staged in
// memory, not in a file store of their own as on one replica).
type cluster struct {
	servers []*server.Server
}

// startCluster starts the three servers with their stores under dir.
func startCluster(dir string) (*cluster, error) {
	// Clustered JetStream needs configured routes on every server: the
	// route ports are picked (free now) before any server starts.
	var routes []*url.URL
	var ports []int
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ports = append(ports, port)
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", port)})
	}
	c := &cluster{}
	for i := range 3 {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			Cluster: server.ClusterOpts{Name: "bench", Host: "127.0.0.1", Port: ports[i]},
			Routes:  routes,
		})
		if err != nil {
			c.shutdown()
			return nil, err
		}
		go s.Start()
		c.servers = append(c.servers, s)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !c.formed() {
		if time.Now().After(deadline) {
			c.shutdown()
			return nil, errors.New("the 3-node cluster did not form in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c, nil
}

func (c *cluster) formed() bool {
	leaderSeesAll := false
	for _, s := range c.servers {
		if !s.Running() || s.NumRoutes() < 2 || !s.JetStreamIsCurrent() {
			return false
		}
		leaderSeesAll = leaderSeesAll || len(s.JetStreamClusterPeers()) == 3
	}
	return leaderSeesAll
}

// url lists every server's client URL.
func (c *cluster) url() string {
	var urls []string
	for _, s := range c.servers {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

func (c *cluster) shutdown() {
	for _, s := range c.servers {
		s.Shutdown()
	}
}
