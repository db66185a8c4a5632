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

// ErrNotParked reports that the event to skip is not parked.
var ErrNotParked = errors.New("no such parked event")

// ListParked returns the events projection name has parked, oldest first.
func ListParked(ctx context.Context, pool *pgxpool.Pool, name string) ([]Parked, error) {
	rows, err := pool.Query(ctx, `SELECT projection, seq, subject, event_type, error, parked_at
		FROM projection_parked WHERE projection = $1 ORDER BY seq`, name)
	if err != nil {
		return nil, fmt.Errorf("list parked %s: %w", name, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Parked, error) {
		var p Parked
		var seq int64
		err := r.Scan(&p.Projection, &seq, &p.Subject, &p.EventType, &p.Error, &p.ParkedAt)
		p.Seq = uint64(seq)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("list parked %s: %w", name, err)
	}
	return out, nil
}

// Skipped is the record of a parked event an operator dropped.
type Skipped struct {
	Parked
	SkippedBy string    `json:"skipped_by"`
	Reason    string    `json:"reason"`
	SkippedAt time.Time `json:"skipped_at"`
}

// RetryResult is what a retry of parked events did.
type RetryResult struct {
	Projection string `json:"projection"`
	// Retried counts the parked events tried again; Applied those that now
	// applied and left the parked list.
	Retried int   `json:"retried"`
	Applied int   `json:"applied"`
	Rows    int64 `json:"rows"`
	// StillParked are the events that failed again, with their new error.
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

// Retry applies every parked event again, reading it from the stream (the
// source of truth), each in a transaction that holds the projection's lock.
// An event that applies leaves the parked list and its rows are counted in
// the checkpoint; one that fails again stays, with the new error.
func (r *Retrier) Retry(ctx context.Context) (RetryResult, error) {
	res := RetryResult{Projection: r.spec.Name, StillParked: []Parked{}}
	parked, err := ListParked(ctx, r.pool, r.spec.Name)
	if err != nil {
		return res, err
	}
	for _, p := range parked {
		res.Retried++
		n, applyErr, err := r.retryOne(ctx, p)
		if err != nil {
			return res, err
		}
		if applyErr != nil {
			p.Error = applyErr.Error()
			res.StillParked = append(res.StillParked, p)
			continue
		}
		res.Applied++
		res.Rows += n
	}
	return res, nil
}

// retryOne returns the rows written, the error that keeps the event parked,
// or an error that stops the retry (PostgreSQL or JetStream unreachable).
func (r *Retrier) retryOne(ctx context.Context, p Parked) (int64, error, error) {
	ev, applyErr, err := r.event(ctx, p.Seq)
	if err != nil {
		return 0, nil, err
	}
	var rows int64
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if err := LockProjection(ctx, tx, r.spec.Name); err != nil {
			return err
		}
		if applyErr == nil {
			rows, applyErr = applySavepoint(ctx, tx, r.proj, []Event{ev})
			if applyErr != nil && !IsPermanent(applyErr) {
				return applyErr
			}
		}
		if applyErr != nil {
			_, err := tx.Exec(ctx, `UPDATE projection_parked SET error = $3 WHERE projection = $1 AND seq = $2`,
				r.spec.Name, int64(p.Seq), applyErr.Error())
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM projection_parked WHERE projection = $1 AND seq = $2`, r.spec.Name, int64(p.Seq)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE projection_checkpoints SET rows = rows + $2, updated_at = now() WHERE name = $1`, r.spec.Name, rows)
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("retry %s #%d: %w", r.spec.Name, p.Seq, err)
	}
	return rows, applyErr, nil
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

// Skip drops the parked event seq of the projection and records who did it
// and why in projection_skipped.
func (r *Retrier) Skip(ctx context.Context, seq uint64, by, reason string) (Skipped, error) {
	s := Skipped{SkippedBy: by, Reason: reason}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var pseq int64
		var data []byte
		err := tx.QueryRow(ctx, `DELETE FROM projection_parked WHERE projection = $1 AND seq = $2
			RETURNING projection, seq, subject, event_type, error, data, parked_at`, r.spec.Name, int64(seq)).
			Scan(&s.Projection, &pseq, &s.Subject, &s.EventType, &s.Error, &data, &s.ParkedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s #%d", ErrNotParked, r.spec.Name, seq)
		}
		if err != nil {
			return err
		}
		s.Seq = uint64(pseq)
		return tx.QueryRow(ctx, `INSERT INTO projection_skipped (projection, seq, subject, event_type, error, data, parked_at, skipped_by, reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (projection, seq) DO UPDATE SET skipped_by = EXCLUDED.skipped_by, reason = EXCLUDED.reason, skipped_at = now()
			RETURNING skipped_at`, s.Projection, pseq, s.Subject, s.EventType, s.Error, data, s.ParkedAt, by, reason).Scan(&s.SkippedAt)
	})
	if err != nil {
		return s, fmt.Errorf("skip %s #%d: %w", r.spec.Name, seq, err)
	}
	return s, nil
}
