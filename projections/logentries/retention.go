package logentries

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Retention bounds what the read model keeps.
type Retention struct {
	// MaxAge drops a day's partition once all of it is older than MaxAge
	// (0: keep forever). Nothing younger than MaxAge is ever dropped.
	MaxAge time.Duration
	// MaxBytes, when positive, also drops the oldest days while the
	// partitions take more than MaxBytes on disk, the current day's
	// excepted: a cap, which wins over MaxAge.
	MaxBytes int64
	// Ahead is how many days after today get their partition in advance (3).
	Ahead int
}

// retentionLock is the advisory lock key that lets one process at a time
// maintain the partitions ("logs" in ASCII).
const retentionLock = 0x6c6f6773

// Dropped is one partition Maintain dropped.
type Dropped struct {
	Partition string `json:"partition"`
	Entries   int64  `json:"entries"`
	// Bytes is its size on disk when the drop began.
	Bytes int64 `json:"bytes"`
	// Took is the whole drop; the others its parts: DETACH … CONCURRENTLY
	// (it waits for the transactions that may still read the partition),
	// reading how many entries it held (from log_volume), DROP TABLE,
	// adding them to log_retention, and the commit, which deletes the
	// table's files.
	Took   time.Duration `json:"took_ns"`
	Detach time.Duration `json:"detach_ns"`
	Count  time.Duration `json:"count_ns"`
	Drop   time.Duration `json:"drop_ns"`
	Record time.Duration `json:"record_ns"`
	Commit time.Duration `json:"commit_ns"`
}

// MaintainResult is what one Maintain did.
type MaintainResult struct {
	// Skipped is set when another process held the maintenance lock.
	Skipped bool      `json:"skipped"`
	Created []string  `json:"created"`
	Dropped []Dropped `json:"dropped"`
}

// Maintain creates the partitions of today and the Ahead days after it,
// and drops the partitions r no longer keeps, at now. One process at a
// time does it (an advisory lock; the others skip). A partition is
// detached CONCURRENTLY, which waits for the queries that may read it
// without holding off any, then dropped; the entries it held are added to
// log_retention. New partitions are created apart and attached, which
// takes no lock that blocks readers or writers of log_entries.
func Maintain(ctx context.Context, pool *pgxpool.Pool, r Retention, now time.Time) (MaintainResult, error) {
	var res MaintainResult
	if r.Ahead <= 0 {
		r.Ahead = 3
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("logs retention: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, retentionLock).Scan(&locked); err != nil {
		return res, fmt.Errorf("logs retention: lock: %w", err)
	}
	if !locked {
		res.Skipped = true
		return res, nil
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, retentionLock)
	}()
	c := conn.Conn()
	parts, err := Partitions(ctx, c, Table)
	if err != nil {
		return res, err
	}
	have := map[string]bool{}
	for _, p := range parts {
		have[p.Name] = true
	}
	today := DayOf(now)
	for i := 0; i <= r.Ahead; i++ {
		d := Day(today.Start().AddDate(0, 0, i))
		if have[PartitionName(Table, d)] {
			continue
		}
		if err := attachPartition(ctx, c, d); err != nil {
			return res, err
		}
		res.Created = append(res.Created, PartitionName(Table, d))
	}
	if err := finishDetaches(ctx, c); err != nil {
		return res, err
	}
	var total int64
	for _, p := range parts {
		total += p.Bytes
	}
	for _, p := range parts {
		d, _ := dayOfPartition(Table, p.Name)
		expired := r.MaxAge > 0 && !d.End().After(now.Add(-r.MaxAge))
		overCap := r.MaxBytes > 0 && total > r.MaxBytes && d.Start().Before(today.Start())
		if !expired && !overCap {
			break // partitions are oldest first: the rest are younger
		}
		dr, err := dropPartition(ctx, c, p.Name)
		if err != nil {
			return res, err
		}
		dr.Bytes = p.Bytes
		total -= p.Bytes
		res.Dropped = append(res.Dropped, dr)
	}
	// The day counts and search blocks of tables dropped since (a
	// rebuild's old live table, an abandoned shadow) go, and the blocks of
	// the days dropped.
	if _, err := c.Exec(ctx, `DELETE FROM log_volume l WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = l.tbl)`); err != nil {
		return res, fmt.Errorf("logs retention: %w", err)
	}
	if _, err := c.Exec(ctx, `DELETE FROM log_blocks b WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = b.tbl)`); err != nil {
		return res, fmt.Errorf("logs retention: %w", err)
	}
	if len(res.Dropped) > 0 && len(res.Dropped) < len(parts) {
		kept, _ := dayOfPartition(Table, parts[len(res.Dropped)].Name)
		if _, err := c.Exec(ctx, `DELETE FROM log_blocks WHERE tbl = to_regclass($1) AND last_at < $2`,
			pgx.Identifier{Table}.Sanitize(), kept.Start()); err != nil {
			return res, fmt.Errorf("logs retention: %w", err)
		}
	}
	if _, err := c.Exec(ctx, `UPDATE log_retention SET last_run_at = now()`); err != nil {
		return res, fmt.Errorf("logs retention: %w", err)
	}
	return res, nil
}

