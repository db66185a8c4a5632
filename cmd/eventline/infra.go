package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/internal/pgcluster"
	"github.com/eventline/eventline/migrations"
	"github.com/eventline/eventline/platform/httpapi"
)

// infra is the connections a command needs, and whatever it started itself.
type infra struct {
	embedded    *natsserver.Server
	cluster     *pgcluster.Cluster
	stopCluster bool
	store       *eventstore.Store
	pool        *pgxpool.Pool
	log         *slog.Logger

	// readPool serves the HTTP API's reads (serve only): its statements
	// time out after readStatementTimeout, and it does not compete with the
	// projector for connections.
	readPool *pgxpool.Pool
	// reads is serve's second connection, for API reads of the log, so
	// that they never share a connection with appends.
	reads *eventstore.Store
	// migrated lists the migrations openInfra applied.
	migrated []migrations.Applied
}

// readStatementTimeout bounds each statement of the HTTP API's reads.
const readStatementTimeout = 5 * time.Second

type infraNeeds struct {
	nats, postgres bool
	// serve: run the embedded NATS server and own the managed cluster,
	// create the streams and migrate the database.
	serve bool
	// migrate: apply pending migrations (serve and `eventline migrate`);
	// other commands change no schema and refuse a database that is behind.
	migrate bool
}

