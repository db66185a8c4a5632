package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventline/eventline/eventstore"
)

// Config tunes a Runner.
type Config struct {
	// BatchSize is the most events committed in one transaction (1000).
	BatchSize int
	// BatchWait is how long a batch waits to fill up (50ms).
	BatchWait time.Duration
	// BatchBytes closes a batch once its messages hold this many bytes
	// (4 MiB): one event may carry many rows.
	BatchBytes int
	// PullBytes bounds the bytes pulled ahead of the batch in hand (16 MiB),
	// so that large events cannot overflow the client's buffer. It is
	// raised to the server's maximum message size when that is larger: an
	// event bigger than the bound could never be delivered.
	PullBytes int
	// MinBackoff and MaxBackoff bound the retry delay while PostgreSQL
	// fails (100ms, 5s).
	MinBackoff, MaxBackoff time.Duration
	// ShutdownGrace bounds how long the in-flight batch may take to commit
	// after shutdown starts (10s).
	ShutdownGrace time.Duration
	// ConsumerName overrides the durable consumer's name ("proj_" + name).
	ConsumerName string
	// CheckpointName overrides the checkpoint's name (the projection's name).
	CheckpointName string
}

func (c *Config) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 50 * time.Millisecond
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 4 << 20
	}
	if c.PullBytes <= 0 {
		c.PullBytes = 16 << 20
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 10 * time.Second
	}
}

// Stats are a runner's counters since it started.
type Stats struct {
	Batches       int64
	Events        int64
	Retries       int64
	FailedFlushes int64
	Parked        int64
	// LastSeq is the last stream sequence this runner committed.
	LastSeq uint64
	// Active is true while this runner is the one applying events (the
	// others, in other processes, stand by).
	Active bool
}

// Runner keeps one projection behind its stream.
type Runner struct {
	proj    Projection
	js      jetstream.JetStream
	pool    *pgxpool.Pool
	cfg     Config
	log     *slog.Logger
	metrics *Metrics

	batches, events, retries, failed, parked atomic.Int64
	lastSeq                                  atomic.Uint64
	active                                   atomic.Bool
	// expected is the checkpoint this runner last read or wrote; a batch
	// commits only if the stored checkpoint still equals it (fencing).
	expected uint64
}

// errFenced reports that the stored checkpoint moved under the runner (a
// rebuild swapped the model, or another process wrote): it must resume from
// the stored checkpoint.
var errFenced = errors.New("checkpoint moved by another writer")

// errGap reports a hole in the consumer's delivery sequence: the client
// dropped a message (e.g. as a slow consumer). The batch before the hole is
// committed; the runner then resumes from the checkpoint, never past the hole.
var errGap = errors.New("delivery gap")

