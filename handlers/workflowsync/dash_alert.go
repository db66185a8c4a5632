package workflowsync

import (
	"context"
	"fmt"

	"github.com/eventline/eventline/platform/dashboard"
)

// alertCap bounds the customers the overview's banner counts.
const alertCap = 10_000

// alerts is the overview banner's line of workflow sync: the customers
// (not deleted) whose last sync failed.
func (r dashReads) alerts(ctx context.Context) ([]dashboard.Shout, error) {
	var n int64
	err := r.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM customers c
		JOIN LATERAL (SELECT status FROM sync_runs s WHERE s.customer_id = c.id
			ORDER BY s.started_at DESC, s.sync_id DESC LIMIT 1) s ON true
		WHERE c.deleted_at IS NULL AND s.status = 'failed' LIMIT $1) x`, alertCap+1).Scan(&n)
	if err != nil {
		return nil, fmt.Errorf("count customers whose last sync failed: %w", err)
	}
	text := "customers whose last sync failed"
	if n == 1 {
		text = "customer whose last sync failed"
	}
	return []dashboard.Shout{{Level: dashboard.ShoutBad, Count: min(n, alertCap), Approx: n > alertCap, Text: text, Link: "/customers"}}, nil
}
