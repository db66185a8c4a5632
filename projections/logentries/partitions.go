package logentries

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// log_entries is partitioned by received_at, one partition per UTC day,
// named <table>_pYYYYMMDD. Retention drops whole partitions (DETACH …
// CONCURRENTLY, then DROP), which costs about nothing and takes no lock
// that would hold off ingest or queries; no DELETE ever runs. The table
// has no default partition (DETACH CONCURRENTLY refuses one): every writer
// makes sure the days it writes have their partition (EnsureDays), and the
// maintenance creates them ahead (Maintain).

// Day is one partition's day: its UTC midnight.
type Day time.Time

// DayOf returns the day t falls in (UTC).
func DayOf(t time.Time) Day {
	t = t.UTC()
	return Day(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC))
}

// Start is the day's first instant; End the next day's.
func (d Day) Start() time.Time { return time.Time(d) }

// End is the first instant after the day.
func (d Day) End() time.Time { return time.Time(d).AddDate(0, 0, 1) }

// PartitionName is the name of table's partition for day d.
func PartitionName(table string, d Day) string {
	return table + "_p" + d.Start().Format("20060102")
}

// dayOfPartition reads the day back from a partition name of table.
func dayOfPartition(table, name string) (Day, bool) {
	rest, ok := strings.CutPrefix(name, table+"_p")
	if !ok || len(rest) != 8 {
		return Day{}, false
	}
	t, err := time.Parse("20060102", rest)
	if err != nil {
		return Day{}, false
	}
	return Day(t), true
}

// execQuerier runs statements: a pool, a connection or a transaction.
type execQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// createPartition creates table's partition for d unless it exists. A
// partition of another name that already covers the day (one a rebuild
// swapped in and has not renamed yet) counts as existing.
func createPartition(ctx context.Context, tx pgx.Tx, table string, d Day) error {
	stmt := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
		pgx.Identifier{PartitionName(table, d)}.Sanitize(), pgx.Identifier{table}.Sanitize(),
		d.Start().Format(time.RFC3339), d.End().Format(time.RFC3339))
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error { // a savepoint
		_, err := sp.Exec(ctx, stmt)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P17" { // overlaps an existing partition
		return nil
	}
	if err != nil {
		return fmt.Errorf("create partition %s: %w", PartitionName(table, d), err)
	}
	return nil
}

// partitionCache remembers the days whose partition a projection has made
// sure of, per table, so that a batch costs no catalog work once its day
// is known. A dropped partition is created again by the next write into
// its day (a rebuild of entries the stream still holds).
type partitionCache struct {
	mu   sync.Mutex
	days map[string]map[Day]bool
}

// ensure makes sure table has the partitions of days, in tx.
func (c *partitionCache) ensure(ctx context.Context, tx pgx.Tx, table string, days map[Day]bool) error {
	c.mu.Lock()
	known := c.days[table]
	var missing []Day
	for d := range days {
		if !known[d] {
			missing = append(missing, d)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	for _, d := range missing {
		if err := createPartition(ctx, tx, table, d); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.days == nil {
		c.days = map[string]map[Day]bool{}
	}
	if c.days[table] == nil {
		c.days[table] = map[Day]bool{}
	}
	for _, d := range missing {
		c.days[table][d] = true
	}
	return nil
}

// forget drops what the cache knows of table (after a failed write that
// may have hit a partition dropped meanwhile).
func (c *partitionCache) forget(table string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.days, table)
}

// Partition is one partition of the read model.
type Partition struct {
	Name  string `json:"name"`
	Day   string `json:"day"`
	Bytes int64  `json:"bytes"`
}

// Partitions lists the day partitions of table, oldest first, with their
// size on disk. Partitions not named by PartitionName are left out.
func Partitions(ctx context.Context, db execQuerier, table string) ([]Partition, error) {
	rows, err := db.Query(ctx, `SELECT c.relname, pg_total_relation_size(c.oid)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = to_regclass($1) ORDER BY c.relname`, pgx.Identifier{table}.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	var out []Partition
	for rows.Next() {
		var p Partition
		if err := rows.Scan(&p.Name, &p.Bytes); err != nil {
			return nil, err
		}
		d, ok := dayOfPartition(table, p.Name)
		if !ok {
			continue
		}
		p.Day = d.Start().Format(time.DateOnly)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	return out, nil
}
