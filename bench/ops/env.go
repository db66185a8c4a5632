package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/bench/internal/benchserve"
	"github.com/eventline/eventline/eventstore"
)

// benchEnv is the server and connections of one run: a real `eventline
// serve` (embedded JetStream, managed PostgreSQL, the live logs projector),
// which the operator tools are run against as an operator would.
type benchEnv struct {
	dir     string
	bin     string
	serve   *benchserve.Server
	natsURL string
	dbURL   string
	store   *eventstore.Store
	pool    *pgxpool.Pool
}

// start starts `eventline serve` (bin) on free loopback ports with its data
// under dir and connects to its NATS server and PostgreSQL cluster.
func start(ctx context.Context, dir, bin string, logf func(string, ...any)) (_ *benchEnv, err error) {
	e := &benchEnv{dir: dir, bin: bin}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	logf("starting eventline serve")
	// Its log is dir/serve.log.
	if e.serve, err = benchserve.Start(ctx, benchserve.Config{Bin: e.bin, Name: "serve", DataDir: filepath.Join(dir, "data")}); err != nil {
		return nil, err
	}
	e.natsURL = e.serve.NATSURL()
	// The embedded server requires the credentials serve generated.
	creds, err := e.serve.NATSCredentials()
	if err != nil {
		return nil, err
	}
	if e.store, err = eventstore.Connect(ctx, eventstore.Options{URL: e.natsURL, Credentials: creds, Name: "bench-ops", MaxAsyncPending: 16384}); err != nil {
		return nil, err
	}
	if e.dbURL, err = e.serve.PostgresSuperURL(ctx); err != nil {
		return nil, err
	}
	if e.pool, err = pgxpool.New(ctx, e.dbURL); err != nil {
		return nil, err
	}
	return e, nil
}

// cliEnv is the environment of an eventline command reaching this run's
// servers: the embedded NATS server as an operator's command finds it (its
// address and the credentials in the data dir), and the cluster's database.
func (e *benchEnv) cliEnv() []string {
	return append(os.Environ(), "NATS_URL=", "NATS_CREDS=", "EVENTLINE_DATA_DIR="+filepath.Join(e.dir, "data"),
		"EVENTLINE_NATS_LISTEN="+strings.TrimPrefix(e.natsURL, "nats://"), "DATABASE_URL="+e.dbURL)
}

// close disconnects and stops serve.
func (e *benchEnv) close() {
	if e.pool != nil {
		e.pool.Close()
	}
	if e.store != nil {
		e.store.Close()
	}
	if e.serve != nil {
		_ = e.serve.Stop()
	}
}
