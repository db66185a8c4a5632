package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/bench/internal/benchcluster"
	"github.com/eventline/eventline/bench/internal/benchserve"
	"github.com/eventline/eventline/bench/internal/orderclient"
	"github.com/eventline/eventline/eventstore/partitions"
	"github.com/eventline/eventline/handlers/orders"
	"github.com/eventline/eventline/internal/pgcluster"
)

// proc is one `eventline serve` of the bench: its id, roles and fixed HTTP
// port (a restart keeps them), and the running process while up.
type proc struct {
	id, roles string
	cfg       benchserve.Config
	base      string
	srv       *benchserve.Server
	up        atomic.Bool
}

// env is what the phases share: the cluster, PostgreSQL, the processes,
// the users and products.
type env struct {
	o        options
	root     string
	cluster  *benchcluster.Cluster
	pg       *pgcluster.Cluster
	procs    [2]*proc
	api      *orderclient.Client
	js       jetstream.JetStream
	nc       *nats.Conn
	users    []string
	products []string
	hot      string
	logf     func(string, ...any)
	stderr   io.Writer
}

// partitionCount is EVENTLINE_PARTITIONS for both processes.
const partitionCount = 16

// newProcs prepares the two processes' configurations: p1 with every
// role, p2 with api and saga, both on the cluster (R3) and one PostgreSQL,
// with the same secret key and a short saga policy (3 s step timeout, 1 s
// retry delay) so that tok_slow and tok_flaky sagas end within seconds.
func (e *env) newProcs(bin string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	for i, roles := range []string{"api,projector,saga,sync", "api,saga"} {
		port, err := pgcluster.FreePort()
		if err != nil {
			return err
		}
		id := "p" + strconv.Itoa(i+1)
		p := &proc{id: id, roles: roles, base: "http://127.0.0.1:" + strconv.Itoa(port)}
		p.cfg = benchserve.Config{Bin: bin, Name: id, DataDir: filepath.Join(e.root, id), StopTimeout: 30 * time.Second,
			Env: []string{
				"EVENTLINE_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(port),
				"NATS_URL=" + e.cluster.URL(), "EVENTLINE_STREAM_REPLICAS=3",
				"DATABASE_URL=" + e.pg.URL(""),
				"EVENTLINE_PROCESS_ID=" + id, "EVENTLINE_ROLES=" + roles,
				"EVENTLINE_PARTITIONS=" + strconv.Itoa(partitionCount),
				"EVENTLINE_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key),
				"EVENTLINE_SYNC_DAILY_AT=-",
				"EVENTLINE_SAGA_STEP_TIMEOUT=3s", "EVENTLINE_SAGA_RETRY_ATTEMPTS=3",
				"EVENTLINE_SAGA_RETRY_DELAY=1s", "EVENTLINE_SAGA_COMPENSATION_TIMEOUT=10s",
			}}
		e.procs[i] = p
	}
	return nil
}

// start starts p (again) and waits until it is ready.
func (e *env) start(ctx context.Context, p *proc) error {
	srv, err := benchserve.StartReady(ctx, p.cfg)
	if err != nil {
		return err
	}
	p.srv = srv
	p.up.Store(true)
	return nil
}

// stopAll stops the processes that run.
func (e *env) stopAll() {
	for _, p := range e.procs {
		if p != nil && p.srv != nil {
			if err := p.srv.Stop(); err != nil {
				e.logf("%v", err)
			}
		}
	}
}

// owners counts the saga partitions each process owns, as the pins say.
func (e *env) owners(ctx context.Context) map[string]int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := partitions.Inspect(ctx, e.js, orders.PartitionGroup)
	out := map[string]int{}
	if err != nil {
		return out
	}
	for _, p := range v.Partition {
		if p.Owner != "" {
			out[p.Owner]++
		}
	}
	return out
}

// ownedBy lists the partitions id owns.
func (e *env) ownedBy(ctx context.Context, id string) map[int]bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, _ := partitions.Inspect(ctx, e.js, orders.PartitionGroup)
	out := map[int]bool{}
	for _, p := range v.Partition {
		if p.Owner == id {
			out[p.Partition] = true
		}
	}
	return out
}

// waitBalanced waits until the processes that run own the partitions in
// equal shares (all of them for one), at most limit, and returns how long.
func (e *env) waitBalanced(ctx context.Context, limit time.Duration) (time.Duration, error) {
	began := time.Now()
	for {
		var live []string
		for _, p := range e.procs {
			if p.up.Load() {
				live = append(live, p.id)
			}
		}
		o := e.owners(ctx)
		ok := len(live) > 0
		for _, id := range live {
			ok = ok && o[id] == partitionCount/len(live)
		}
		if ok {
			return time.Since(began), nil
		}
		if time.Since(began) > limit {
			return time.Since(began), fmt.Errorf("partitions not shared out evenly after %s: %v", limit, o)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// setup creates the users and products the orders use (the spread ones
// and the hot one), through p1.
func (e *env) setup(ctx context.Context) error {
	users, products, err := e.api.Setup(ctx, e.procs[0].base, e.o.Users, e.o.Products+1)
	if err != nil {
		return err
	}
	e.users, e.products, e.hot = users, products[:e.o.Products], products[e.o.Products]
	return nil
}

// cpuSample is the CPU time of each measured party at one moment:
// "p1", "p2" (the serve processes), "nats" (this process: the three
// nats-servers and the bench's bookkeeping) and "postgres" (the postmaster
// and its backends, by pid).
type cpuSample struct {
	by map[string]time.Duration
	pg map[int]time.Duration
}

// sample reads every party's CPU time.
func (e *env) sample() cpuSample {
	s := cpuSample{by: map[string]time.Duration{}, pg: map[int]time.Duration{}}
	for _, p := range e.procs {
		if p.up.Load() {
			if c, err := benchserve.CPUTime(p.srv.PID()); err == nil {
				s.by[p.id] = c
			}
		}
	}
	if c, err := benchserve.CPUTime(os.Getpid()); err == nil {
		s.by["nats"] = c
	}
	for _, pid := range pgTree(e.pg.PID()) {
		if c, err := benchserve.CPUTime(pid); err == nil {
			s.pg[pid] = c
		}
	}
	return s
}

// since is the CPU time each party used from earlier to s; a PostgreSQL
// backend that started in between counts whole.
func (s cpuSample) since(earlier cpuSample) map[string]time.Duration {
	out := map[string]time.Duration{}
	for k, v := range s.by {
		if b, ok := earlier.by[k]; ok {
			out[k] = v - b
		}
	}
	for pid, c := range s.pg {
		out["postgres"] += c - earlier.pg[pid]
	}
	return out
}

// pgTree is the postmaster pid and its children.
func pgTree(pid int) []int {
	if pid <= 0 {
		return nil
	}
	out := []int{pid}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// waitQuiet waits until every serve process and this process (the
// nats-servers) use under 15% of a core over half a second, at most 20 s,
// and returns how long it waited.
func (e *env) waitQuiet(ctx context.Context) time.Duration {
	began := time.Now()
	for time.Since(began) < 20*time.Second {
		a := e.sample()
		select {
		case <-ctx.Done():
			return time.Since(began)
		case <-time.After(500 * time.Millisecond):
		}
		b := e.sample()
		quiet := true
		for k, d := range b.since(a) {
			if k != "postgres" && d > 75*time.Millisecond {
				quiet = false
			}
		}
		if quiet {
			break
		}
	}
	return time.Since(began)
}

// logPath is the file p's stderr goes to, across restarts.
func (p *proc) logPath() string { return filepath.Join(filepath.Dir(p.cfg.DataDir), p.id+".log") }
