package orders

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/projections/sagamodel"
)

// sweepBatch bounds the sagas one sweep re-issues.
const sweepBatch = 1000

// Sweep re-issues what every saga of this process's partitions that has
// been running (or compensating) without an event for longer than idle
// waits on, reading the candidates from the sagas read model on pool; it
// returns how many it re-issued.
//
// It is a safety net, not the way sagas are recovered: the owner of a
// partition drives its sagas, and a process that takes a partition over
// resumes every running saga of it at once (ResumePartitions). The sweep
// fires only for a saga that both missed: a note to its owner dropped
// (queue full) while no timer of it was stored, or a takeover whose resume
// read a read model that lagged past the saga. Every hit is counted
// (eventline_saga_sweep_reissued_total) and logged. Re-issuing a saga that
// was only slow is harmless: participants dedupe on the key, timers on
// their id.
func (m *Manager) Sweep(ctx context.Context, pool *pgxpool.Pool, idle time.Duration) (int, error) {
	ids, err := queryIDs(ctx, pool, `SELECT id FROM sagas WHERE status IN ('running', 'compensating') AND updated_at < $1
		ORDER BY updated_at LIMIT $2`, time.Now().Add(-idle), sweepBatch)
	if err != nil {
		return 0, fmt.Errorf("sweep sagas: %w", err)
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return !m.ownsSaga(id) })
	n, err := m.reissueAll(ctx, ids, idle)
	m.metrics.sweepHits.Add(float64(n))
	return n, err
}

// queryIDs returns the first column of the rows of sql.
func queryIDs(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) ([]string, error) {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ResumeFrom is Resume for a process with the sagas read model on pool: the
// sagas to resume are the rows still running or compensating, and every
// saga with an event past the projection's checkpoint (which the rows may
// not show yet), read from the stream's headers; not every saga ever
// started, as the stream's subject list would give.
func (m *Manager) ResumeFrom(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	return m.resumeWhere(ctx, pool, func(string) bool { return true })
}

// resumeWhere is ResumeFrom for the sagas whose id keep accepts.
func (m *Manager) resumeWhere(ctx context.Context, pool *pgxpool.Pool, keep func(id string) bool) (int, error) {
	var checkpoint uint64
	err := pool.QueryRow(ctx, `SELECT last_seq FROM projection_checkpoints WHERE name = $1`, sagamodel.SagasName).Scan(&checkpoint)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("resume sagas: %w", err)
	}
	running, err := queryIDs(ctx, pool, `SELECT id FROM sagas WHERE status IN ('running', 'compensating')`)
	if err != nil {
		return 0, fmt.Errorf("resume sagas: %w", err)
	}
	ids := map[string]bool{}
	for _, id := range running {
		if keep(id) {
			ids[id] = true
		}
	}
	err = m.store.Read(ctx, saga.Stream, eventstore.ReadOptions{FromSeq: checkpoint + 1, HeadersOnly: true},
		func(ev eventstore.RawEvent) error {
			if id, ok := strings.CutPrefix(ev.Subject, "saga."); ok && keep(id) {
				ids[id] = true
			}
			return nil
		})
	if err != nil {
		return 0, fmt.Errorf("resume sagas: %w", err)
	}
	return m.reissueAll(ctx, slices.Collect(maps.Keys(ids)), 0)
}
