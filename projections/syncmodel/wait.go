package syncmodel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/projections"
)

// ErrNotCaughtUp reports a read model that did not reach a sequence in time.
var ErrNotCaughtUp = errors.New("syncmodel: read model not caught up in time")

// WaitCaughtUp waits, polling, until the read model's checkpoint reaches seq
// (tests and benchmarks: read-your-writes on the workflow-sync model).
func WaitCaughtUp(ctx context.Context, pool *pgxpool.Pool, seq uint64, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		cp, err := projections.LoadCheckpoint(ctx, pool, Name)
		if err != nil {
			return err
		}
		if cp.LastSeq >= seq {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: at %d, want %d", ErrNotCaughtUp, cp.LastSeq, seq)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
