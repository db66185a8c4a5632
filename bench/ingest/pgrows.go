package main

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rowsTable is the PostgreSQL per-row baseline's table: log_entries' shape.
const rowsTable = "bench_rows"

// rowBaseline is issue 27's baseline for single POST /api/logs with sync
// always: conns connections, each inserting one log entry per transaction
// (autocommit) into a copy of log_entries (INCLUDING ALL: its indexes too)
// on serve's managed PostgreSQL, with synchronous_commit=on, for d. A
// commit returns once its WAL is flushed; PostgreSQL shares one flush
// among the commits that wait together (its own group commit).
func rowBaseline(ctx context.Context, pgURL string, entries []entry, conns int, d time.Duration) (*loadResult, error) {
	cfg, err := pgxpool.ParseConfig(pgURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(conns)
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `DROP TABLE IF EXISTS `+rowsTable); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE `+rowsTable+` (LIKE log_entries INCLUDING ALL)`); err != nil {
		return nil, err
	}
	defer pool.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+rowsTable)
	res := &loadResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for w := range conns {
		wg.Go(func() {
			var lat []time.Duration
			var n, errs int64
			var first string
			for i := 0; time.Since(start) < d && ctx.Err() == nil; i++ {
				e := entries[(w*7919+i)%len(entries)]
				t0 := time.Now()
				_, err := pool.Exec(ctx, `INSERT INTO `+rowsTable+` (id, seq, level, message, context, source, received_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7)`, uuid.Must(uuid.NewV7()), int64(w)<<32|int64(i), e.Level, e.Message,
					[]byte(e.Context), e.Source, time.Now().UTC())
				if err != nil {
					errs++
					if first == "" {
						first = err.Error()
					}
					continue
				}
				lat = append(lat, time.Since(t0))
				n++
			}
			mu.Lock()
			res.Requests += n
			res.Items += n
			res.Errors += errs
			if res.FirstErr == "" {
				res.FirstErr = first
			}
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.finish()
	return res, ctx.Err()
}
