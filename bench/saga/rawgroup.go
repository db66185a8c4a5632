package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/eventline/eventline/eventstore"
)

// The baselines of issue 27, same run: the raw saga's ten appends through
// the event store's group commit (atomic batches, eventstore.GroupCommit)
// into a stream of their own that allows atomic publish; raw atomic
// batches of rawBatchSize messages (the ceiling of what batching gives on
// this disk); and ten sequential single-row commits per saga on serve's
// managed PostgreSQL with synchronous_commit=on.
const (
	rawGroupStream   = "BENCH_SAGA_GROUP"
	rawGroupSubject  = "benchsagagroup."
	rawBatchStream   = "BENCH_SAGA_BATCH"
	rawBatchSubject  = "benchsagabatch."
	rawBatchSize     = 100
	rawBatchSenders  = 4
	maxPostgresConns = 64
)

// groupSagas appends the raw sagas' events through group commit.
type groupSagas struct {
	store   *eventstore.Store
	payload []byte
}

func newGroupSagas(ctx context.Context, url string, creds eventstore.Credentials, payload []byte) (*groupSagas, error) {
	store, err := eventstore.Connect(ctx, eventstore.Options{URL: url, Credentials: creds, Name: "bench-saga-group",
		FailFast: true, Logger: slog.New(slog.DiscardHandler), GroupCommit: eventstore.GroupCommit{Enabled: true}})
	if err != nil {
		return nil, fmt.Errorf("connect to the embedded nats-server: %w", err)
	}
	if err := store.EnsureStreams(ctx, []eventstore.StreamSpec{
		{Name: rawGroupStream, Subjects: []string{rawGroupSubject + ">"}, Description: "bench/saga group commit baseline",
			MediumBlocks: true, AllowAtomicPublish: true},
		{Name: rawBatchStream, Subjects: []string{rawBatchSubject + ">"}, Description: "bench/saga atomic batch baseline",
			MediumBlocks: true, AllowAtomicPublish: true}}); err != nil {
		store.Close()
		return nil, fmt.Errorf("create the group commit baseline's streams: %w", err)
	}
	// An envelope's data is JSON: the same size, padded.
	data := []byte(`{"pad":"` + strings.Repeat("x", max(len(payload)-10, 0)) + `"}`)
	return &groupSagas{store: store, payload: data}, nil
}

// saga appends raw saga n's ten events one after the other, each with its
// expected subject sequence, as an aggregate would.
func (g *groupSagas) saga(ctx context.Context, _, _ int) (string, error) {
	// A subject of its own: the runs (warm-up, throughput, single) number
	// their sagas from 0 each.
	subject := rawGroupSubject + uuid.NewString()
	var last int64
	for range publishesPerRaw {
		env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: "bench.appended.v1", OccurredAt: time.Now().UTC(),
			Data: g.payload}
		ack, err := g.store.Append(ctx, subject, last, env)
		if err != nil {
			return "", fmt.Errorf("group commit append: %w", err)
		}
		last = int64(ack.Seq)
	}
	return "completed", nil
}

// batches stores atomic batches of rawBatchSize messages from
// rawBatchSenders senders for d and returns messages per second.
func (g *groupSagas) batches(ctx context.Context, d time.Duration) (float64, error) {
	js := g.store.JetStream()
	var n atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for s := range rawBatchSenders {
		wg.Go(func() {
			for k := 0; time.Since(start) < d && ctx.Err() == nil; k++ {
				msgs := make([]*nats.Msg, rawBatchSize)
				for i := range msgs {
					msgs[i] = &nats.Msg{Subject: fmt.Sprintf("%s%d.%d.%d", rawBatchSubject, s, k, i), Data: g.payload,
						Header: nats.Header{}}
				}
				if _, err := jetstreamext.PublishMsgBatch(ctx, js, msgs, jetstreamext.BatchFlowControl{}); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				n.Add(rawBatchSize)
			}
		})
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, fmt.Errorf("atomic batch: %w", err)
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

func (g *groupSagas) close(ctx context.Context) {
	_ = g.store.JetStream().DeleteStream(ctx, rawGroupStream)
	_ = g.store.JetStream().DeleteStream(ctx, rawBatchStream)
	g.store.Close()
}

// pgSagas commits the raw sagas' ten rows on PostgreSQL, one transaction
// each, with synchronous_commit=on: PostgreSQL's own group commit shares a
// WAL flush among the commits that wait together.
type pgSagas struct {
	pool    *pgxpool.Pool
	payload string
}

func newPGSagas(ctx context.Context, url string, inFlight int, payload []byte) (*pgSagas, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(min(inFlight, maxPostgresConns))
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_saga_raw (saga bigint, step int, data text)`); err != nil {
		pool.Close()
		return nil, fmt.Errorf("create the PostgreSQL baseline's table: %w", err)
	}
	return &pgSagas{pool: pool, payload: string(payload)}, nil
}

func (p *pgSagas) saga(ctx context.Context, _, n int) (string, error) {
	for i := range publishesPerRaw {
		if _, err := p.pool.Exec(ctx, `INSERT INTO bench_saga_raw VALUES ($1, $2, $3)`, n, i, p.payload); err != nil {
			return "", fmt.Errorf("postgres commit: %w", err)
		}
	}
	return "completed", nil
}

func (p *pgSagas) close(ctx context.Context) {
	_, _ = p.pool.Exec(ctx, `DROP TABLE IF EXISTS bench_saga_raw`)
	p.pool.Close()
}
