package logsapi

import (
	"context"
	"fmt"
	"time"

	"github.com/eventline/eventline/platform/dashboard"
)

// pendingTooLong is how long an accepted entry may wait for PostgreSQL
// before the overview's banner says so.
const pendingTooLong = time.Minute

// alerts is the overview banner's line of ingest: entries accepted and
// still not in PostgreSQL after pendingTooLong.
func (ld *logsDashboard) alerts(ctx context.Context) ([]dashboard.Shout, error) {
	v, err := ld.h.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return pendingShouts(v.Pending, time.Duration(v.OldestPendingAgeM)*time.Millisecond), nil
}

// pendingShouts is the banner's line for pending entries, the oldest of
// which waited age: none unless it waited pendingTooLong.
func pendingShouts(pending int64, age time.Duration) []dashboard.Shout {
	if pending == 0 || age < pendingTooLong {
		return nil
	}
	return []dashboard.Shout{{Level: dashboard.ShoutBad, Count: pending,
		Text: fmt.Sprintf("log entries pending, the oldest for %s (PostgreSQL behind or down?)", dashboard.Ago(age)),
		Link: "/logs"}}
}
