package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/bench/internal/benchcluster"
	"github.com/eventline/eventline/bench/internal/benchcmd"
	"github.com/eventline/eventline/internal/pgcluster"
)

// options are the benchmark's flags.
type options struct {
	Bin          string
	Keep         bool
	Phases       []string
	Duration     time.Duration
	Warmup       time.Duration
	InFlight     int
	RawDuration  time.Duration
	LogDuration  time.Duration
	LogConns     int
	Users        int
	Products     int
	Rounds       int
	TakeoverLoad time.Duration
	TakeoverRate int
	Kill         string
	Pairs        int
	Idle         time.Duration
	Steady       time.Duration
	NodeDown     time.Duration
	PGDown       time.Duration
}

var allPhases = []string{"throughput", "hot", "logs", "takeover", "faults"}

func main() { benchcmd.Main("bench/cluster", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 2 && args[0] == "loadgen" {
		return runLoadgen(ctx, args[1], stdout)
	}
	var o options
	var phases string
	c := benchcmd.New("cluster", stderr, benchcmd.Shared{Bin: &o.Bin, Keep: &o.Keep})
	c.StringVar(&phases, "phases", strings.Join(allPhases, ","), "phases to run, comma-separated")
	c.DurationVar(&o.Duration, "duration", 8*time.Second, "each measured saga load (one process, two; spread and hot)")
	c.DurationVar(&o.Warmup, "warmup", 3*time.Second, "unmeasured load before each measured saga load")
	c.IntVar(&o.InFlight, "in-flight", 100, "sagas in flight (concurrent clients), split over the APIs")
	c.DurationVar(&o.RawDuration, "raw-duration", 5*time.Second, "the raw JetStream baselines")
	c.DurationVar(&o.LogDuration, "log-duration", 4*time.Second, "each measured log load")
	c.IntVar(&o.LogConns, "log-conns", 64, "concurrent log clients")
	c.IntVar(&o.Users, "users", 100, "users the orders are spread over")
	c.IntVar(&o.Products, "products", 50, "products (huge stock) the spread orders use; the hot load uses one more")
	c.IntVar(&o.Pairs, "pairs", 2, "one-process and two-process measurements, alternated (p2 stopped in between)")
	c.DurationVar(&o.Idle, "idle", 3*time.Second, "CPU measured without load, with one process and with two (0: not measured)")
	c.DurationVar(&o.Steady, "steady", 6*time.Second, "steady load without faults before the first kill (the safety-net sweep counted)")
	c.IntVar(&o.Rounds, "rounds", 5, "takeover rounds (kill -9, resume, restart)")
	c.DurationVar(&o.TakeoverLoad, "takeover-load", 2*time.Second, "load before each kill, so that sagas are in flight")
	c.IntVar(&o.TakeoverRate, "takeover-rate", 40, "orders per second during the takeover and fault phases")
	c.StringVar(&o.Kill, "kill", "alternate", "which process each round kills: p2, p1 or alternate (p2 first)")
	c.DurationVar(&o.NodeDown, "node-down", 8*time.Second, "how long the killed NATS node stays down")
	c.DurationVar(&o.PGDown, "pg-down", 5*time.Second, "how long PostgreSQL stays down")
	if err := c.Parse(args, func() (err error) {
		if o.Phases, err = benchcmd.List("phases", phases, allPhases); err != nil {
			return err
		}
		if o.InFlight < 2 || o.LogConns < 2 || o.Users < 1 || o.Pairs < 1 || o.Steady < 0 || o.Idle < 0 || o.Products < 1 || o.Rounds < 0 || o.TakeoverRate < 1 ||
			o.Duration <= 0 || o.RawDuration <= 0 || o.LogDuration <= 0 || o.Warmup < 0 {
			return errors.New("counts and durations must be positive (in-flight and log-conns at least 2)")
		}
		if o.Kill != "p1" && o.Kill != "p2" && o.Kill != "alternate" {
			return fmt.Errorf("--kill %q: p1, p2 or alternate", o.Kill)
		}
		return nil
	}); err != nil {
		return err
	}
	logf := c.Logf
	logf("phases %v; %d in flight, %s per load after %s warm-up", o.Phases, o.InFlight, o.Duration, o.Warmup)
	root, bin, cleanup, err := c.Workdir(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	e := &env{o: o, root: root, api: newAPI(64), logf: logf, stderr: stderr}
	logf("starting a 3-node JetStream cluster and PostgreSQL")
	if e.cluster, err = benchcluster.Start(ctx, filepath.Join(root, "nats")); err != nil {
		return err
	}
	defer e.cluster.Shutdown()
	if e.pg, err = pgcluster.Start(ctx, filepath.Join(root, "pg"), pgcluster.Options{}); err != nil {
		return err
	}
	defer e.pg.Stop()
	if e.nc, err = nats.Connect(e.cluster.URL(), nats.Name("bench-cluster"), nats.MaxReconnects(-1)); err != nil {
		return err
	}
	defer e.nc.Close()
	if e.js, err = jetstream.New(e.nc); err != nil {
		return err
	}
	if err := e.newProcs(bin); err != nil {
		return err
	}
	defer e.stopAll()
	res, err := e.runPhases(ctx)
	if err != nil {
		// Print what was measured before the failure.
		_ = report(stdout, o, res)
		return err
	}
	return report(stdout, o, res)
}

// results are every phase's figures.
type results struct {
	RawSaga, RawLogs phase
	// One, Two, HotOne, HotTwo pool the pairs' loads.
	One, Two         phase
	HotOne, HotTwo   phase
	Pairs            []pair
	LogsOne, LogsTwo phase
	// IdleOne and IdleTwo are the CPU time of each party over Idle
	// without load, with p1 alone and with both.
	Idle             time.Duration
	IdleOne, IdleTwo map[string]time.Duration
	// Joins: from p2's exec until the partitions were shared out; Leaves:
	// from its SIGTERM until p1 owned them all.
	Joins, Leaves []time.Duration
	// Steady is the load without faults before the first kill: orders
	// posted and failed, the safety-net sweep's firings and sagas.
	Steady                    time.Duration
	SteadyPosts, SteadyFailed int
	SteadySweeps, SteadySwept int
	Takeovers                 []takeoverRound
	Node                      *nodeFault
	PG                        *pgFault
	Final                     *finalCheck
	PlacerRate                int
}

func (e *env) has(phase string) bool { return slices.Contains(e.o.Phases, phase) }

// runPhases runs the phases in order: the raw baselines on the quiet
// cluster, p1 alone, p1 and p2, the takeovers and the faults.
func (e *env) runPhases(ctx context.Context) (*results, error) {
	o := e.o
	res := &results{PlacerRate: o.TakeoverRate}
	var err error
	if e.has("throughput") {
		res.RawSaga, err = e.measure(ctx, "raw JetStream sagas", job{Kind: "raw", NATSURL: e.cluster.URL(), InFlight: o.InFlight,
			Duration: o.RawDuration, Stream: "BENCH_CLUSTER_RAW", Subject: "benchcluster.", PerOp: 10, PerSubject: true, PayloadBytes: 256}, time.Second)
		if err != nil {
			return res, err
		}
	}
	if e.has("logs") {
		res.RawLogs, err = e.measure(ctx, "raw JetStream log entries", job{Kind: "raw", NATSURL: e.cluster.URL(), InFlight: o.LogConns,
			Duration: o.LogDuration, Stream: "BENCH_CLUSTER_RAWLOGS", Subject: "benchclusterlogs.", PerOp: 1, PayloadBytes: 256}, time.Second)
		if err != nil {
			return res, err
		}
	}
	p1, p2 := e.procs[0], e.procs[1]
	e.logf("starting p1 (%s)", p1.roles)
	if err := e.start(ctx, p1); err != nil {
		return res, err
	}
	if err := e.setup(ctx); err != nil {
		return res, err
	}
	if _, err := e.waitBalanced(ctx, time.Minute); err != nil {
		return res, err
	}
	saga := func(urls []string, products []string) job {
		return job{Kind: "saga", URLs: urls, InFlight: o.InFlight, Duration: o.Duration, Users: e.users, Products: products, Token: "tok_ok"}
	}
	logs := func(urls []string) job {
		return job{Kind: "logs", URLs: urls, InFlight: o.LogConns, Duration: o.LogDuration}
	}
	one, two := []string{p1.base}, []string{p1.base, p2.base}
	// One process, then two, o.Pairs times (p2 stopped with SIGTERM in
	// between): the pairs alternate, so that drift (a growing stream,
	// other load on the machine) does not favour either.
	for i := range o.Pairs {
		var pr pair
		if i > 0 {
			began := time.Now()
			p2.up.Store(false)
			if err := p2.srv.Stop(); err != nil {
				return res, err
			}
			if _, err := e.waitBalanced(ctx, time.Minute); err != nil {
				return res, err
			}
			res.Leaves = append(res.Leaves, time.Since(began))
			e.logf("p2 stopped (SIGTERM): p1 owns every partition %.2f s after the signal", time.Since(began).Seconds())
		}
		if i == 0 && o.Idle > 0 {
			res.Idle, res.IdleOne = o.Idle, e.idleCPU(ctx, o.Idle)
		}
		if e.has("throughput") {
			if pr.One, err = e.measure(ctx, fmt.Sprintf("pair %d: sagas, one process", i+1), saga(one, e.products), o.Warmup); err != nil {
				return res, err
			}
		}
		if e.has("hot") {
			if pr.HotOne, err = e.measure(ctx, fmt.Sprintf("pair %d: hot product, one process", i+1), saga(one, []string{e.hot}), o.Warmup); err != nil {
				return res, err
			}
		}
		if e.has("logs") && i == 0 {
			if res.LogsOne, err = e.measure(ctx, "logs, one process", logs(one), time.Second); err != nil {
				return res, err
			}
		}
		e.logf("starting p2 (%s)", p2.roles)
		began := time.Now()
		if err := e.start(ctx, p2); err != nil {
			return res, err
		}
		if _, err := e.waitBalanced(ctx, time.Minute); err != nil {
			return res, err
		}
		res.Joins = append(res.Joins, time.Since(began))
		e.logf("p2 joined: partitions shared out %.2f s after its start", time.Since(began).Seconds())
		if i == 0 && o.Idle > 0 {
			res.IdleTwo = e.idleCPU(ctx, o.Idle)
		}
		if e.has("throughput") {
			if pr.Two, err = e.measure(ctx, fmt.Sprintf("pair %d: sagas, two processes", i+1), saga(two, e.products), o.Warmup); err != nil {
				return res, err
			}
		}
		if e.has("hot") {
			if pr.HotTwo, err = e.measure(ctx, fmt.Sprintf("pair %d: hot product, two processes", i+1), saga(two, []string{e.hot}), o.Warmup); err != nil {
				return res, err
			}
		}
		if e.has("logs") && i == 0 {
			if res.LogsTwo, err = e.measure(ctx, "logs, two processes", logs(two), time.Second); err != nil {
				return res, err
			}
		}
		res.Pairs = append(res.Pairs, pr)
	}
	for _, pr := range res.Pairs {
		res.One, res.Two = pool(res.One, pr.One), pool(res.Two, pr.Two)
		res.HotOne, res.HotTwo = pool(res.HotOne, pr.HotOne), pool(res.HotTwo, pr.HotTwo)
	}
	if !e.has("takeover") && !e.has("faults") {
		return res, nil
	}
	e.logf("steady load: %d orders/s over both APIs (tok_ok, tok_flaky, tok_slow)", o.TakeoverRate)
	sizes := e.logSizes()
	pl := e.startPlacer(ctx, o.TakeoverRate)
	if o.Steady > 0 {
		e.logf("steady load without faults for %s", o.Steady)
		began := time.Now()
		sleep(ctx, o.Steady)
		res.Steady = o.Steady
		res.SteadySweeps, res.SteadySwept = e.sweepsSince(sizes)
		res.SteadyPosts, res.SteadyFailed, _, _ = summarizePosts(pl.postsBetween(began, time.Now()))
	}
	if e.has("takeover") {
		res.Takeovers = e.takeover(ctx, o.Rounds, o.TakeoverLoad, o.Kill)
	}
	if e.has("faults") {
		if _, err := e.waitBalanced(ctx, time.Minute); err != nil {
			e.logf("before the faults: %v", err)
		}
		sleep(ctx, o.TakeoverLoad)
		e.logf("killing the SAGAS leader's NATS node for %s", o.NodeDown)
		nf := e.killNode(ctx, pl, o.NodeDown)
		res.Node = &nf
		e.logf("node %s: new leader in %.2f s, %d of %d orders failed, slowest %.2f s, rejoined %.2f s after its restart %s",
			nf.Node, nf.Elected.Seconds(), nf.Failed, nf.Posts, nf.MaxPost.Seconds(), nf.Rejoined.Seconds(), nf.Err)
		sleep(ctx, o.TakeoverLoad)
		e.logf("stopping PostgreSQL for %s", o.PGDown)
		pf := e.stopPostgres(ctx, pl, o.PGDown)
		res.PG = &pf
		e.logf("PostgreSQL: %d of %d orders failed while down, p1 ready %.2f s and sagas read model caught up %.2f s after its start %s",
			pf.Failed, pf.Posts, pf.Ready.Seconds(), pf.CaughtUp.Seconds(), pf.Err)
		sleep(ctx, o.TakeoverLoad)
	}
	pl.stop()
	e.logf("awaiting every saga placed under faults")
	fc := e.check(ctx, pl, sizes)
	res.Final = &fc
	return res, ctx.Err()
}
