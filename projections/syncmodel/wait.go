package syncmodel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/projections"
)

// ErrNotCaughtUp reports a read model that did not reach a sequence in time.
var ErrNotCaughtUp = errors.New("syncmodel: read model not caught up in time")

// WaitCaughtUp waits, polling every 5 ms, until the read model's checkpoint
// reaches seq (read-your-writes on the workflow-sync model).
func WaitCaughtUp(ctx context.Context, pool *pgxpool.Pool, seq uint64, within time.Duration) error {
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		cp, err := projections.LoadCheckpoint(ctx, pool, Name)
		switch {
		case err != nil:
			return struct{}{}, backoff.Permanent(err)
		case cp.LastSeq < seq:
			return struct{}{}, fmt.Errorf("%w: at %d, want %d", ErrNotCaughtUp, cp.LastSeq, seq)
		}
		return struct{}{}, nil
	}, backoff.WithBackOff(backoff.NewConstantBackOff(5*time.Millisecond)), backoff.WithMaxElapsedTime(max(within, time.Nanosecond)))
	return err
}
