package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/eventstore"
)

// shadowBatch is a run of stream messages on their way to the shadow.
type shadowBatch struct {
	raw    []eventstore.RawEvent
	events []Event
	poison []parkRecord
	last   uint64
	// rows and parked are what applying the batch wrote.
	rows, parked int64
}

// decode turns the batch's messages into events; a message that is not a
// valid envelope is poison, as for the live runner.
func (b *shadowBatch) decode() {
	b.events = make([]Event, 0, len(b.raw))
	for _, ev := range b.raw {
		env, err := eventstore.UnmarshalEnvelope(ev.Data)
		if err != nil {
			b.poison = append(b.poison, parkRecord{seq: ev.Seq, subject: ev.Subject,
				typ: ev.Header.Get(eventstore.HeaderType), items: itemCount(ev.Header), reason: err.Error(), data: ev.Data})
			continue
		}
		b.events = append(b.events, Event{Seq: ev.Seq, Subject: ev.Subject, Time: ev.Time, Header: ev.Header, Envelope: env})
	}
	b.raw = nil
}

// readBatches reads from..to of the projection's stream and hands out
// batches of up to BatchSize messages, not yet decoded (decoding happens in
// the writers, in parallel when there are several).
func (r *Rebuilder) readBatches(ctx context.Context, from, to uint64, out func(*shadowBatch) error) error {
	b := &shadowBatch{raw: make([]eventstore.RawEvent, 0, r.opt.BatchSize)}
	err := r.store.Read(ctx, r.spec.Stream, eventstore.ReadOptions{FromSeq: from, ToSeq: to, Subjects: r.spec.Subjects},
		func(ev eventstore.RawEvent) error {
			b.raw = append(b.raw, ev)
			b.last = ev.Seq
			if len(b.raw) < r.opt.BatchSize {
				return nil
			}
			full := b
			b = &shadowBatch{raw: make([]eventstore.RawEvent, 0, r.opt.BatchSize)}
			return out(full)
		})
	if err != nil {
		return fmt.Errorf("rebuild %s: read %s: %w", r.spec.Name, r.spec.Stream, err)
	}
	if len(b.raw) > 0 {
		return out(b)
	}
	return nil
}

// applyBatch writes b to the shadow inside tx, with the shadow checkpoint.
// A batch that fails permanently is split, and what fails (events, or items
// of an ItemProjection) is parked under the shadow's name, as the live
// runner does.
func (r *Rebuilder) applyBatch(ctx context.Context, tx pgx.Tx, b *shadowBatch) error {
	if b.raw != nil {
		b.decode()
	}
	tx = bulkTx{tx}
	name := ShadowCheckpoint(r.spec.Name)
	var rows int64
	var parked []parkRecord
	if ip, ok := r.proj.(InPlaceProjection); ok {
		var err error
		if rows, parked, err = applyInPlace(ctx, tx, ip, name, b.events, b.poison, applyIsolate, r.skipped); err != nil {
			return err
		}
	} else {
		var bad []parkRecord
		var err error
		if rows, bad, err = applyIsolated(ctx, tx, r.proj, b.events, false); err != nil {
			return err
		}
		parked = append(append([]parkRecord(nil), b.poison...), bad...)
	}
	if err := park(ctx, tx, name, parked); err != nil {
		return err
	}
	if err := saveCheckpoint(ctx, tx, name, r.pos, b.last, int64(len(b.events)+len(b.poison)), rows); err != nil {
		return err
	}
	b.rows, b.parked = rows, countItems(parked)
	return nil
}

// applySavepoint applies events inside a savepoint of tx, so that a failure
// leaves tx usable.
func applySavepoint(ctx context.Context, tx pgx.Tx, p Projection, events []Event) (int64, error) {
	if len(events) == 0 {
		return 0, nil
	}
	var n int64
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) (err error) { // a savepoint
		n, err = p.Apply(ctx, sp, events)
		return err
	})
	return n, err
}

// swap is the one transaction that replaces the live model. It takes the
// projection's lock, which waits for a live batch in progress and holds off
// the next one; brings the shadow up to the live checkpoint; compares; and
// renames the tables and moves the checkpoint to the shadow's position. A
// live batch that starts after the commit writes into the new tables.
func (r *Rebuilder) swap(ctx context.Context, pos *uint64, res *RebuildResult) error {
	events, rows, parked := r.counts()
	committed := false
	defer func() {
		if !committed { // the shadow writes of a rolled-back attempt do not count
			r.mu.Lock()
			r.events, r.rows, r.parked = events, rows, parked
			r.mu.Unlock()
		}
	}()
	r.log.Info("swapping", "shadow_seq", *pos)
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %s: swap: %w", r.spec.Name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL lock_timeout = %d`, r.opt.LockTimeout.Milliseconds())); err != nil {
		return fmt.Errorf("rebuild %s: swap: %w", r.spec.Name, err)
	}
	if err := LockProjection(ctx, tx, r.spec.Name); err != nil {
		return err
	}
	now, err := ReadStreamPosition(ctx, r.store.JetStream(), r.spec.Stream)
	if err != nil {
		return fmt.Errorf("rebuild %s: swap: %w", r.spec.Name, err)
	}
	if !now.created().Equal(r.pos.created()) {
		return fmt.Errorf("rebuild %s: %w: stream %s was created again during the rebuild; run it again", r.spec.Name, ErrStreamMismatch, r.spec.Stream)
	}
	live, err := LoadCheckpoint(ctx, tx, r.spec.Name)
	if err != nil {
		return err
	}
	res.LiveSeq = live.LastSeq
	res.Compared = res.Compared[:0]
	if now.Msgs > 0 {
		res.StreamFirstSeq = now.FirstSeq
	}
	at := *pos
	var total int64
	var me *StreamMismatchError
	if err := live.VerifyStream(now); errors.As(err, &me) {
		// The live model was built from a stream that is gone: there is
		// nothing to compare with, and the shadow replaces it.
		r.log.Warn("the live checkpoint counts in another stream; replacing the live model", "reason", me.Reason)
		res.StreamReplaced = me.Reason
		for _, t := range r.spec.Tables {
			n, err := countRows(ctx, tx, ShadowTable(t.Name))
			if err != nil {
				return err
			}
			total += n
		}
	} else if err := r.catchUpAndCompare(ctx, tx, live, &at, &total, res); err != nil {
		return err
	}
	if r.opt.DryRun {
		*pos = at
		committed = true
		return nil
	}
	for _, t := range r.spec.Tables {
		if err := swapTable(ctx, tx, t); err != nil {
			return err
		}
	}
	if err := r.moveRecords(ctx, tx, at, total, res.StreamReplaced != ""); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("rebuild %s: commit swap: %w", r.spec.Name, err)
	}
	committed = true
	*pos = at
	res.Swapped = true
	for _, t := range r.spec.Tables {
		if _, err := r.pool.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+ident(oldTable(t.Name))); err != nil {
			r.log.Warn("drop the replaced table", "table", oldTable(t.Name), "err", err)
			continue
		}
		if err := renamePartitions(context.WithoutCancel(ctx), r.pool, t.Name); err != nil {
			r.log.Warn("rename the partitions swapped in", "table", t.Name, "err", err)
		}
	}
	return nil
}

