package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/pgcluster"
)

// benchEnv is the server and connections of one run: a real `eventline
// serve` (embedded JetStream, managed PostgreSQL, the live logs projector),
// which the operator tools are run against as an operator would.
type benchEnv struct {
	dir     string
	keep    bool
	bin     string
	serve   *exec.Cmd
	exited  chan struct{}
	natsURL string
	dbURL   string
	store   *eventstore.Store
	pool    *pgxpool.Pool
}

// start builds the eventline binary when none is given, starts `eventline
// serve` on free loopback ports in a fresh temporary directory and connects
// to its NATS server and PostgreSQL cluster.
func start(ctx context.Context, o options, logf func(string, ...any)) (_ *benchEnv, err error) {
	dir, err := os.MkdirTemp("", "eventline-bench-ops-*")
	if err != nil {
		return nil, err
	}
	// World-traversable, so that the postgres user reaches data/pg inside.
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
	logf("starting eventline serve")
	if err := e.startServe(ctx); err != nil {
		return nil, err
	}
	// The embedded server requires the credentials serve generated.
	creds, err := eventstore.EmbeddedCredentials(filepath.Join(dir, "data", "nats"))
	if err != nil {
		return nil, err
	}
	if e.store, err = eventstore.Connect(ctx, eventstore.Options{URL: e.natsURL, Credentials: creds, Name: "bench-ops", MaxAsyncPending: 16384}); err != nil {
		return nil, err
	}
	pg, err := pgcluster.Running(ctx, filepath.Join(dir, "data", "pg"))
	if err != nil {
		return nil, err
	}
	e.dbURL = pg.URL("")
	if e.pool, err = pgxpool.New(ctx, e.dbURL); err != nil {
		return nil, err
	}
	return e, nil
}

// startServe runs `eventline serve` (all roles) and waits for its
// listening line.
func (e *benchEnv) startServe(ctx context.Context) error {
	httpPort, err := pgcluster.FreePort()
	if err != nil {
		return err
	}
	natsPort, err := pgcluster.FreePort()
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(e.dir, "serve.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(e.bin, "serve")
	cmd.Env = append(os.Environ(),
		"EVENTLINE_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(httpPort),
		"EVENTLINE_DATA_DIR="+filepath.Join(e.dir, "data"),
		"EVENTLINE_NATS_LISTEN=127.0.0.1:"+strconv.Itoa(natsPort),
		"NATS_URL=", "NATS_CREDS=", "DATABASE_URL=", "EVENTLINE_API_TOKEN=")
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start eventline serve: %w", err)
	}
	e.serve, e.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(e.exited)
	}()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "eventline: listening on ") {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-ready:
	case <-e.exited:
		return fmt.Errorf("eventline serve exited at start; see %s", logFile.Name())
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("eventline serve not listening after 2 minutes; see %s", logFile.Name())
	case <-ctx.Done():
		return ctx.Err()
	}
	e.natsURL = "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	return nil
}

// cliEnv is the environment of an eventline command reaching this run's
// servers: the embedded NATS server as an operator's command finds it (its
// address and the credentials in the data dir), and the cluster's database.
func (e *benchEnv) cliEnv() []string {
	return append(os.Environ(), "NATS_URL=", "NATS_CREDS=", "EVENTLINE_DATA_DIR="+filepath.Join(e.dir, "data"),
		"EVENTLINE_NATS_LISTEN="+strings.TrimPrefix(e.natsURL, "nats://"), "DATABASE_URL="+e.dbURL)
}

func (e *benchEnv) close() {
	if e.pool != nil {
		e.pool.Close()
	}
	if e.store != nil {
		e.store.Close()
	}
	if e.serve != nil {
		// serve stops its NATS server and PostgreSQL cluster on SIGTERM.
		_ = e.serve.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(60 * time.Second):
			_ = e.serve.Process.Kill()
			<-e.exited
		}
	}
	if !e.keep {
		_ = os.RemoveAll(e.dir)
	}
}
