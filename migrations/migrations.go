package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed sql/*.sql
var files embed.FS

// Applied is one migration applied by Up.
type Applied struct {
	Version  int64         `json:"version"`
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
}

func provider(pool *pgxpool.Pool, locked bool) (*goose.Provider, func(), error) {
	db := stdlib.OpenDBFromPool(pool)
	sub, err := fs.Sub(files, "sql")
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrations: %w", err)
	}
	var opts []goose.ProviderOption
	if locked {
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, opts...)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrations: %w", err)
	}
	return p, func() { db.Close() }, nil
}

// Up applies every pending migration to the database behind pool and
// returns those it applied, in order. Concurrent callers are serialised by a
// PostgreSQL advisory lock, so several processes may start at once.
func Up(ctx context.Context, pool *pgxpool.Pool) ([]Applied, error) {
	p, done, err := provider(pool, true)
	if err != nil {
		return nil, err
	}
	defer done()
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply migrations: %w", err)
	}
	out := make([]Applied, 0, len(res))
	for _, r := range res {
		out = append(out, Applied{Version: r.Source.Version, Name: path.Base(r.Source.Path), Duration: r.Duration})
	}
	return out, nil
}

// UpTo applies the pending migrations up to version and no further (tests
// of a migration start from the schema before it).
func UpTo(ctx context.Context, pool *pgxpool.Pool, version int64) error {
	p, done, err := provider(pool, true)
	if err != nil {
		return err
	}
	defer done()
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("apply migrations up to %d: %w", version, err)
	}
	return nil
}

// ErrBehind reports a database whose schema lacks migrations this binary has.
var ErrBehind = errors.New("database schema is behind this binary")

// Versions returns the schema version of the database behind pool (0 when
// never migrated) and the newest version this binary has. It changes
// nothing: read-only commands call it instead of migrating.
func Versions(ctx context.Context, pool *pgxpool.Pool) (current, target int64, err error) {
	p, done, err := provider(pool, false)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	srcs := p.ListSources()
	if len(srcs) > 0 {
		target = srcs[len(srcs)-1].Version
	}
	var table *string
	if err := pool.QueryRow(ctx, `SELECT to_regclass('goose_db_version')::text`).Scan(&table); err != nil {
		return 0, target, fmt.Errorf("read schema version: %w", err)
	}
	if table == nil {
		return 0, target, nil
	}
	if current, err = p.GetDBVersion(ctx); err != nil {
		return 0, target, fmt.Errorf("read schema version: %w", err)
	}
	return current, target, nil
}

// CheckCurrent fails with ErrBehind, saying what to run, unless the
// database has every migration of this binary.
func CheckCurrent(ctx context.Context, pool *pgxpool.Pool) error {
	current, target, err := Versions(ctx, pool)
	if err != nil {
		return err
	}
	if current < target {
		return fmt.Errorf("%w (version %d, this binary needs %d): run `eventline migrate`", ErrBehind, current, target)
	}
	return nil
}