// openInfra connects to (or, for serve, starts) JetStream and PostgreSQL as
// the configuration says.
func openInfra(ctx context.Context, cfg Config, needs infraNeeds, log *slog.Logger) (_ *infra, err error) {
	in := &infra{log: log}
	defer func() {
		if err != nil {
			in.close()
		}
	}()
	if needs.serve && cfg.DataDir != "" {
		// World-traversable, so that the postgres user reaches pg/ inside.
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	}
	if needs.nats {
		url := cfg.natsClientURL()
		creds := eventstore.Credentials{File: cfg.NATSCreds}
		if needs.serve && cfg.NATSURL == "" {
			in.embedded, err = natsserver.Start(natsserver.Config{
				StoreDir: cfg.natsDir(), Listen: cfg.NATSListen, SyncAlways: cfg.NATSSync == "always",
			})
			if err != nil {
				return nil, err
			}
			url = in.embedded.ClientURL() // with its credentials: never logged
			log.Info("embedded nats started", "url", eventstore.RedactURL(url), "store", cfg.natsDir(), "sync", cfg.NATSSync,
				"credentials", filepath.Join(cfg.natsDir(), natsserver.CredentialsFileName))
		} else if cfg.NATSURL == "" {
			// A command reaching the embedded server of a running serve.
			if cfg.NATSCreds != "" {
				return nil, errors.New("NATS_CREDS is for an external server: set NATS_URL too")
			}
			if creds, err = natsserver.ReadCredentials(cfg.natsDir()); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%w (has `eventline serve` run with this data dir? set NATS_URL for an external server)", err)
			} else if err != nil {
				return nil, err
			}
		}
		natsOpts := eventstore.Options{URL: url, Credentials: creds, Name: "eventline", Logger: log, FailFast: !needs.serve,
			Replicas: cfg.StreamReplicas}
		if needs.serve {
			// The process id names serve's connections in the server's
			// monitoring (connz): "eventline/<id>" and "eventline/<id>-reads".
			natsOpts.Name = "eventline/" + cfg.ProcessID
			// And every message serve appends (a saga's "driven by").
			natsOpts.Process = cfg.ProcessID
		}
		if in.embedded != nil {
			// Through memory, not loopback TCP: a single saga, eight
			// appends one after another, answers 0.5–1 ms sooner
			// (docs/CHANGELOG.md, issue 12).
			natsOpts.InProcess = in.embedded.InProcess()
		}
		// Group commit pays where each publish costs an fsync of its own:
		// the embedded single-replica server with sync always (an R3
		// stream's raft log already packs many appends per fsync).
		natsOpts.GroupCommit.Enabled = cfg.GroupCommit == "on" ||
			(cfg.GroupCommit == "auto" && in.embedded != nil && cfg.NATSSync == "always")
		in.store, err = eventstore.Connect(ctx, natsOpts)
		if err == nil && needs.serve {
			readOpts := natsOpts
			readOpts.Name += "-reads"
			in.reads, err = eventstore.Connect(ctx, readOpts)
		}
		if err != nil {
			if cfg.NATSURL == "" && !needs.serve {
				return nil, fmt.Errorf("%w (is `eventline serve` running? set NATS_URL for an external server)", err)
			}
			return nil, err
		}
		if needs.serve {
			// Only serve creates streams: a command that reads them
			// leaves the server as it found it.
			if err := retry(ctx, log, "create streams", func() error {
				try, cancel := context.WithTimeout(ctx, jetStreamTryTimeout)
				defer cancel()
				return in.store.EnsureStreams(try, modules(cfg).Streams())
			}, true); err != nil {
				return nil, err
			}
		}
	}
	if needs.postgres {
		dsn := cfg.DatabaseURL
		if dsn == "" {
			in.cluster, err = pgcluster.Start(ctx, cfg.pgDir(), pgcluster.Options{})
			if err != nil {
				return nil, fmt.Errorf("managed postgres in %s: %w", cfg.pgDir(), err)
			}
			in.stopCluster = needs.serve || !in.cluster.Reused
			dsn = in.cluster.AppURL() // the application role, no superuser
			log.Info("managed postgres ready", "dir", in.cluster.Dir, "port", in.cluster.Port, "reused", in.cluster.Reused)
		}
		pcfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		pcfg.MaxConns = 16
		pcfg.ConnConfig.ConnectTimeout = 3 * time.Second
		if _, set := pcfg.ConnConfig.RuntimeParams["application_name"]; !set && needs.serve {
			// pg_stat_activity tells serve's processes apart (PostgreSQL
			// shows at most 63 bytes); one in DATABASE_URL or PGAPPNAME wins.
			pcfg.ConnConfig.RuntimeParams["application_name"] = "eventline/" + cfg.ProcessID
		}
		in.pool, err = pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		if needs.serve {
			rcfg := pcfg.Copy()
			rcfg.MaxConns = 12
			if _, set := rcfg.ConnConfig.RuntimeParams["statement_timeout"]; !set {
				rcfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(readStatementTimeout.Milliseconds(), 10)
			}
			if in.readPool, err = pgxpool.NewWithConfig(ctx, rcfg); err != nil {
				return nil, fmt.Errorf("postgres: %w", err)
			}
		}
		if needs.serve || needs.migrate {
			if err := retry(ctx, log, "migrate database", func() error {
				applied, err := migrations.Up(ctx, in.pool)
				for _, a := range applied {
					log.Info("migration applied", "version", a.Version, "name", a.Name, "took", a.Duration)
				}
				in.migrated = append(in.migrated, applied...)
				return err
			}, needs.serve); err != nil {
				return nil, err
			}
		} else if err := migrations.CheckCurrent(ctx, in.pool); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// retry runs fn until it succeeds; with patient false it tries once.
func retry(ctx context.Context, log *slog.Logger, what string, fn func() error, patient bool) error {
	delay := 250 * time.Millisecond
	for {
		err := fn()
		// A stream with more replicas than configured needs an operator:
		// waiting cannot fix it.
		if err == nil || !patient || errors.Is(err, eventstore.ErrReplicasMismatch) {
			return err
		}
		if eventstore.NotReady(err) {
			// A cluster electing its meta or a stream leader, or with too
			// few servers up to place the replicas: it comes back by itself.
			log.Warn("jetstream not ready (no meta leader / stream leader being elected, or too few servers up); retrying",
				"step", what, "err", err, "in", delay)
		} else {
			log.Warn(what+" failed; retrying", "err", err, "in", delay)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// openIdempotency opens the idempotency bucket with the streams' replica
// count, waiting like the streams while the cluster is not ready: a write
// with an Idempotency-Key depends on it as much as on the log.
func openIdempotency(ctx context.Context, cfg Config, in *infra) (*httpapi.Idempotency, error) {
	var idem *httpapi.Idempotency
	err := retry(ctx, in.log, "open idempotency bucket", func() error {
		try, cancel := context.WithTimeout(ctx, jetStreamTryTimeout)
		defer cancel()
		var err error
		idem, err = httpapi.NewIdempotency(try, in.store.JetStream(), cfg.StreamReplicas, 0)
		return err
	}, true)
	return idem, err
}

// jetStreamTryTimeout bounds one try of a start-up step on JetStream: a
// cluster without a meta leader leaves requests unanswered, and a request
// sent on a connection to a server that just died is lost.
const jetStreamTryTimeout = 5 * time.Second

// close releases everything in reverse order of opening.
func (in *infra) close() {
	if in.readPool != nil {
		in.readPool.Close()
	}
	if in.pool != nil {
		in.pool.Close()
	}
	if in.reads != nil {
		in.reads.Close()
	}
	if in.store != nil {
		in.store.Close()
	}
	if in.embedded != nil {
		in.embedded.Shutdown()
	}
	if in.cluster != nil && in.stopCluster {
		if err := in.cluster.Stop(); err != nil {
			in.log.Warn("stop managed postgres", "err", err)
		}
	}
}
