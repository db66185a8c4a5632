package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// errHeadMoved reports that the first parked event of an aggregate changed
// between reading it and locking the projection (another retry, or a skip).
var errHeadMoved = errors.New("first parked event of the aggregate moved")

// retryAggregates retries, aggregate by aggregate (in the order of their
// first parked event), the parked events of an updated-in-place projection
// in stream order, stopping at the first that still fails. It returns the
// records without an aggregate (parked before the projection was updated in
// place), for the insert-only retry.
func (r *Retrier) retryAggregates(ctx context.Context, parked []Parked, res *RetryResult) ([]Parked, error) {
	var rest []Parked
	var aggs []string
	seen := map[string]bool{}
	for _, p := range parked {
		switch {
		case p.Aggregate == "":
			rest = append(rest, p)
		case !seen[p.Aggregate]:
			seen[p.Aggregate] = true
			aggs = append(aggs, p.Aggregate)
		}
	}
	for _, agg := range aggs {
		if err := r.retryAggregate(ctx, agg, res); err != nil {
			return nil, err
		}
	}
	return rest, nil
}

// retryAggregate applies the parked events of agg one at a time, first
// first, each read again from the stream. Events the live projector parks
// behind them meanwhile are taken too, so the aggregate is released only
// when nothing of it is left parked.
func (r *Retrier) retryAggregate(ctx context.Context, agg string, res *RetryResult) error {
	for {
		head, ok, err := r.head(ctx, agg)
		if err != nil || !ok {
			return err
		}
		ev, readErr, err := r.event(ctx, head.Seq)
		if err != nil {
			return err
		}
		rows, failure, err := r.retryHead(ctx, head, ev, readErr)
		if errors.Is(err, errHeadMoved) {
			continue
		}
		if err != nil {
			return fmt.Errorf("retry %s #%d (%s): %w", r.spec.Name, head.Seq, agg, err)
		}
		res.Retried++
		if failure == nil {
			res.Applied++
			res.Rows += rows
			continue
		}
		still, err := r.parkedOf(ctx, agg)
		if err != nil {
			return err
		}
		res.StillParked = append(res.StillParked, still...)
		return nil
	}
}

// head returns the first parked event of agg.
func (r *Retrier) head(ctx context.Context, agg string) (Parked, bool, error) {
	p, err := scanParked(r.pool.QueryRow(ctx, `SELECT `+parkedColumns+` FROM projection_parked
		WHERE projection = $1 AND aggregate = $2 ORDER BY seq, item LIMIT 1`, r.spec.Name, agg))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("first parked event of %s %s: %w", r.spec.Name, agg, err)
	}
	return p, true, nil
}

// parkedOf lists the parked events of agg, in stream order.
func (r *Retrier) parkedOf(ctx context.Context, agg string) ([]Parked, error) {
	rows, err := r.pool.Query(ctx, `SELECT `+parkedColumns+` FROM projection_parked
		WHERE projection = $1 AND aggregate = $2 ORDER BY seq, item`, r.spec.Name, agg)
	if err != nil {
		return nil, fmt.Errorf("parked events of %s %s: %w", r.spec.Name, agg, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Parked, error) { return scanParked(row) })
	if err != nil {
		return nil, fmt.Errorf("parked events of %s %s: %w", r.spec.Name, agg, err)
	}
	return out, nil
}

// retryHead applies ev, the first parked event of its aggregate (readErr:
// it cannot be read), in a transaction holding the projection's lock. When
// it applies, it leaves the parked list; when it fails for good, it stays
// with the new error as the event the aggregate's others wait behind, and
// failure is that error. Other errors stop the retry.
func (r *Retrier) retryHead(ctx context.Context, head Parked, ev Event, readErr error) (rows int64, failure, err error) {
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		rows, failure = 0, nil
		if err := LockProjection(ctx, tx, r.spec.Name); err != nil {
			return err
		}
		var first int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(min(seq), 0) FROM projection_parked WHERE projection = $1 AND aggregate = $2`,
			r.spec.Name, head.Aggregate).Scan(&first); err != nil {
			return err
		}
		if uint64(first) != head.Seq {
			return errHeadMoved
		}
		failure = readErr
		if failure == nil {
			n, err := applySavepoint(ctx, tx, r.proj, []Event{ev})
			switch {
			case err == nil:
				rows = n
			case IsPermanent(err):
				failure = err
			default:
				return err
			}
		}
		if failure != nil {
			if _, err := tx.Exec(ctx, `UPDATE projection_parked SET error = $3, held_by = 0 WHERE projection = $1 AND seq = $2`,
				r.spec.Name, int64(head.Seq), failure.Error()); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE projection_parked SET held_by = $3, error = $4
				WHERE projection = $1 AND aggregate = $2 AND seq > $3`,
				r.spec.Name, head.Aggregate, int64(head.Seq), fmt.Sprintf("held: waiting for #%d", head.Seq))
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM projection_parked WHERE projection = $1 AND seq = $2`, r.spec.Name, int64(head.Seq)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE projection_checkpoints SET rows = rows + $2, updated_at = now() WHERE name = $1`, r.spec.Name, rows)
		return err
	})
	return rows, failure, err
}
