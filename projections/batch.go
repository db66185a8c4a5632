package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/eventstore"
)

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

// parsedMsg is a message whose metadata (parsed from its reply subject)
// is parsed once: the runner reads it at every stage of a batch.
type parsedMsg struct {
	jetstream.Msg
	md  *jetstream.MsgMetadata
	err error
}

func parsed(m jetstream.Msg) jetstream.Msg {
	md, err := m.Metadata()
	return &parsedMsg{Msg: m, md: md, err: err}
}

// Metadata implements jetstream.Msg.
func (m *parsedMsg) Metadata() (*jetstream.MsgMetadata, error) { return m.md, m.err }

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
// the first one, then at most BatchWait (InPlaceWait for a projection
// updated in place) for the rest. It stops before a gap
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
		msg = parsed(msg)
		inOrder, err := nextInOrder(msg, lastDelivery)
		if err != nil {
			return batch, err
		}
		if !inOrder {
			r.log.Warn("message missing from the delivery sequence; resuming from the checkpoint")
			return batch, errGap
		}
		if len(batch) == 0 {
			deadline = time.Now().Add(r.wait)
		}
		batch = append(batch, msg)
		size += len(msg.Data())
	}
	return batch, nil
}

// commit writes batch and its checkpoint in one transaction, retrying
// transient failures with capped exponential backoff until it succeeds or
// runCtx (the runner's life) ends, and acknowledges the messages only after
// the commit. A permanent failure makes it split the batch and park only
// the events, or the items of an ItemProjection, that fail.
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
	delays := &backoff.ExponentialBackOff{InitialInterval: r.cfg.MinBackoff, Multiplier: 2, MaxInterval: r.cfg.MaxBackoff}
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
				r.parked.Add(parked)
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
			r.log.Warn("batch failed permanently; splitting it to park only what fails", "err", err)
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
		d := delays.NextBackOff()
		r.log.Warn("batch commit failed; retrying", "err", err, "attempt", attempt+1, "in", d)
		for _, m := range msgs {
			_ = m.InProgress()
		}
		sleep(runCtx, d)
	}
}

// tryCommit writes one batch and its checkpoint in a transaction and
// returns the rows written and the items parked. In isolate mode (the batch
// failed for good before) it bisects the batch to park only what fails.
func (r *Runner) tryCommit(ctx context.Context, events []Event, poison []parkRecord, last uint64, isolate bool) (int64, int64, error) {
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
	var created *time.Time
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(last_seq), 0), max(stream_created) FROM projection_checkpoints WHERE name = $1`,
		r.cfg.CheckpointName).Scan(&stored, &created); err != nil {
		return 0, 0, fmt.Errorf("read checkpoint: %w", err)
	}
	if uint64(stored) != r.expected {
		return 0, 0, fmt.Errorf("%w: expected #%d, stored #%d", errFenced, r.expected, stored)
	}
	if created != nil && !created.Equal(r.pos.created()) {
		return 0, 0, fmt.Errorf("%w: the checkpoint now counts in another incarnation of stream %s", errFenced, r.pos.Name)
	}
	var rows int64
	parked := append([]parkRecord(nil), poison...)
	if ip, ok := r.proj.(InPlaceProjection); ok {
		mode := applyDirect
		if isolate {
			mode = applyIsolateFailed
		}
		var err error
		if rows, parked, err = applyInPlace(ctx, tx, ip, r.cfg.CheckpointName, events, poison, mode, nil); err != nil {
			return 0, 0, err
		}
		r.logParked(parked)
	} else if isolate {
		n, bad, err := applyIsolated(ctx, tx, r.proj, events, true)
		if err != nil {
			return 0, 0, err
		}
		for _, p := range bad {
			r.log.Error("parking what cannot be applied", "seq", p.seq, "item", p.item, "type", p.typ, "err", p.reason)
		}
		rows, parked = n, append(parked, bad...)
	} else if len(events) > 0 {
		var err error
		if rows, err = r.proj.Apply(ctx, tx, events); err != nil {
			return 0, 0, fmt.Errorf("apply: %w", err)
		}
	}
	if err := park(ctx, tx, r.cfg.CheckpointName, parked); err != nil {
		return 0, 0, err
	}
	if err := saveCheckpoint(ctx, tx, r.cfg.CheckpointName, r.pos, last, int64(len(events)+len(poison)), rows); err != nil {
		return 0, 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("commit: %w", err)
	}
	return rows, countItems(parked), nil
}

// logParked logs what an updated-in-place projection parks: the causes as
// errors, the events held behind them in one line per aggregate.
func (r *Runner) logParked(parked []parkRecord) {
	held := map[string]int{}
	for _, p := range parked {
		if p.heldBy == 0 {
			r.log.Error("parking what cannot be applied; holding its aggregate", "seq", p.seq, "aggregate", p.aggregate, "type", p.typ, "err", p.reason)
			continue
		}
		held[p.aggregate]++
	}
	for agg, n := range held {
		r.log.Warn("parking events of a held aggregate behind its parked event", "aggregate", agg, "events", n)
	}
}

// decodeBatch turns messages into events; a message that is not a valid
// envelope is poison from the start. The envelopes are sliced out of the
// messages by eventstore.UnmarshalEnvelope (not copied): an event's payload stays the message's
// bytes, which the batch holds until it is acknowledged anyway, so a 16 MiB
// batch event costs one copy in the projector instead of two.
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
				typ: m.Headers().Get(eventstore.HeaderType), items: itemCount(m.Headers()), reason: err.Error(), data: m.Data()})
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
