package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
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
	// InPlaceWait is BatchWait for a projection whose rows are updated in
	// place (KindUpdatedInPlace; 5 × BatchWait). Each event of an aggregate
	// rewrites its rows, and one batch writes them once for all the events
	// it holds (the projection groups them), so a batch that waits longer
	// writes each row fewer times: under load a saga's ~10 events come
	// spread over the few hundred milliseconds it runs, and at 50ms its row
	// was written once per event (about 0.5–1 ms of PostgreSQL CPU per saga
	// against 0.2–0.3 ms at 250ms, docs/BENCHMARKS.md). The read model lags
	// by at most this much more; insert-only projections gain nothing from
	// it and keep BatchWait.
	InPlaceWait time.Duration
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
	// MismatchRecheck is how often a runner stopped by a stream mismatch
	// looks again whether the checkpoint fits the stream (after a rebuild)
	// (5s).
	MismatchRecheck time.Duration
}

func (c *Config) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 50 * time.Millisecond
	}
	if c.InPlaceWait <= 0 {
		c.InPlaceWait = 5 * c.BatchWait
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
	if c.MismatchRecheck <= 0 {
		c.MismatchRecheck = 5 * time.Second
	}
}

// Stats are a runner's counters since it started.
type Stats struct {
	Batches       int64
	Events        int64
	Retries       int64
	FailedFlushes int64
	// Parked counts the items (log entries; an event without items counts
	// as one) this runner parked.
	Parked int64
	// LastSeq is the last stream sequence this runner committed.
	LastSeq uint64
	// Active is true while this runner is the one applying events (the
	// others, in other processes, stand by).
	Active bool
	// StreamMismatch, when not empty, says why the runner applies nothing:
	// its checkpoint counts in another stream than the one stored now.
	StreamMismatch string
}

// Runner keeps one projection behind its stream.
type Runner struct {
	proj    Projection
	js      jetstream.JetStream
	pool    *pgxpool.Pool
	cfg     Config
	wait    time.Duration // how long a batch waits to fill (BatchWait or InPlaceWait)
	log     *slog.Logger
	metrics *Metrics

	batches, events, retries, failed, parked atomic.Int64
	lastSeq                                  atomic.Uint64
	active                                   atomic.Bool
	mismatch                                 atomic.Pointer[string]
	// expected is the checkpoint this runner last read or wrote; a batch
	// commits only if the stored checkpoint still equals it (fencing).
	expected uint64
	// pos is the stream incarnation the checkpoint was verified against
	// when consuming started; every commit records it.
	pos StreamPosition
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
	if s, ok := proj.(SpareWriter); ok && KindOf(proj) == KindInsertOnly {
		s.UsePool(pool)
	}
	// Create every series at zero so that dashboards see them from the start.
	for _, c := range []*prometheus.CounterVec{metrics.retries, metrics.failedFlushes, metrics.parked, metrics.applied} {
		c.WithLabelValues(proj.Name())
	}
	metrics.pending.WithLabelValues(proj.Name())
	wait := cfg.BatchWait
	if KindOf(proj) == KindUpdatedInPlace {
		wait = cfg.InPlaceWait
	}
	return &Runner{proj: proj, js: js, pool: pool, cfg: cfg, wait: wait, log: log.With("projection", proj.Name()), metrics: metrics}
}

// ConsumerName is the durable consumer that feeds projection name.
func ConsumerName(name string) string { return "proj_" + name }

// Projection returns the projection the runner feeds.
func (r *Runner) Projection() Projection { return r.proj }