// NewRunner returns a runner for proj reading through js and writing to pool.
func NewRunner(proj Projection, js jetstream.JetStream, pool *pgxpool.Pool, cfg Config, metrics *Metrics, log *slog.Logger) *Runner {
	cfg.defaults()
	if cfg.ConsumerName == "" {
		cfg.ConsumerName = ConsumerName(proj.Name())
	}
	if cfg.CheckpointName == "" {
		cfg.CheckpointName = proj.Name()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	if log == nil {
		log = slog.Default()
	}
	// Create every series at zero so that dashboards see them from the start.
	for _, c := range []*prometheus.CounterVec{metrics.retries, metrics.failedFlushes, metrics.parked, metrics.applied} {
		c.WithLabelValues(proj.Name())
	}
	metrics.pending.WithLabelValues(proj.Name())
	return &Runner{proj: proj, js: js, pool: pool, cfg: cfg, log: log.With("projection", proj.Name()), metrics: metrics}
}

// ConsumerName is the durable consumer that feeds projection name.
func ConsumerName(name string) string { return "proj_" + name }

// Projection returns the projection the runner feeds.
func (r *Runner) Projection() Projection { return r.proj }

// Stats returns the runner's counters.
func (r *Runner) Stats() Stats {
	return Stats{Batches: r.batches.Load(), Events: r.events.Load(), Retries: r.retries.Load(),
		FailedFlushes: r.failed.Load(), Parked: r.parked.Load(), LastSeq: r.lastSeq.Load(), Active: r.active.Load()}
}

// consumerConfig is a durable pull consumer that starts at the stream's
// first event; the checkpoint in PostgreSQL is what makes replays harmless.
func (r *Runner) consumerConfig() jetstream.ConsumerConfig {
	cc := jetstream.ConsumerConfig{
		Durable:       r.cfg.ConsumerName,
		Description:   "projection " + r.proj.Name(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       60 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: r.cfg.BatchSize * 4,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if subs := r.proj.Subjects(); len(subs) == 1 {
		cc.FilterSubject = subs[0]
	} else if len(subs) > 1 {
		cc.FilterSubjects = subs
	}
	return cc
}

// Run keeps the projection up to date until ctx ends, then commits the batch
// in hand within Config.ShutdownGrace and returns nil. Of all the runners of
// one projection (one per process), one at a time is active: it holds a
// PostgreSQL session lock; the others stand by and take over when it goes.
func (r *Runner) Run(ctx context.Context) error {
	backoff := r.cfg.MinBackoff
	for ctx.Err() == nil {
		release, err := r.lead(ctx)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("projection cannot reach PostgreSQL to take the lead; retrying", "err", err, "in", backoff)
				sleep(ctx, backoff)
				backoff = min(backoff*2, r.cfg.MaxBackoff)
			}
			continue
		}
		r.active.Store(true)
		err = r.consume(ctx)
		r.active.Store(false)
		release()
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, errFenced) || errors.Is(err, errGap) {
			r.log.Info("projection resuming from its checkpoint", "reason", err)
			continue
		}
		r.log.Warn("projection consumer interrupted; retrying", "err", err, "in", backoff)
		sleep(ctx, backoff)
		backoff = min(backoff*2, r.cfg.MaxBackoff)
	}
	return nil
}

// lead blocks until this runner holds the projection's leader lock, a
// session-level advisory lock on a connection of its own; release closes
// that connection, which frees the lock (as a crash does).
func (r *Runner) lead(ctx context.Context) (release func(), err error) {
	key := "eventline.projection.leader." + r.cfg.CheckpointName
	standby := false
	for {
		conn, err := pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
		if err != nil {
			return nil, fmt.Errorf("leader connection: %w", err)
		}
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, key).Scan(&ok); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("leader lock: %w", err)
		}
		if ok {
			if standby {
				r.log.Info("projection taking over")
			}
			return func() { conn.Close(context.Background()) }, nil
		}
		conn.Close(ctx)
		if !standby {
			r.log.Info("projection standing by: another process runs it")
			standby = true
		}
		sleep(ctx, 2*time.Second)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

func (r *Runner) consume(ctx context.Context) error {
	cp, err := LoadCheckpoint(ctx, r.pool, r.cfg.CheckpointName)
	if err != nil {
		return err
	}
	r.expected = cp.LastSeq
	cons, err := r.js.CreateOrUpdateConsumer(ctx, r.proj.Stream(), r.consumerConfig())
	if err != nil {
		return fmt.Errorf("create consumer %s: %w", r.cfg.ConsumerName, err)
	}
	// Resume exactly after the checkpoint: messages delivered to an earlier
	// run (one that crashed before acknowledging) come again now, not after
	// their ack wait, so the checkpoint always covers a gap-free prefix.
	if _, err := r.js.ResetConsumerToSequence(ctx, r.proj.Stream(), r.cfg.ConsumerName, cp.LastSeq+1); err != nil {
		return fmt.Errorf("reset consumer %s to #%d: %w", r.cfg.ConsumerName, cp.LastSeq+1, err)
	}
	pullBytes := eventstore.PullByteLimit(r.js.Conn(), r.cfg.PullBytes)
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(r.cfg.BatchSize*2, pullBytes), jetstream.PullExpiry(5*time.Second))
	if err != nil {
		return fmt.Errorf("consume %s: %w", r.cfg.ConsumerName, err)
	}
	defer it.Stop()
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go r.watchPending(wctx, cons)
	return r.pipeline(ctx, it)
}

// watchPending publishes the consumer's backlog as a gauge.
func (r *Runner) watchPending(ctx context.Context, cons jetstream.Consumer) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ictx, cancel := context.WithTimeout(ctx, time.Second)
			info, err := cons.Info(ictx)
			cancel()
			if err == nil {
				r.metrics.pending.WithLabelValues(r.proj.Name()).Set(float64(info.NumPending + uint64(info.NumAckPending)))
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
