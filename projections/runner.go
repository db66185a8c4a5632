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
	"github.com/nats-io/nats.go"
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
	// so that large events cannot overflow the client's buffer.
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
	it, err := cons.Messages(jetstream.PullMaxMessagesWithBytesLimit(r.cfg.BatchSize*2, r.cfg.PullBytes), jetstream.PullExpiry(5*time.Second))
	if err != nil {
		return fmt.Errorf("consume %s: %w", r.cfg.ConsumerName, err)
	}
	defer it.Stop()
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go r.watchPending(wctx, cons)
	return r.pipeline(ctx, it)
}

// pipeline collects the next batch while the previous one commits, so that
// reading from JetStream overlaps with writing to PostgreSQL. Batches still
// commit one at a time, in order.
func (r *Runner) pipeline(ctx context.Context, it jetstream.MessagesContext) error {
	collectCtx, stopCollect := context.WithCancel(ctx)
	defer stopCollect()
	batches := make(chan []jetstream.Msg, 1)
	committed := make(chan error, 1)
	go func() {
		for batch := range batches {
			if err := r.commitInHand(ctx, batch); err != nil {
				stopCollect()
				for range batches { // unacknowledged: redelivered after the reset
				}
				committed <- err
				return
			}
		}
		committed <- nil
	}()
	var lastDelivery uint64
	for {
		batch, err := r.collect(collectCtx, it, &lastDelivery)
		if len(batch) > 0 {
			batches <- batch
		}
		if err != nil || collectCtx.Err() != nil {
			// Collection ends: on shutdown, on a gap, or because a commit
			// failed (which stopped it). The commit's error comes first.
			close(batches)
			if cerr := <-committed; cerr != nil {
				return cerr
			}
			if err == nil {
				err = ctx.Err()
			}
			return err
		}
	}
}

// commitInHand commits a batch that has been taken from the stream; once
// shutdown begins it still gets ShutdownGrace to finish.
func (r *Runner) commitInHand(ctx context.Context, batch []jetstream.Msg) error {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(r.cfg.ShutdownGrace, cancel) })
	defer stop()
	return r.commit(cctx, ctx, batch)
}

// nextInOrder reports whether msg directly follows the previous delivery; a jump in
// the consumer sequence means a message never reached us.
func nextInOrder(msg jetstream.Msg, lastDelivery *uint64) (bool, error) {
	md, err := msg.Metadata()
	if err != nil {
		return false, fmt.Errorf("message metadata: %w", err)
	}
	prev := *lastDelivery
	*lastDelivery = md.Sequence.Consumer
	return prev == 0 || md.Sequence.Consumer == prev+1, nil
}

// collect gathers up to BatchSize messages (or BatchBytes): it waits for
// the first one, then at most BatchWait for the rest. It stops before a gap
// in the delivery sequence and returns errGap with the messages before it.
func (r *Runner) collect(ctx context.Context, it jetstream.MessagesContext, lastDelivery *uint64) ([]jetstream.Msg, error) {
	var batch []jetstream.Msg
	var deadline time.Time
	size := 0
	for len(batch) < r.cfg.BatchSize && size < r.cfg.BatchBytes {
		var opt jetstream.NextOpt
		if len(batch) == 0 {
			opt = jetstream.NextContext(ctx)
		} else {
			left := time.Until(deadline)
			if left <= 0 || ctx.Err() != nil {
				return batch, nil
			}
			opt = jetstream.NextMaxWait(left)
		}
		msg, err := it.Next(opt)
		if err != nil {
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				if len(batch) > 0 {
					return batch, nil
				}
				continue
			}
			if errors.Is(err, context.Canceled) && ctx.Err() != nil {
				return batch, nil
			}
			return batch, fmt.Errorf("next message: %w", err)
		}
		inOrder, err := nextInOrder(msg, lastDelivery)
		if err != nil {
			return batch, err
		}
		if !inOrder {
			r.log.Warn("message missing from the delivery sequence; resuming from the checkpoint")
			return batch, errGap
		}
		if len(batch) == 0 {
			deadline = time.Now().Add(r.cfg.BatchWait)
		}
		batch = append(batch, msg)
		size += len(msg.Data())
	}
	return batch, nil
}

