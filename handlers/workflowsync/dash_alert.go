package workflowsync

import (
	"context"

	"github.com/eventline/eventline/platform/dashboard"
	"github.com/eventline/eventline/projections/syncmodel"
)

// alertCap bounds the customers the overview's banner counts.
const alertCap = 10_000

// alerts is the overview banner's line of workflow sync: the customers
// (not deleted) whose last sync failed.
func (r dashReads) alerts(ctx context.Context) ([]dashboard.Shout, error) {
	n, err := syncmodel.CountLastFailed(ctx, r.pool, alertCap)
	if err != nil {
		return nil, err
	}
	text := "customers whose last sync failed"
	if n == 1 {
		text = "customer whose last sync failed"
	}
	return []dashboard.Shout{{Level: dashboard.ShoutBad, Count: min(n, alertCap), Approx: n > alertCap, Text: text, Link: "/customers"}}, nil
}