// attachPartition creates day d's partition as a table of its own and
// attaches it (SHARE UPDATE EXCLUSIVE on log_entries, which readers and
// writers do not conflict with; CREATE TABLE … PARTITION OF would take
// ACCESS EXCLUSIVE).
func attachPartition(ctx context.Context, c *pgx.Conn, d Day) error {
	name := pgx.Identifier{PartitionName(Table, d)}.Sanitize()
	err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		for _, stmt := range []string{
			`SET LOCAL lock_timeout = '5s'`,
			`CREATE TABLE IF NOT EXISTS ` + name + ` (LIKE log_entries INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
			fmt.Sprintf(`ALTER TABLE log_entries ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`,
				name, d.Start().Format(time.RFC3339), d.End().Format(time.RFC3339)),
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// A writer made it meanwhile (CREATE … PARTITION OF): fine.
		var exists bool
		if qerr := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass($1))`, name).Scan(&exists); qerr == nil && exists {
			return nil
		}
		return fmt.Errorf("logs retention: create partition %s: %w", name, err)
	}
	return nil
}

// finishDetaches completes detaches an interrupted run left pending.
func finishDetaches(ctx context.Context, c *pgx.Conn) error {
	rows, err := c.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'log_entries'::regclass AND i.inhdetachpending`)
	if err != nil {
		return fmt.Errorf("logs retention: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("logs retention: %w", err)
	}
	for _, n := range names {
		if _, err := c.Exec(ctx, `ALTER TABLE log_entries DETACH PARTITION `+pgx.Identifier{n}.Sanitize()+` FINALIZE`); err != nil {
			return fmt.Errorf("logs retention: finish detaching %s: %w", n, err)
		}
		if _, err := dropDetached(ctx, c, n, &Dropped{}); err != nil {
			return err
		}
	}
	return nil
}

// dropPartition detaches and drops one partition.
func dropPartition(ctx context.Context, c *pgx.Conn, name string) (Dropped, error) {
	start := time.Now()
	if _, err := c.Exec(ctx, `ALTER TABLE log_entries DETACH PARTITION `+pgx.Identifier{name}.Sanitize()+` CONCURRENTLY`); err != nil {
		return Dropped{}, fmt.Errorf("logs retention: detach %s: %w", name, err)
	}
	d := Dropped{Partition: name, Detach: time.Since(start)}
	n, err := dropDetached(ctx, c, name, &d)
	if err != nil {
		return Dropped{}, err
	}
	d.Entries, d.Took = n, time.Since(start)
	return d, nil
}

// dropDetached drops a detached partition and records its entries as
// expired, in one transaction. How many it held is read from log_volume,
// which the projection keeps as it writes (DETACH … CONCURRENTLY has waited
// for every transaction that wrote into the day, so the count is complete);
// a day it has no count for is counted.
func dropDetached(ctx context.Context, c *pgx.Conn, name string, times *Dropped) (int64, error) {
	var n int64
	var commitStart time.Time
	err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		id := pgx.Identifier{name}.Sanitize()
		start := time.Now()
		var minutes int64
		if d, ok := dayOfPartition(Table, name); ok {
			err := tx.QueryRow(ctx, `WITH gone AS (DELETE FROM log_volume WHERE tbl = to_regclass($1) AND minute >= $2 AND minute < $3 RETURNING entries)
				SELECT count(*), coalesce(sum(entries), 0) FROM gone`,
				pgx.Identifier{Table}.Sanitize(), d.Start(), d.End()).Scan(&minutes, &n)
			if err != nil {
				return err
			}
		}
		if minutes == 0 {
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+id).Scan(&n); err != nil {
				return err
			}
		}
		times.Count = time.Since(start)
		start = time.Now()
		if _, err := tx.Exec(ctx, `DROP TABLE `+id); err != nil {
			return err
		}
		times.Drop = time.Since(start)
		start = time.Now()
		_, err := tx.Exec(ctx, `UPDATE log_retention SET expired_entries = expired_entries + $1,
			dropped_partitions = dropped_partitions + 1, last_drop_at = now()`, n)
		times.Record = time.Since(start)
		commitStart = time.Now()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("logs retention: drop %s: %w", name, err)
	}
	times.Commit = time.Since(commitStart)
	return n, nil
}

// RetentionState is what retention has left and done, for the stats, the
// dashboard and `eventline projections list`.
type RetentionState struct {
	// OldestRetained is the oldest entry's receive time (nil: none).
	OldestRetained *time.Time `json:"oldest_retained_at"`
	// Partitions and Bytes are the day partitions and their size on disk.
	Partitions int   `json:"partitions"`
	Bytes      int64 `json:"bytes"`
	// Expired counts the entries retention has dropped, over all time.
	Expired           int64      `json:"expired"`
	DroppedPartitions int64      `json:"dropped_partitions"`
	LastDropAt        *time.Time `json:"last_drop_at"`
	LastRunAt         *time.Time `json:"last_run_at"`
}

// ReadRetention reads the retention state of the read model.
func ReadRetention(ctx context.Context, db execQuerier) (RetentionState, error) {
	var st RetentionState
	parts, err := Partitions(ctx, db, Table)
	if err != nil {
		return st, err
	}
	st.Partitions = len(parts)
	for _, p := range parts {
		st.Bytes += p.Bytes
	}
	rows, err := db.Query(ctx, `SELECT (SELECT min(received_at) FROM log_entries),
		expired_entries, dropped_partitions, last_drop_at, last_run_at FROM log_retention`)
	if err != nil {
		return st, fmt.Errorf("read retention: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		if err := rows.Scan(&st.OldestRetained, &st.Expired, &st.DroppedPartitions, &st.LastDropAt, &st.LastRunAt); err != nil {
			return st, fmt.Errorf("read retention: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("read retention: %w", err)
	}
	if st.OldestRetained != nil {
		t := st.OldestRetained.UTC()
		st.OldestRetained = &t
	}
	return st, nil
}
