package projections

import "github.com/jackc/pgx/v5/pgxpool"

// SpareWriter is an insert-only projection that may write part of a large
// batch through a second connection of the pool, in a transaction it
// commits before the batch's own one (the one with the checkpoint): a second
// PostgreSQL backend, so a second core, for what is costly to index. The
// runner hands it its pool. Rows the spare transaction committed are written
// again, and skipped as duplicates, when the batch's transaction then fails
// and the batch is redelivered: only an insert-only projection, idempotent
// per row, may do this.
type SpareWriter interface {
	Projection
	UsePool(pool *pgxpool.Pool)
}
