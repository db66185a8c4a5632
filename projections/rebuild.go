package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/eventline/eventline/eventstore"
)

// ErrRebuildRunning reports that another rebuild of the same projection holds
// its rebuild lock.
var ErrRebuildRunning = errors.New("a rebuild of this projection is already running")

// ErrMismatch reports that the shadow does not hold what the live model holds.
var ErrMismatch = errors.New("shadow differs from the live model")

// RebuildOptions tunes a Rebuilder.
type RebuildOptions struct {
	// BatchSize is the most events written to the shadow per transaction (20,000).
	BatchSize int
	// DryRun builds and compares, then drops the shadow instead of swapping.
	DryRun bool
	// Force swaps even when the shadow differs from the live model (after a
	// fix to the projection's code, that difference is the point).
	Force bool
	// SwapBacklog is the most events left for the swap transaction to apply
	// while it blocks the live projector (10,000): catch-up rounds run until
	// the backlog is that small.
	SwapBacklog uint64
	// LockTimeout bounds one swap attempt's wait for the live tables (5s);
	// the swap is retried a few times.
	LockTimeout time.Duration
	// Progress, when set, is called after every shadow batch, one call at
	// a time.
	Progress func(RebuildProgress)
	// Log receives phase changes.
	Log *slog.Logger
}

// RebuildProgress is where a running rebuild stands.
type RebuildProgress struct {
	Phase  string
	Seq    uint64
	Target uint64
	Events int64
	Rows   int64
}

// RebuildResult is what a finished rebuild did.
type RebuildResult struct {
	Name string `json:"name"`
	// Events and Rows are what the rebuild applied and wrote to the shadow.
	Events int64 `json:"events"`
	Rows   int64 `json:"rows"`
	Parked int64 `json:"parked"`
	// LastSeq is the shadow's position, the live checkpoint after a swap.
	LastSeq uint64 `json:"last_seq"`
	// LiveSeq is the live checkpoint the shadow was compared at.
	LiveSeq  uint64         `json:"live_seq"`
	Compared []TableCompare `json:"compared"`
	// StreamReplaced, when not empty, says why the live model was not
	// compared: its checkpoint counts in a stream that is gone (deleted and
	// created again, or wiped), so the rebuild replaces it outright.
	StreamReplaced string `json:"stream_replaced,omitempty"`
	// StreamFirstSeq is the first event the stream still holds: past 1,
	// older ones expired (a stream with retention, logs), and the rebuild
	// holds only what the stream still does; the rows of expired events
	// are not compared.
	StreamFirstSeq uint64  `json:"stream_first_seq"`
	Swapped        bool    `json:"swapped"`
	DryRun         bool    `json:"dry_run"`
	Seconds        float64 `json:"seconds"`
	// Phases are the seconds spent loading the shadow ("build"), indexing
	// it, catching up and in the swap transaction (compare included).
	Phases map[string]float64 `json:"phases"`
}

// Rebuilder rebuilds one projection from the first event of its stream into
// shadow tables while the live tables keep serving and the live projector
// keeps running, then swaps them in one transaction.
type Rebuilder struct {
	store *eventstore.Store
	pool  *pgxpool.Pool
	spec  Spec
	opt   RebuildOptions
	proj  Projection
	log   *slog.Logger
	// pos is the stream incarnation the rebuild reads; the swapped-in
	// checkpoint records it.
	pos StreamPosition

	progressMu sync.Mutex // serialises Progress calls
	reported   uint64

	// skipped are the events an operator skipped in the live model: an
	// updated-in-place shadow leaves them out too (nil otherwise).
	skipped map[uint64]bool

	mu                   sync.Mutex // guards the counters below
	events, rows, parked int64
}

// count adds a written batch to the counters.
func (r *Rebuilder) count(b *shadowBatch) {
	r.mu.Lock()
	r.events += int64(len(b.events) + len(b.poison))
	r.rows += b.rows
	r.parked += b.parked
	r.mu.Unlock()
}

func (r *Rebuilder) counts() (events, rows, parked int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events, r.rows, r.parked
}

