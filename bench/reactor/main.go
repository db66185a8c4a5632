// Command reactor benchmarks a reactor hop — an event stored in JetStream,
// handled by a reactor on the watermill runtime (platform/reactor), its
// effect stored as the next event — against the same hop done with plain
// nats.go jetstream (a publish, a pull consumer receiving it, the next
// publish, an ack), measured in the same run on an in-process JetStream
// server: throughput with many chains in flight, and latency at a paced
// rate. See docs/BENCHMARKS.md.
//
//	go run ./bench/reactor [--chains 200] [--hops 100000] [--rate 1000] [--paced 5s] [--json]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/eventline/eventline/bench/internal/benchserve"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/natsserver"
)

// options are the benchmark's flags.
type options struct {
	Chains int           `json:"chains"`
	Hops   int           `json:"hops"`
	Rate   int           `json:"paced_rate"`
	Paced  time.Duration `json:"paced_duration"`
	JSON   bool          `json:"-"`
	// CPUProfile is a file to write a CPU profile of the whole run to.
	CPUProfile string `json:"-"`
}

// benchStream holds every subject the benchmark appends to.
const benchStream = "BENCH"

func main() {
	benchserve.Main("bench/reactor", run)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := benchserve.NewFlagSet("reactor", stderr)
	fs.IntVar(&o.Chains, "chains", 200, "chains in flight for the throughput runs")
	fs.IntVar(&o.Hops, "hops", 100_000, "hops per throughput run (spread over the chains)")
	fs.IntVar(&o.Rate, "rate", 1000, "hops per second of the paced latency runs")
	fs.DurationVar(&o.Paced, "paced", 5*time.Second, "how long each paced latency run lasts")
	fs.BoolVar(&o.JSON, "json", false, "print the results as JSON")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.Chains < 1 || o.Hops < o.Chains || o.Rate < 1 || o.Paced <= 0 {
		return errors.New("--chains, --rate, --paced must be positive and --hops at least --chains")
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	logf := benchserve.Logger(stderr, "bench/reactor")
	logf("%d chains, %d hops, paced %d/s for %s, GOMAXPROCS %d, %s/%s", o.Chains, o.Hops, o.Rate, o.Paced,
		runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	dir, err := os.MkdirTemp("", "bench-reactor-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := natsserver.Start(natsserver.Config{StoreDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		return fmt.Errorf("start nats: %w", err)
	}
	defer srv.Shutdown()
	store, err := eventstore.Connect(ctx, eventstore.Options{URL: srv.ClientURL(), Name: "bench-reactor", FailFast: true,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.EnsureStreams(ctx, []eventstore.StreamSpec{{Name: benchStream,
		Subjects: []string{"hop.>", "done.>", "raw.>", "rawdone.>"}, Description: "reactor benchmark"}}); err != nil {
		return err
	}
	res, err := measure(ctx, store, o, logf, stderr)
	if err != nil {
		return err
	}
	if o.JSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"options": o, "results": res})
	}
	return report(stdout, o, res)
}
