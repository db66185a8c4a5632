package reactor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/eventstore"
)

// Parked is a message a reactor gave up on, kept for an operator.
type Parked struct {
	Reactor   string    `json:"reactor"`
	Stream    string    `json:"stream"`
	Seq       uint64    `json:"seq"`
	Subject   string    `json:"subject"`
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type"`
	Error     string    `json:"error"`
	Attempts  int       `json:"attempts"`
	ParkedAt  time.Time `json:"parked_at"`
}

// Skipped is the record of a parked message an operator dropped.
type Skipped struct {
	Parked
	SkippedBy string    `json:"skipped_by"`
	Reason    string    `json:"reason"`
	SkippedAt time.Time `json:"skipped_at"`
}

// park records p (a later parking of the same message replaces it).
func park(ctx context.Context, pool *pgxpool.Pool, p Parked) error {
	_, err := pool.Exec(ctx, `INSERT INTO reactor_parked (reactor, stream, seq, subject, event_id, event_type, error, attempts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (reactor, stream, seq) DO UPDATE SET error = EXCLUDED.error, attempts = EXCLUDED.attempts, parked_at = now()`,
		p.Reactor, p.Stream, int64(p.Seq), p.Subject, p.EventID, p.EventType, p.Error, p.Attempts)
	if err != nil {
		return fmt.Errorf("park %s #%d: %w", p.Reactor, p.Seq, err)
	}
	return nil
}

// ListParked returns the messages reactor name has parked, oldest first.
func ListParked(ctx context.Context, pool *pgxpool.Pool, name string) ([]Parked, error) {
	rows, err := pool.Query(ctx, `SELECT reactor, stream, seq, subject, event_id, event_type, error, attempts, parked_at
		FROM reactor_parked WHERE reactor = $1 ORDER BY stream, seq`, name)
	if err != nil {
		return nil, fmt.Errorf("list parked %s: %w", name, err)
	}
	out, err := pgx.CollectRows(rows, scanParked)
	if err != nil {
		return nil, fmt.Errorf("list parked %s: %w", name, err)
	}
	return out, nil
}

// CountParked returns how many messages each reactor has parked.
func CountParked(ctx context.Context, pool *pgxpool.Pool) (map[string]int64, error) {
	rows, err := pool.Query(ctx, `SELECT reactor, count(*) FROM reactor_parked GROUP BY reactor`)
	if err != nil {
		return nil, fmt.Errorf("count parked: %w", err)
	}
	out := map[string]int64{}
	var name string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error { out[name] = n; return nil })
	if err != nil {
		return nil, fmt.Errorf("count parked: %w", err)
	}
	return out, nil
}

func scanParked(r pgx.CollectableRow) (Parked, error) {
	var p Parked
	var seq int64
	err := r.Scan(&p.Reactor, &p.Stream, &seq, &p.Subject, &p.EventID, &p.EventType, &p.Error, &p.Attempts, &p.ParkedAt)
	p.Seq = uint64(seq)
	return p, err
}

// RetryResult is what a retry of parked messages did.
type RetryResult struct {
	Reactor string `json:"reactor"`
	// Retried counts the parked messages handled again; Handled those
	// that now succeeded and left the parked list.
	Retried int `json:"retried"`
	Handled int `json:"handled"`
	// StillParked are those that failed again, with their new error.
	StillParked []Parked `json:"still_parked"`
}

// Retrier re-runs one reactor's handler on its parked messages.
type Retrier struct {
	store *eventstore.Store
	pool  *pgxpool.Pool
	r     Reactor
}

// NewRetrier returns a retrier for reactor r.
func NewRetrier(store *eventstore.Store, pool *pgxpool.Pool, r Reactor) *Retrier {
	return &Retrier{store: store, pool: pool, r: r}
}