// NewRebuilder returns a rebuilder of spec.
func NewRebuilder(store *eventstore.Store, pool *pgxpool.Pool, spec Spec, opt RebuildOptions) *Rebuilder {
	if opt.BatchSize <= 0 {
		opt.BatchSize = 20000
	}
	if opt.SwapBacklog == 0 {
		opt.SwapBacklog = 10000
	}
	if opt.LockTimeout <= 0 {
		opt.LockTimeout = 5 * time.Second
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	shadow := make(map[string]string, len(spec.Tables))
	for _, t := range spec.Tables {
		shadow[t.Name] = ShadowTable(t.Name)
	}
	return &Rebuilder{store: store, pool: pool, spec: spec, opt: opt, proj: spec.New(shadow), log: log.With("projection", spec.Name)}
}

// Run rebuilds. On any failure, or when interrupted, the live model is left
// as it was; a later run starts over.
func (r *Rebuilder) Run(ctx context.Context) (res RebuildResult, err error) {
	start := time.Now()
	res = RebuildResult{Name: r.spec.Name, DryRun: r.opt.DryRun}
	release, err := r.exclusive(ctx)
	if err != nil {
		return res, err
	}
	defer release()
	if r.pos, err = ReadStreamPosition(ctx, r.store.JetStream(), r.spec.Stream); err != nil {
		return res, fmt.Errorf("rebuild %s: %w", r.spec.Name, err)
	}
	if r.skipped, err = r.liveSkips(ctx); err != nil {
		return res, err
	}
	defer func() {
		if err != nil || !res.Swapped {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if derr := dropShadow(cctx, r.pool, r.spec); derr != nil && err == nil {
				err = derr
			}
		}
	}()
	res.Phases = map[string]float64{}
	phase := func(name string, since time.Time) { res.Phases[name] += time.Since(since).Seconds() }
	var pos uint64
	for round := 0; ; round++ {
		t0 := time.Now()
		target, err := r.target(ctx)
		if err != nil {
			return res, err
		}
		if round == 0 {
			indexes, err := r.load(ctx, target)
			if err != nil {
				return res, err
			}
			pos = target
			phase("build", t0)
			t0 = time.Now()
			if err := r.buildIndexes(ctx, indexes); err != nil {
				return res, err
			}
			phase("index", t0)
			continue
		}
		if target > pos {
			if err := r.catchUp(ctx, pos+1, target); err != nil {
				return res, err
			}
			pos = target
		}
		phase("catch_up", t0)
		last, err := r.target(ctx)
		if err != nil {
			return res, err
		}
		if last <= pos+r.opt.SwapBacklog || round >= 5 {
			break
		}
	}
	t0 := time.Now()
	if err := r.swapWithRetry(ctx, &pos, &res); err != nil {
		return res, err
	}
	phase("swap", t0)
	res.Events, res.Rows, res.Parked = r.counts()
	res.LastSeq = pos
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// exclusive takes the session lock that keeps two rebuilds of one projection
// apart, on a connection held until release.
func (r *Rebuilder) exclusive(ctx context.Context) (func(), error) {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("rebuild %s: %w", r.spec.Name, err)
	}
	var ok bool
	key := "eventline.rebuild." + r.spec.Name
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, key).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("rebuild %s: lock: %w", r.spec.Name, err)
	}
	if !ok {
		conn.Release()
		return nil, fmt.Errorf("rebuild %s: %w", r.spec.Name, ErrRebuildRunning)
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext($1))`, key)
		conn.Release()
	}, nil
}

type pendingIndex struct {
	table Table
	index liveIndex
}

// buildIndexes creates the shadow's plain indexes once the bulk is loaded,
// each on a connection of its own, at the same time.
func (r *Rebuilder) buildIndexes(ctx context.Context, idx []pendingIndex) error {
	r.report("index", 0, 0)
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range idx {
		ddl, err := shadowIndexDDL(p.table, p.index)
		if err != nil {
			return err
		}
		g.Go(func() error {
			return pgx.BeginFunc(gctx, r.pool, func(tx pgx.Tx) error {
				// The indexes are built at once, one backend each: parallel
				// workers on top only add merge work (about a tenth more CPU).
				if _, err := tx.Exec(gctx, `SET LOCAL maintenance_work_mem = '128MB'; SET LOCAL max_parallel_maintenance_workers = 0`); err != nil {
					return fmt.Errorf("index shadow: %w", err)
				}
				if _, err := tx.Exec(gctx, ddl); err != nil {
					return fmt.Errorf("index shadow of %s: %w", p.table.Name, err)
				}
				return nil
			})
		})
	}
	return g.Wait()
}

// target is how far the next catch-up round goes: the stream's end, or the
// live checkpoint when a table cannot be compared past it.
func (r *Rebuilder) target(ctx context.Context) (uint64, error) {
	last, err := r.store.LastSeq(ctx, r.spec.Stream)
	if err != nil {
		return 0, err
	}
	for _, t := range r.spec.Tables {
		// Rows updated in place hold the state at their last event: a
		// shadow ahead of the live model cannot be compared with it.
		if t.Seq == "" || KindOf(r.proj) == KindUpdatedInPlace {
			cp, err := LoadCheckpoint(ctx, r.pool, r.spec.Name)
			if err != nil {
				return 0, err
			}
			return min(last, cp.LastSeq), nil
		}
	}
	return last, nil
}

// report calls the Progress callback, one call at a time, with a position
// that never goes back (concurrent writers finish batches out of order).
func (r *Rebuilder) report(phase string, seq, target uint64) {
	if r.opt.Progress == nil {
		return
	}
	events, rows, _ := r.counts()
	r.progressMu.Lock()
	defer r.progressMu.Unlock()
	if phase == "build" {
		r.reported = max(r.reported, seq)
		seq = r.reported
	}
	r.opt.Progress(RebuildProgress{Phase: phase, Seq: seq, Target: target, Events: events, Rows: rows})
}

// apply reads events from..to and hands them to write batch by batch, in
// order, while the next batch is being read.
func (r *Rebuilder) apply(ctx context.Context, from, to uint64, write func(context.Context, *shadowBatch) error) error {
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan *shadowBatch, 2)
	g.Go(func() error {
		defer close(batches)
		return r.readBatches(gctx, from, to, func(b *shadowBatch) error {
			select {
			case batches <- b:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	})
	g.Go(func() error {
		for b := range batches {
			if err := write(gctx, b); err != nil {
				return fmt.Errorf("rebuild %s: write shadow: %w", r.spec.Name, err)
			}
			r.count(b)
			r.report("build", b.last, to)
		}
		return nil
	})
	return g.Wait()
}

// catchUp applies from..to to the shadow, a transaction per batch.
func (r *Rebuilder) catchUp(ctx context.Context, from, to uint64) error {
	r.log.Info("catching up", "from", from, "to", to)
	return r.apply(ctx, from, to, func(ctx context.Context, b *shadowBatch) error {
		return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error { return r.applyBatch(ctx, tx, b) })
	})
}

// load drops what an interrupted run left, creates the shadow tables and
// applies events 1..to to them, all in one transaction: an interrupted load
// leaves nothing behind, and PostgreSQL (with wal_level minimal, as the
// managed cluster runs) need not write the new tables to the WAL. It
// returns the plain indexes still to build.
func (r *Rebuilder) load(ctx context.Context, to uint64) ([]pendingIndex, error) {
	var later []pendingIndex
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		r.log.Info("building shadow", "from", 1, "to", to)
		if err := clearShadowRecords(ctx, tx, r.spec.Name); err != nil {
			return err
		}
		for _, t := range r.spec.Tables {
			idx, err := createShadow(ctx, tx, t)
			if err != nil {
				return err
			}
			for _, ix := range idx {
				later = append(later, pendingIndex{table: t, index: ix})
			}
		}
		if to == 0 {
			return nil
		}
		return r.apply(ctx, 1, to, func(ctx context.Context, b *shadowBatch) error { return r.applyBatch(ctx, tx, b) })
	})
	if err != nil {
		return nil, err
	}
	return later, nil
}

// swapWithRetry runs the swap, again when it timed out waiting for locks.
func (r *Rebuilder) swapWithRetry(ctx context.Context, pos *uint64, res *RebuildResult) error {
	for attempt := 1; ; attempt++ {
		err := r.swap(ctx, pos, res)
		var pgErr *pgconn.PgError
		if err == nil || attempt == 5 || !errors.As(err, &pgErr) || (pgErr.Code != "55P03" && pgErr.Code != "40P01") {
			return err
		}
		r.log.Warn("swap waited too long for the live tables; retrying", "attempt", attempt, "err", err)
	}
}