// Stats returns the runner's counters.
func (r *Runner) Stats() Stats {
	st := Stats{Batches: r.batches.Load(), Events: r.events.Load(), Retries: r.retries.Load(),
		FailedFlushes: r.failed.Load(), Parked: r.parked.Load(), LastSeq: r.lastSeq.Load(), Active: r.active.Load()}
	if m := r.mismatch.Load(); m != nil {
		st.StreamMismatch = *m
	}
	return st
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
	delays := &backoff.ExponentialBackOff{InitialInterval: r.cfg.MinBackoff, Multiplier: 2, MaxInterval: r.cfg.MaxBackoff}
	for ctx.Err() == nil {
		release, err := r.lead(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d := delays.NextBackOff()
				r.log.Warn("projection cannot reach PostgreSQL to take the lead; retrying", "err", err, "in", d)
				sleep(ctx, d)
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
		if errors.Is(err, ErrStreamMismatch) {
			// Never apply past what the checkpoint covers in another
			// stream: wait for an operator's rebuild, and look again.
			sleep(ctx, r.cfg.MismatchRecheck)
			continue
		}
		d := delays.NextBackOff()
		r.log.Warn("projection consumer interrupted; retrying", "err", err, "in", d)
		sleep(ctx, d)
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
	cp, err := r.verifiedCheckpoint(ctx)
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
	go r.watch(wctx, cons, it, r.pos)
	err = r.pipeline(ctx, it)
	if m := r.mismatch.Load(); m != nil && ctx.Err() == nil {
		return &StreamMismatchError{Stream: r.pos.Name, Reason: *m}
	}
	return err
}

// verifiedCheckpoint loads the checkpoint and checks that it counts in the
// stream as it is now. On a mismatch it records why (Stats.StreamMismatch)
// and returns an error wrapping ErrStreamMismatch. A checkpoint written
// before identities were recorded adopts the stream's identity when its
// sequence fits the stream.
func (r *Runner) verifiedCheckpoint(ctx context.Context) (Checkpoint, error) {
	cp, err := LoadCheckpoint(ctx, r.pool, r.cfg.CheckpointName)
	if err != nil {
		return cp, err
	}
	pos, err := ReadStreamPosition(ctx, r.js, r.proj.Stream())
	if err != nil {
		return cp, err
	}
	if err := cp.VerifyStream(pos); err != nil {
		var me *StreamMismatchError
		reason := err.Error()
		if errors.As(err, &me) {
			reason = me.Reason
		}
		if old := r.mismatch.Swap(&reason); old == nil || *old != reason {
			r.log.Error("projection stopped: its checkpoint does not fit the stream; applying nothing until it is rebuilt",
				"stream", pos.Name, "checkpoint", cp.LastSeq, "stream_first", pos.FirstSeq, "stream_last", pos.LastSeq, "reason", reason)
		}
		return cp, err
	}
	if r.mismatch.Swap(nil) != nil {
		r.log.Info("projection checkpoint fits the stream again; resuming", "checkpoint", cp.LastSeq)
	}
	if !cp.HasStream() && cp.LastSeq > 0 {
		created := pos.created()
		if _, err := r.pool.Exec(ctx, `UPDATE projection_checkpoints SET stream = $2, stream_created = $3
			WHERE name = $1 AND last_seq = $4 AND stream_created IS NULL`, r.cfg.CheckpointName, pos.Name, created, int64(cp.LastSeq)); err != nil {
			return cp, fmt.Errorf("record the stream of checkpoint %s: %w", r.cfg.CheckpointName, err)
		}
		r.log.Info("checkpoint adopts the stream's identity", "stream", pos.Name, "created", created, "checkpoint", cp.LastSeq)
	}
	r.pos = pos
	return cp, nil
}

// watch publishes the consumer's backlog as a gauge and checks that the
// stream is still want, the one the checkpoint counts in: a stream deleted and
// created again under a running projector stops it (the iterator is
// stopped; consume then reports the mismatch).
func (r *Runner) watch(ctx context.Context, cons jetstream.Consumer, it jetstream.MessagesContext, want StreamPosition) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ictx, cancel := context.WithTimeout(ctx, time.Second)
			info, err := cons.Info(ictx)
			if err == nil {
				r.metrics.pending.WithLabelValues(r.proj.Name()).Set(float64(info.NumPending + uint64(info.NumAckPending)))
			}
			pos, err := ReadStreamPosition(ictx, r.js, r.proj.Stream())
			cancel()
			if err == nil && !pos.created().Equal(want.created()) {
				reason := fmt.Sprintf("stream %s was created again at %s while the projection ran", pos.Name, pos.created().Format(time.RFC3339Nano))
				r.mismatch.Store(&reason)
				r.log.Error("projection stopped: its stream was created again", "stream", pos.Name)
				it.Stop()
				return
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
