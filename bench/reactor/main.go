package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/eventline/eventline/bench/internal/benchcmd"
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

func main() { benchcmd.Main("bench/reactor", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	c := benchcmd.New("reactor", stderr, benchcmd.Shared{JSON: &o.JSON})
	c.IntVar(&o.Chains, "chains", 200, "chains in flight for the throughput runs")
	c.IntVar(&o.Hops, "hops", 100_000, "hops per throughput run (spread over the chains)")
	c.IntVar(&o.Rate, "rate", 1000, "hops per second of the paced latency runs")
	c.DurationVar(&o.Paced, "paced", 5*time.Second, "how long each paced latency run lasts")
	c.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	if err := c.Parse(args, func() error {
		if o.Chains < 1 || o.Hops < o.Chains || o.Rate < 1 || o.Paced <= 0 {
			return errors.New("--chains, --rate, --paced must be positive and --hops at least --chains")
		}
		return nil
	}); err != nil {
		return err
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
	logf := c.Logf
	logf("%d chains, %d hops, paced %d/s for %s", o.Chains, o.Hops, o.Rate, o.Paced)
	dir, err := benchcmd.TempDir("eventline-bench-reactor-*")
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
