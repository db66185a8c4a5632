package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SendBatch sends b's statements in tx in one round trip and returns the
// rows they wrote; what names the projection in its errors, with the
// statement that failed.
func SendBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch, what string) (int64, error) {
	if b.Len() == 0 {
		return 0, nil
	}
	res := tx.SendBatch(ctx, b)
	var rows int64
	for i := 0; i < b.Len(); i++ {
		tag, err := res.Exec()
		if err != nil {
			_ = res.Close()
			return 0, fmt.Errorf("%s: statement %d of %d: %w", what, i+1, b.Len(), err)
		}
		rows += tag.RowsAffected()
	}
	if err := res.Close(); err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return rows, nil
}
