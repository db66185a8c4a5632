package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// applyMode is how applyInPlace applies the events it may apply.
type applyMode int

const (
	// applyDirect applies them in one go, in the transaction itself; an
	// error (permanent or not) is returned for the caller to retry.
	applyDirect applyMode = iota
	// applyIsolate applies them in savepoints, splitting a group that fails
	// for good to park only what fails (and what its aggregate holds back).
	applyIsolate
	// applyIsolateFailed is applyIsolate for events already tried together
	// and failed: a group of several is split at once.
	applyIsolateFailed
)

// inPlace applies one batch of an updated-in-place projection: events of an
// aggregate in stream order, never past one of them that is parked.
type inPlace struct {
	proj InPlaceProjection
	// held maps each held aggregate to the parked event it waits behind.
	held map[string]uint64
	// skipped are events an operator skipped (a rebuild leaves them out, as
	// the live model did).
	skipped map[uint64]bool
	parked  []parkRecord
}

// heldAggregates reads the aggregates projection name holds: each with the
// first of its parked events, which the others wait behind. It is read from
// PostgreSQL in the batch's transaction, so a held aggregate stays held
// across restarts and whoever else (a retry) changed the list.
func heldAggregates(ctx context.Context, tx pgx.Tx, name string) (map[string]uint64, error) {
	rows, err := tx.Query(ctx, `SELECT aggregate, min(seq) FROM projection_parked
		WHERE projection = $1 AND aggregate <> '' GROUP BY aggregate`, name)
	if err != nil {
		return nil, fmt.Errorf("held aggregates of %s: %w", name, err)
	}
	held := map[string]uint64{}
	var agg string
	var seq int64
	_, err = pgx.ForEachRow(rows, []any{&agg, &seq}, func() error {
		held[agg] = uint64(seq)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("held aggregates of %s: %w", name, err)
	}
	return held, nil
}

// applyInPlace writes the events of one batch of p inside tx, whose parked
// records are kept under name: the events of an aggregate that is held (it
// has a parked event) are parked behind it, and so are the events that
// follow one that cannot be applied (in applyIsolate modes) or cannot be
// decoded (poison, in stream order with events). It returns the rows
// written and what to park; in applyDirect mode a failure of the events it
// applies is returned as it is.
func applyInPlace(ctx context.Context, tx pgx.Tx, p InPlaceProjection, name string, events []Event, poison []parkRecord,
	mode applyMode, skipped map[uint64]bool) (int64, []parkRecord, error) {
	held, err := heldAggregates(ctx, tx, name)
	if err != nil {
		return 0, nil, err
	}
	a := &inPlace{proj: p, held: held, skipped: skipped}
	ready := a.merge(events, poison)
	var rows int64
	switch mode {
	case applyDirect:
		if len(ready) > 0 {
			if rows, err = p.Apply(ctx, tx, ready); err != nil {
				return 0, nil, fmt.Errorf("apply: %w", err)
			}
		}
	default:
		if rows, err = a.isolate(ctx, tx, ready, mode == applyIsolateFailed); err != nil {
			return 0, nil, err
		}
	}
	return rows, a.parked, nil
}

// merge walks events and poison in stream order: poison holds its
// aggregate, events of held aggregates are parked behind, skipped events
// are left out; it returns the events to apply.
func (a *inPlace) merge(events []Event, poison []parkRecord) []Event {
	ready := make([]Event, 0, len(events))
	i := 0
	for _, ev := range events {
		for ; i < len(poison) && poison[i].seq < ev.Seq; i++ {
			a.parkPoison(poison[i])
		}
		if a.skipped[ev.Seq] {
			continue
		}
		if a.holdBack(ev) {
			continue
		}
		ready = append(ready, ev)
	}
	for ; i < len(poison); i++ {
		a.parkPoison(poison[i])
	}
	return ready
}

// parkPoison parks an event that cannot be decoded, as the cause that holds
// its aggregate or behind the aggregate's cause.
func (a *inPlace) parkPoison(rec parkRecord) {
	if a.skipped[rec.seq] {
		return
	}
	rec.aggregate = a.proj.Aggregate(Event{Seq: rec.seq, Subject: rec.subject})
	if cause, ok := a.held[rec.aggregate]; ok {
		rec.heldBy = cause
	} else {
		a.held[rec.aggregate] = rec.seq
	}
	a.parked = append(a.parked, rec)
}

// holdBack parks ev behind its aggregate's cause when the aggregate is held.
func (a *inPlace) holdBack(ev Event) bool {
	agg := a.proj.Aggregate(ev)
	cause, ok := a.held[agg]
	if !ok {
		return false
	}
	rec := eventRecord(ev, fmt.Errorf("held: waiting for #%d", cause))
	rec.aggregate, rec.heldBy = agg, cause
	a.parked = append(a.parked, rec)
	return true
}

// isolate applies events in savepoints. A group that fails for good is
// split in halves, the earlier half first; an event that fails alone is
// parked and holds its aggregate, and the later events of a held aggregate
// are parked behind it before they are tried. failed says that events were
// already tried together and failed.
func (a *inPlace) isolate(ctx context.Context, tx pgx.Tx, events []Event, failed bool) (int64, error) {
	ready := events[:0:0]
	for _, ev := range events {
		if !a.holdBack(ev) {
			ready = append(ready, ev)
		}
	}
	if len(ready) == 0 {
		return 0, nil
	}
	if !failed || len(ready) == 1 {
		n, err := applySavepoint(ctx, tx, a.proj, ready)
		if err == nil {
			return n, nil
		}
		if !IsPermanent(err) {
			return 0, err
		}
		if len(ready) == 1 {
			ev := ready[0]
			rec := eventRecord(ev, err)
			rec.aggregate = a.proj.Aggregate(ev)
			a.held[rec.aggregate] = ev.Seq
			a.parked = append(a.parked, rec)
			return 0, nil
		}
	}
	mid := len(ready) / 2
	left, err := a.isolate(ctx, tx, ready[:mid], false)
	if err != nil {
		return 0, err
	}
	right, err := a.isolate(ctx, tx, ready[mid:], false)
	if err != nil {
		return 0, err
	}
	return left + right, nil
}

// liveSkips returns the events an operator skipped in the live model of an
// updated-in-place projection, when the live checkpoint counts in the
// stream being read (skips of a stream that is gone name other events).
func (r *Rebuilder) liveSkips(ctx context.Context) (map[uint64]bool, error) {
	if KindOf(r.proj) != KindUpdatedInPlace {
		return nil, nil
	}
	cp, err := LoadCheckpoint(ctx, r.pool, r.spec.Name)
	if err != nil {
		return nil, err
	}
	if cp.VerifyStream(r.pos) != nil {
		return nil, nil
	}
	rows, err := r.pool.Query(ctx, `SELECT seq FROM projection_skipped WHERE projection = $1 AND item = ''`, r.spec.Name)
	if err != nil {
		return nil, fmt.Errorf("rebuild %s: read skipped events: %w", r.spec.Name, err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("rebuild %s: read skipped events: %w", r.spec.Name, err)
	}
	out := make(map[uint64]bool, len(seqs))
	for _, s := range seqs {
		out[uint64(s)] = true
	}
	return out, nil
}
