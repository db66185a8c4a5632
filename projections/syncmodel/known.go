package syncmodel

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/workflows"
)

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// LoadKnown returns the workflows the read model holds for customerID, by
// Zuora id: what a sync diffs its listing against. Read it once the
// projection has applied the sync's sync.started event.
func LoadKnown(ctx context.Context, db Querier, customerID uuid.UUID) (map[int64]workflows.Workflow, error) {
	rows, err := db.Query(ctx, `SELECT zuora_id, name, description, status, created_at, updated_at
		FROM workflows WHERE customer_id = $1`, customerID)
	if err != nil {
		return nil, fmt.Errorf("known workflows of %s: %w", customerID, err)
	}
	out := map[int64]workflows.Workflow{}
	var w workflows.Workflow
	if _, err := pgx.ForEachRow(rows, []any{&w.ZuoraID, &w.Name, &w.Description, &w.Status, &w.CreatedAt, &w.UpdatedAt}, func() error {
		w.CreatedAt, w.UpdatedAt = w.CreatedAt.UTC(), w.UpdatedAt.UTC()
		out[w.ZuoraID] = w
		return nil
	}); err != nil {
		return nil, fmt.Errorf("known workflows of %s: %w", customerID, err)
	}
	return out, nil
}
