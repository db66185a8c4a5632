package projections

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// bulkTx is the transaction a rebuild hands to a projection. It passes
// everything through, except that COPY rows holding google/uuid values get
// them as pgtype.UUID: pgx then writes the 16 bytes as they are, where it
// would otherwise go through uuid.UUID's driver.Valuer (a string, parsed
// back), a seventh of a rebuild's CPU.
type bulkTx struct {
	pgx.Tx
}

// Begin starts a savepoint that converts as well.
func (t bulkTx) Begin(ctx context.Context) (pgx.Tx, error) {
	sp, err := t.Tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return bulkTx{sp}, nil
}

// CopyFrom copies src with its uuid.UUID values converted.
func (t bulkTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	return t.Tx.CopyFrom(ctx, table, columns, &uuidSource{CopyFromSource: src})
}

// uuidSource converts the uuid.UUID values of the rows of a CopyFromSource
// into a buffer of its own (pgx is done with a row before asking for the
// next), leaving the caller's rows untouched.
type uuidSource struct {
	pgx.CopyFromSource
	buf []any
}

// Values returns the current row, converted.
func (s *uuidSource) Values() ([]any, error) {
	row, err := s.CopyFromSource.Values()
	if err != nil {
		return nil, err
	}
	s.buf = append(s.buf[:0], row...)
	for i, v := range s.buf {
		if u, ok := v.(uuid.UUID); ok {
			s.buf[i] = pgtype.UUID{Bytes: u, Valid: true}
		}
	}
	return s.buf, nil
}
