package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// sweepBatch bounds the sagas one sweep re-issues.
const sweepBatch = 1000

// Sweep re-issues what every saga that has been running (or compensating)
// without an event for longer than idle waits on, as Resume does at start,
// reading the candidates from the sagas read model on pool; it returns how
// many it re-issued. It is the safety net of the timers this process
// leaves unstored (an attempt answered at once needs none): a process that
// died between a step's start and its reply left that saga waiting on
// nothing. Re-issuing a saga that was only slow is harmless: participants
// dedupe on the key, timers on their id.
func (m *Manager) Sweep(ctx context.Context, pool *pgxpool.Pool, idle time.Duration) (int, error) {
	rows, err := pool.Query(ctx, `SELECT id FROM sagas WHERE status IN ('running', 'compensating') AND updated_at < $1
		ORDER BY updated_at LIMIT $2`, time.Now().Add(-idle), sweepBatch)
	if err != nil {
		return 0, fmt.Errorf("sweep sagas: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sweep sagas: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sweep sagas: %w", err)
	}
	n := 0
	for _, id := range ids {
		s, _, err := m.sagas.Load(ctx, id)
		if err != nil {
			return n, fmt.Errorf("sweep saga %s: %w", id, err)
		}
		if !s.Exists() || s.Status.Terminal() || time.Since(s.UpdatedAt) < idle {
			continue // the read model was behind
		}
		if err := m.Reissue(ctx, s); err != nil {
			return n, fmt.Errorf("sweep saga %s: %w", id, err)
		}
		n++
	}
	return n, nil
}
