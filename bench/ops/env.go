package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/pgcluster"
	"github.com/eventline/eventline/migrations"
)

// benchEnv is the servers and connections of one run.
type benchEnv struct {
	dir     string
	keep    bool
	nats    *eventstore.Embedded
	store   *eventstore.Store
	cluster *pgcluster.Cluster
	pool    *pgxpool.Pool
	dbURL   string
	bin     string
}

// start launches JetStream and PostgreSQL in a fresh temporary directory
// and builds the eventline binary when none is given.
func start(ctx context.Context, o options, logf func(string, ...any)) (_ *benchEnv, err error) {
	dir, err := os.MkdirTemp("", "eventline-bench-ops-*")
	if err != nil {
		return nil, err
	}
	// World-traversable, so that the postgres user reaches pg/ inside.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	e := &benchEnv{dir: dir, keep: o.Keep, bin: o.Bin}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.bin == "" {
		e.bin = filepath.Join(dir, "eventline")
		logf("building eventline")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", e.bin, "./cmd/eventline").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build eventline: %w: %s", err, out)
		}
	}
	if e.nats, err = eventstore.StartEmbedded(eventstore.EmbeddedConfig{StoreDir: filepath.Join(dir, "nats"), Listen: "127.0.0.1:0"}); err != nil {
		return nil, err
	}
	if e.store, err = eventstore.Connect(ctx, eventstore.Options{URL: e.nats.ClientURL(), Name: "bench-ops", MaxAsyncPending: 16384}); err != nil {
		return nil, err
	}
	if err := e.store.EnsureStreams(ctx, eventstore.DefaultStreams()); err != nil {
		return nil, err
	}
	logf("starting postgres")
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if e.cluster, err = pgcluster.Start(cctx, filepath.Join(dir, "pg"), pgcluster.Options{}); err != nil {
		return nil, err
	}
	e.dbURL = e.cluster.URL("")
	if e.pool, err = pgxpool.New(ctx, e.dbURL); err != nil {
		return nil, err
	}
	if _, err := migrations.Up(ctx, e.pool); err != nil {
		return nil, err
	}
	return e, nil
}

// cliEnv is the environment of an eventline command reaching this run's servers.
func (e *benchEnv) cliEnv() []string {
	return append(os.Environ(), "NATS_URL="+e.nats.ClientURL(), "DATABASE_URL="+e.dbURL, "EVENTLINE_DATA_DIR="+e.dir)
}

func (e *benchEnv) close() {
	if e.pool != nil {
		e.pool.Close()
	}
	if e.store != nil {
		e.store.Close()
	}
	if e.nats != nil {
		e.nats.Shutdown()
	}
	if e.cluster != nil {
		_ = e.cluster.Stop()
	}
	if !e.keep {
		_ = os.RemoveAll(e.dir)
	}
}