// Retry runs the handler again on every parked message, in stream order,
// on the event read back from the stream by its sequence. One that now
// succeeds leaves the parked list; one that fails stays with its new error
// and one more attempt. A transient failure stops the retry with an error.
func (rt *Retrier) Retry(ctx context.Context) (RetryResult, error) {
	res := RetryResult{Reactor: rt.r.Name, StillParked: []Parked{}}
	parked, err := ListParked(ctx, rt.pool, rt.r.Name)
	if err != nil {
		return res, err
	}
	for _, p := range parked {
		res.Retried++
		herr, err := rt.retryOne(ctx, p)
		if err != nil {
			return res, err
		}
		if herr != nil {
			p.Attempts++
			p.Error = herr.Error()
			if _, err := rt.pool.Exec(ctx, `UPDATE reactor_parked SET error = $4, attempts = $5 WHERE reactor = $1 AND stream = $2 AND seq = $3`,
				p.Reactor, p.Stream, int64(p.Seq), p.Error, p.Attempts); err != nil {
				return res, fmt.Errorf("retry %s #%d: %w", p.Reactor, p.Seq, err)
			}
			res.StillParked = append(res.StillParked, p)
			continue
		}
		if _, err := rt.pool.Exec(ctx, `DELETE FROM reactor_parked WHERE reactor = $1 AND stream = $2 AND seq = $3`,
			p.Reactor, p.Stream, int64(p.Seq)); err != nil {
			return res, fmt.Errorf("retry %s #%d: %w", p.Reactor, p.Seq, err)
		}
		res.Handled++
	}
	return res, nil
}

// retryOne runs the handler on p's event. It returns the handler's error
// (the message stays parked), or an error that stops the retry.
func (rt *Retrier) retryOne(ctx context.Context, p Parked) (error, error) {
	m, err := rt.store.Get(ctx, p.Stream, p.Seq)
	if errors.Is(err, eventstore.ErrNotFound) {
		return fmt.Errorf("message #%d is no longer in stream %s", p.Seq, p.Stream), nil
	}
	if err != nil {
		return nil, fmt.Errorf("retry %s #%d: %w", p.Reactor, p.Seq, err)
	}
	d := Delivery{Stream: p.Stream, Subject: m.Subject, Seq: m.Sequence, Time: m.Time, Header: m.Header, Attempt: p.Attempts + 1}
	herr := invokeRecovered(ctx, rt.store, rt.r, d, m.Data)
	if IsTransient(herr) {
		return nil, fmt.Errorf("retry %s #%d: %w", p.Reactor, p.Seq, herr)
	}
	return herr, nil
}

// Skip drops the parked message at seq of the reactor's stream and records
// who did it and why in reactor_skipped.
func (rt *Retrier) Skip(ctx context.Context, seq uint64, by, reason string) (Skipped, error) {
	var s Skipped
	err := pgx.BeginFunc(ctx, rt.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM reactor_parked WHERE reactor = $1 AND stream = $2 AND seq = $3
			RETURNING reactor, stream, seq, subject, event_id, event_type, error, attempts, parked_at`, rt.r.Name, rt.r.Stream, int64(seq))
		if err != nil {
			return err
		}
		gone, err := pgx.CollectRows(rows, scanParked)
		if err != nil {
			return err
		}
		if len(gone) == 0 {
			return fmt.Errorf("%w: %s #%d", ErrNotParked, rt.r.Name, seq)
		}
		s = Skipped{Parked: gone[0], SkippedBy: by, Reason: reason}
		return tx.QueryRow(ctx, `INSERT INTO reactor_skipped (reactor, stream, seq, subject, event_id, event_type, error, attempts, parked_at, skipped_by, reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (reactor, stream, seq) DO UPDATE SET skipped_by = EXCLUDED.skipped_by, reason = EXCLUDED.reason, skipped_at = now()
			RETURNING skipped_at`, s.Reactor, s.Stream, int64(s.Seq), s.Subject, s.EventID, s.EventType, s.Error, s.Attempts, s.ParkedAt, by, reason).Scan(&s.SkippedAt)
	})
	if err != nil {
		return Skipped{}, fmt.Errorf("skip %s #%d: %w", rt.r.Name, seq, err)
	}
	return s, nil
}
