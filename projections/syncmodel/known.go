package syncmodel

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/workflows"
)

// Querier runs a query: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Fingerprints returns the fingerprints of customerID's stored workflows
// among ids (those no sync is deleting), by Zuora id: what a sync compares
// one listed page with. PostgreSQL hashes the descriptions; none is read.
func Fingerprints(ctx context.Context, db Querier, customerID uuid.UUID, ids []int64) (map[int64]workflows.Fingerprint, error) {
	out := make(map[int64]workflows.Fingerprint, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT zuora_id, name, status, created_at, updated_at, sha256(convert_to(description, 'UTF8'))
		FROM `+WorkflowsTable+` WHERE customer_id = $1 AND zuora_id = ANY($2) AND deleting_sync IS NULL`, customerID, ids)
	if err != nil {
		return nil, fmt.Errorf("stored workflows of %s: %w", customerID, err)
	}
	var (
		id              int64
		name, status    string
		created, update time.Time
		hash            []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &name, &status, &created, &update, &hash}, func() error {
		var h [sha256.Size]byte
		if copy(h[:], hash) != sha256.Size {
			return errors.New("description hash is not a SHA-256")
		}
		out[id] = workflows.FingerprintOf(name, status, created, update, h)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("stored workflows of %s: %w", customerID, err)
	}
	return out, nil
}

// StoredIDs returns, sorted, the Zuora ids of customerID's stored
// workflows that no sync is deleting: what a complete listing's deletions
// are found among (ids only, 8 bytes a workflow).
func StoredIDs(ctx context.Context, db Querier, customerID uuid.UUID) ([]int64, error) {
	rows, err := db.Query(ctx, `SELECT zuora_id FROM `+WorkflowsTable+`
		WHERE customer_id = $1 AND deleting_sync IS NULL ORDER BY zuora_id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("stored workflow ids of %s: %w", customerID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("stored workflow ids of %s: %w", customerID, err)
	}
	return ids, nil
}

// ErrCustomerHeld reports a customer whose events the read model holds
// back (an event of it is parked): its rows are not to be trusted until an
// operator retries or skips it.
var ErrCustomerHeld = errors.New("syncmodel: the read model holds back this customer's events (parked)")

// CustomerSeq returns the sequence of the last of customerID's events the
// read model applied (0 when it has no row), or ErrCustomerHeld when one
// of its events is parked. Its rows hold every event of the customer up
// to that sequence: events of one customer are applied in order.
func CustomerSeq(ctx context.Context, db Querier, customerID uuid.UUID) (uint64, error) {
	var seq int64
	var held bool
	err := db.QueryRow(ctx, `SELECT coalesce((SELECT seq FROM `+CustomersTable+` WHERE id = $1), 0),
		EXISTS (SELECT 1 FROM projection_parked WHERE projection = $2 AND aggregate = $3)`,
		customerID, Name, workflows.Subject(customerID.String())).Scan(&seq, &held)
	if err != nil {
		return 0, fmt.Errorf("read model of customer %s: %w", customerID, err)
	}
	if held {
		return uint64(seq), ErrCustomerHeld
	}
	return uint64(seq), nil
}
