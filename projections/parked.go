package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/eventstore"
)

// ErrNotParked reports that the event or item to skip is not parked.
var ErrNotParked = errors.New("no such parked event")

// ListParked returns the events and items projection name has parked,
// oldest first.
func ListParked(ctx context.Context, pool *pgxpool.Pool, name string) ([]Parked, error) {
	rows, err := pool.Query(ctx, `SELECT `+parkedColumns+`
		FROM projection_parked WHERE projection = $1 ORDER BY seq, item`, name)
	if err != nil {
		return nil, fmt.Errorf("list parked %s: %w", name, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Parked, error) {
		return scanParked(r)
	})
	if err != nil {
		return nil, fmt.Errorf("list parked %s: %w", name, err)
	}
	return out, nil
}

// parkedColumns are the columns scanParked reads.
const parkedColumns = `projection, seq, item, items, subject, event_type, error, parked_at, aggregate, held_by`

// scanParked reads a row of parkedColumns.
func scanParked(r pgx.Row) (Parked, error) {
	var p Parked
	var seq, heldBy int64
	err := r.Scan(&p.Projection, &seq, &p.Item, &p.Items, &p.Subject, &p.EventType, &p.Error, &p.ParkedAt, &p.Aggregate, &heldBy)
	p.Seq, p.HeldBy = uint64(seq), uint64(heldBy)
	return p, err
}

// Skipped is the record of a parked event or item an operator dropped.
type Skipped struct {
	Parked
	SkippedBy string    `json:"skipped_by"`
	Reason    string    `json:"reason"`
	SkippedAt time.Time `json:"skipped_at"`
}

// RetryResult is what a retry of parked events did.
type RetryResult struct {
	Projection string `json:"projection"`
	// Retried counts the parked records (events or items) tried again;
	// Applied those that now applied and left the parked list.
	Retried int   `json:"retried"`
	Applied int   `json:"applied"`
	Rows    int64 `json:"rows"`
	// StillParked are the records that failed again, with their new error
	// (a whole event of an ItemProjection that fails again is split: only
	// its failing items stay parked).
	StillParked []Parked `json:"still_parked"`
}

// Retrier re-applies the parked events of one projection to its live tables.
type Retrier struct {
	store *eventstore.Store
	pool  *pgxpool.Pool
	spec  Spec
	proj  Projection
}

// NewRetrier returns a retrier for spec's live projection.
func NewRetrier(store *eventstore.Store, pool *pgxpool.Pool, spec Spec) *Retrier {
	return &Retrier{store: store, pool: pool, spec: spec, proj: spec.Live()}
}

// Retry applies every parked event and item again, reading its event from
// the stream (the source of truth), each in a transaction that holds the
// projection's lock. What applies leaves the parked list and its rows are
// counted in the checkpoint; what fails again stays, with the new error.
// For an updated-in-place projection the parked events of each aggregate
// are applied in stream order, stopping at the first that still fails: it
// becomes the one the others wait behind.
func (r *Retrier) Retry(ctx context.Context) (RetryResult, error) {
	res := RetryResult{Projection: r.spec.Name, StillParked: []Parked{}}
	parked, err := ListParked(ctx, r.pool, r.spec.Name)
	if err != nil {
		return res, err
	}
	if _, ok := r.proj.(InPlaceProjection); ok {
		var rest []Parked
		if rest, err = r.retryAggregates(ctx, parked, &res); err != nil {
			return res, err
		}
		parked = rest
	}
	var cache cachedEvent
	for _, p := range parked {
		res.Retried++
		ev, readErr, err := cache.get(ctx, r, p.Seq)
		if err != nil {
			return res, err
		}
		n, still, err := r.retryOne(ctx, p, ev, readErr)
		if err != nil {
			return res, err
		}
		res.Rows += n
		if len(still) > 0 {
			res.StillParked = append(res.StillParked, still...)
			continue
		}
		res.Applied++
	}
	return res, nil
}

// cachedEvent keeps the last event read, for the items of one event.
type cachedEvent struct {
	seq     uint64
	ev      Event
	readErr error
}

func (c *cachedEvent) get(ctx context.Context, r *Retrier, seq uint64) (Event, error, error) {
	if c.seq == seq && seq != 0 {
		return c.ev, c.readErr, nil
	}
	ev, readErr, err := r.event(ctx, seq)
	if err != nil {
		return ev, nil, err
	}
	c.seq, c.ev, c.readErr = seq, ev, readErr
	return ev, readErr, nil
}