// catchUpAndCompare brings the shadow (at *at) up to the live checkpoint in
// tx and compares every table with the live one; total gets the shadow's
// row count.
func (r *Rebuilder) catchUpAndCompare(ctx context.Context, tx pgx.Tx, live Checkpoint, at *uint64, total *int64, res *RebuildResult) error {
	if live.LastSeq > *at {
		r.report("swap", *at, live.LastSeq)
		if err := r.readBatches(ctx, *at+1, live.LastSeq, func(b *shadowBatch) error {
			if err := r.applyBatch(ctx, tx, b); err != nil {
				return err
			}
			r.count(b)
			return nil
		}); err != nil {
			return err
		}
		*at = live.LastSeq
	}
	var mismatch []string
	for _, t := range r.spec.Tables {
		c, n, err := compareTable(ctx, tx, r.pool, t, r.spec.Name, KindOf(r.proj), live.LastSeq, *at > live.LastSeq, res.StreamFirstSeq)
		if err != nil {
			return err
		}
		res.Compared = append(res.Compared, c)
		if !c.Match {
			mismatch = append(mismatch, fmt.Sprintf("%s: %s (live %d rows, checksum %s; shadow %d rows, checksum %s)",
				t.Name, plural(c.DifferingRows, "row differs", "rows differ"), c.LiveRows, c.LiveSum, c.ShadowRows, c.ShadowSum))
		}
		*total += n
	}
	if len(mismatch) > 0 && !r.opt.Force {
		return fmt.Errorf("rebuild %s: %w at #%d: %s", r.spec.Name, ErrMismatch, live.LastSeq, strings.Join(mismatch, "; "))
	}
	return nil
}

// moveRecords makes the shadow's checkpoint and parked events the live ones.
// The live checkpoint's flush statistics (batches, the last flush) stay:
// they tell what the live projector's flushes were (GET /api/logs/stats's
// batches and average batch size), not how the rebuild wrote; a first
// build, with no live checkpoint, starts them with its own.
// Parked records an operator skipped stay skipped, unless the stream was
// replaced (the skips name events of the stream that is gone).
func (r *Rebuilder) moveRecords(ctx context.Context, tx pgx.Tx, at uint64, rows int64, replaced bool) error {
	shadow := ShadowCheckpoint(r.spec.Name)
	var batches int64
	if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT batches FROM projection_checkpoints WHERE name = $1), 0)`, shadow).Scan(&batches); err != nil {
		return fmt.Errorf("rebuild %s: read shadow checkpoint: %w", r.spec.Name, err)
	}
	stmts := []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO projection_checkpoints (name, last_seq, events, rows, batches, last_flush_at, updated_at, stream, stream_created)
			VALUES ($1, $2, $3, $4, $5, now(), now(), $6, $7)
			ON CONFLICT (name) DO UPDATE SET last_seq = EXCLUDED.last_seq, events = EXCLUDED.events,
				rows = EXCLUDED.rows, updated_at = now(),
				stream = EXCLUDED.stream, stream_created = EXCLUDED.stream_created`,
			[]any{r.spec.Name, int64(at), r.events, rows, batches, r.pos.Name, r.pos.created()}},
		{`DELETE FROM projection_checkpoints WHERE name = $1`, []any{shadow}},
		{`DELETE FROM projection_parked WHERE projection = $1`, []any{r.spec.Name}},
		{`DELETE FROM projection_parked p WHERE p.projection = $2 AND EXISTS (SELECT 1 FROM projection_skipped s
			WHERE s.projection = $1 AND s.seq = p.seq AND (s.item = p.item OR s.item = '') AND NOT $3)`, []any{r.spec.Name, shadow, replaced}},
		{`UPDATE projection_parked SET projection = $1 WHERE projection = $2`, []any{r.spec.Name, shadow}},
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
			return fmt.Errorf("rebuild %s: move checkpoint: %w", r.spec.Name, err)
		}
	}
	return nil
}