// commit writes batch and its checkpoint in one transaction, retrying
// transient failures with capped exponential backoff until it succeeds or
// runCtx (the runner's life) ends, and acknowledges the messages only after
// the commit. A permanent failure makes it apply the events one by one and
// park those that fail.
func (r *Runner) commit(ctx, runCtx context.Context, msgs []jetstream.Msg) error {
	// Redeliveries of what the checkpoint already covers are acknowledged
	// without applying them again.
	fresh := msgs[:0:0]
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil && md.Sequence.Stream <= r.expected {
			_ = m.Ack()
			continue
		}
		fresh = append(fresh, m)
	}
	if len(fresh) == 0 {
		return nil
	}
	msgs = fresh
	events, poison := decodeBatch(msgs)
	last := lastSeq(msgs)
	backoff := r.cfg.MinBackoff
	isolate := false
	for attempt := 0; ; attempt++ {
		start := time.Now()
		rows, parked, err := r.tryCommit(ctx, events, poison, last, isolate)
		if err == nil {
			r.metrics.flushSeconds.WithLabelValues(r.proj.Name()).Observe(time.Since(start).Seconds())
			r.metrics.batchSize.WithLabelValues(r.proj.Name()).Observe(float64(len(msgs)))
			r.metrics.applied.WithLabelValues(r.proj.Name()).Add(float64(len(msgs)))
			r.batches.Add(1)
			r.events.Add(int64(len(msgs)))
			r.lastSeq.Store(max(r.lastSeq.Load(), last))
			r.expected = last
			if parked > 0 {
				r.parked.Add(int64(parked))
				r.metrics.parked.WithLabelValues(r.proj.Name()).Add(float64(parked))
			}
			for _, m := range msgs {
				_ = m.Ack() // a lost ack only causes a harmless redelivery
			}
			_ = rows
			return nil
		}
		if errors.Is(err, errFenced) {
			return err // unacknowledged: delivered again after the reset
		}
		r.failed.Add(1)
		r.metrics.failedFlushes.WithLabelValues(r.proj.Name()).Inc()
		if IsPermanent(err) && !isolate {
			r.log.Warn("batch failed permanently; applying events one by one to park the poison", "err", err)
			isolate = true
			continue
		}
		if runCtx.Err() != nil || ctx.Err() != nil {
			// Shutting down: leave the messages unacknowledged; they are
			// redelivered to whoever runs next.
			return fmt.Errorf("commit abandoned at shutdown: %w", err)
		}
		r.retries.Add(1)
		r.metrics.retries.WithLabelValues(r.proj.Name()).Inc()
		r.log.Warn("batch commit failed; retrying", "err", err, "attempt", attempt+1, "in", backoff)
		for _, m := range msgs {
			_ = m.InProgress()
		}
		sleep(runCtx, backoff)
		backoff = min(backoff*2, r.cfg.MaxBackoff)
	}
}

func (r *Runner) tryCommit(ctx context.Context, events []Event, poison []parkRecord, last uint64, isolate bool) (int64, int, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Serialise with every other writer of this projection (another process,
	// or a rebuild swapping tables) before touching its tables.
	if err := LockProjection(ctx, tx, r.proj.Name()); err != nil {
		return 0, 0, err
	}
	var stored int64
	if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT last_seq FROM projection_checkpoints WHERE name = $1), 0)`,
		r.cfg.CheckpointName).Scan(&stored); err != nil {
		return 0, 0, fmt.Errorf("read checkpoint: %w", err)
	}
	if uint64(stored) != r.expected {
		return 0, 0, fmt.Errorf("%w: expected #%d, stored #%d", errFenced, r.expected, stored)
	}
	var rows int64
	parked := append([]parkRecord(nil), poison...)
	if isolate {
		for _, ev := range events {
			n, err := applySavepoint(ctx, tx, r.proj, []Event{ev})
			if err != nil {
				if !IsPermanent(err) {
					return 0, 0, err
				}
				r.log.Error("parking poison event", "seq", ev.Seq, "type", ev.Envelope.Type, "err", err)
				data, _ := ev.Envelope.Marshal()
				parked = append(parked, parkRecord{seq: ev.Seq, subject: ev.Subject, typ: ev.Envelope.Type, reason: err.Error(), data: data})
				continue
			}
			rows += n
		}
	} else if len(events) > 0 {
		if rows, err = r.proj.Apply(ctx, tx, events); err != nil {
			return 0, 0, fmt.Errorf("apply: %w", err)
		}
	}
	if err := park(ctx, tx, r.cfg.CheckpointName, parked); err != nil {
		return 0, 0, err
	}
	if err := saveCheckpoint(ctx, tx, r.cfg.CheckpointName, last, int64(len(events)+len(poison)), rows); err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("commit: %w", err)
	}
	return rows, len(parked), nil
}

// decodeBatch turns messages into events; a message that is not a valid
// envelope is poison from the start.
func decodeBatch(msgs []jetstream.Msg) ([]Event, []parkRecord) {
	events := make([]Event, 0, len(msgs))
	var poison []parkRecord
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		env, err := eventstore.UnmarshalEnvelope(m.Data())
		if err != nil {
			poison = append(poison, parkRecord{seq: md.Sequence.Stream, subject: m.Subject(),
				typ: m.Headers().Get(eventstore.HeaderType), reason: err.Error(), data: m.Data()})
			continue
		}
		events = append(events, Event{Seq: md.Sequence.Stream, Subject: m.Subject(), Time: md.Timestamp, Header: m.Headers(), Envelope: env})
	}
	return events, poison
}

func lastSeq(msgs []jetstream.Msg) uint64 {
	var last uint64
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil && md.Sequence.Stream > last {
			last = md.Sequence.Stream
		}
	}
	return last
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