// retryOne applies the parked record p (of event ev, or readErr when the
// event cannot be read) and returns the rows written and the records still
// parked, or an error that stops the retry (PostgreSQL unreachable).
func (r *Retrier) retryOne(ctx context.Context, p Parked, ev Event, readErr error) (int64, []Parked, error) {
	var rows int64
	var still []parkRecord
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		rows, still = 0, nil
		if err := LockProjection(ctx, tx, r.spec.Name); err != nil {
			return err
		}
		var err error
		switch {
		case readErr != nil:
			still = []parkRecord{{seq: p.Seq, item: p.Item, reason: readErr.Error()}}
		case p.Item == "":
			rows, still, err = applyIsolated(ctx, tx, r.proj, []Event{ev}, false)
		default:
			rows, still, err = r.retryItem(ctx, tx, ev, p.Item)
		}
		if err != nil {
			return err
		}
		if len(still) == 1 && still[0].item == p.Item {
			_, err := tx.Exec(ctx, `UPDATE projection_parked SET error = $4 WHERE projection = $1 AND seq = $2 AND item = $3`,
				r.spec.Name, int64(p.Seq), p.Item, still[0].reason)
			return err
		}
		// Applied, or a whole event now split: only its failing items stay.
		if _, err := tx.Exec(ctx, `DELETE FROM projection_parked WHERE projection = $1 AND seq = $2 AND item = $3`,
			r.spec.Name, int64(p.Seq), p.Item); err != nil {
			return err
		}
		if err := park(ctx, tx, r.spec.Name, still); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE projection_checkpoints SET rows = rows + $2, updated_at = now() WHERE name = $1`, r.spec.Name, rows)
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("retry %s #%d %s: %w", r.spec.Name, p.Seq, p.Item, err)
	}
	out := make([]Parked, 0, len(still))
	for _, s := range still {
		q := p
		q.Item, q.Error = s.item, s.reason
		if s.item != p.Item {
			q.Items = 1
		}
		out = append(out, q)
	}
	return rows, out, nil
}

// retryItem applies the item id of ev; the item stays parked when it fails
// again or when the projection can no longer apply items apart.
func (r *Retrier) retryItem(ctx context.Context, tx pgx.Tx, ev Event, id string) (int64, []parkRecord, error) {
	ip, ok := r.proj.(ItemProjection)
	if !ok {
		return 0, []parkRecord{{seq: ev.Seq, item: id, reason: fmt.Sprintf("projection %s cannot apply items apart", r.spec.Name)}}, nil
	}
	n, bad, err := ip.ApplyItems(ctx, tx, ev, []string{id})
	if err != nil {
		if !IsPermanent(err) {
			return 0, nil, err
		}
		return 0, []parkRecord{{seq: ev.Seq, item: id, reason: err.Error()}}, nil
	}
	if len(bad) > 0 {
		return 0, itemRecords(ev, bad), nil
	}
	return n, nil, nil
}

// event reads seq from the stream; a message that is gone or not a valid
// envelope is an apply error (the event stays parked).
func (r *Retrier) event(ctx context.Context, seq uint64) (Event, error, error) {
	m, err := r.store.Get(ctx, r.spec.Stream, seq)
	if errors.Is(err, eventstore.ErrNotFound) {
		return Event{}, fmt.Errorf("message #%d is no longer in stream %s", seq, r.spec.Stream), nil
	}
	if err != nil {
		return Event{}, nil, err
	}
	env, err := eventstore.UnmarshalEnvelope(m.Data)
	if err != nil {
		return Event{}, err, nil
	}
	return Event{Seq: m.Sequence, Subject: m.Subject, Time: m.Time, Header: m.Header, Envelope: env}, nil, nil
}

// Skip drops parked records of event seq, every one of them when item is
// empty (the whole event, or all its parked items), else the one item, and
// records who did it and why in projection_skipped. For an updated-in-place
// projection the events held behind a skipped one stay parked until Retry
// applies them, in order.
func (r *Retrier) Skip(ctx context.Context, seq uint64, item, by, reason string) ([]Skipped, error) {
	var out []Skipped
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, `DELETE FROM projection_parked WHERE projection = $1 AND seq = $2 AND ($3 = '' OR item = $3)
			RETURNING projection, seq, item, items, subject, event_type, error, data, parked_at, aggregate, held_by`, r.spec.Name, int64(seq), item)
		if err != nil {
			return err
		}
		type removed struct {
			s    Skipped
			data []byte
		}
		gone, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (removed, error) {
			var rm removed
			var pseq, heldBy int64
			err := row.Scan(&rm.s.Projection, &pseq, &rm.s.Item, &rm.s.Items, &rm.s.Subject, &rm.s.EventType, &rm.s.Error, &rm.data, &rm.s.ParkedAt,
				&rm.s.Aggregate, &heldBy)
			rm.s.Seq, rm.s.HeldBy = uint64(pseq), uint64(heldBy)
			return rm, err
		})
		if err != nil {
			return err
		}
		if len(gone) == 0 {
			what := fmt.Sprintf("#%d", seq)
			if item != "" {
				what += " item " + item
			}
			return fmt.Errorf("%w: %s %s", ErrNotParked, r.spec.Name, what)
		}
		for _, rm := range gone {
			s := rm.s
			s.SkippedBy, s.Reason = by, reason
			if err := tx.QueryRow(ctx, `INSERT INTO projection_skipped (projection, seq, item, items, subject, event_type, error, data, parked_at, skipped_by, reason, aggregate, held_by)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
				ON CONFLICT (projection, seq, item) DO UPDATE SET skipped_by = EXCLUDED.skipped_by, reason = EXCLUDED.reason, skipped_at = now()
				RETURNING skipped_at`, s.Projection, int64(s.Seq), s.Item, s.Items, s.Subject, s.EventType, s.Error, rm.data, s.ParkedAt, by, reason,
				s.Aggregate, int64(s.HeldBy)).Scan(&s.SkippedAt); err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("skip %s #%d: %w", r.spec.Name, seq, err)
	}
	return out, nil
}
