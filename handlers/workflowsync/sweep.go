package workflowsync

import (
	"context"
	"errors"
	"fmt"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/projections/syncmodel"
)

// Recovery: a sync is failed, never resumed. A process that stops mid-sync
// (kill -9, a crash, a lost node) leaves its sync running in the customer's
// state, with whatever pages it appended; workflow.deleted events it may
// have appended take effect only with sync.completed, which it never
// appended, so nothing was deleted. The sweep ends such a sync with
// sync.failed (ReasonInterrupted): the read model then clears the marks, the
// created and updated workflows stay (they were listed), and the next
// trigger lists everything again. Resuming instead would have to trust a
// listing split across two processes and two points in time; failing is
// the answer that is always safe.
//
// A sync that no process has begun (no runner in its events) is waiting for
// a slot, not interrupted: the sweep leaves it alone for WaitBound.
//
// A running sync is taken for interrupted when this process is not running
// it and its last event is older than StaleAfter, which exceeds SyncTimeout:
// no process runs a sync longer than SyncTimeout (the reactor's AckWait and
// the sync's own deadline), so none can still be running it. A sync.started
// redelivered while its sync is running (the delivery that ran it timed out
// or its process died) is failed the same way, at once.

// Sweep fails the running syncs that no process can still be running and
// returns how many it failed. It reads the running syncs from the read
// model's sync_runs and checks each against the customer's state.
func (w *Worker) Sweep(ctx context.Context) (int, error) {
	list, err := syncmodel.RunningSyncs(ctx, w.cfg.Pool)
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	n := 0
	var errs []error
	for _, p := range list {
		failed, err := w.sweepOne(ctx, p.CustomerID, p.SyncID)
		if err != nil {
			errs = append(errs, err)
		}
		if failed {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// sweepOne fails sync syncID of customerID when it is interrupted.
func (w *Worker) sweepOne(ctx context.Context, customerID, syncID string) (bool, error) {
	if w.isLocal(syncID) {
		return false, nil
	}
	state, seq, err := w.customers.Load(ctx, customerID)
	if err != nil {
		return false, fmt.Errorf("sweep: load customer %s: %w", customerID, err)
	}
	if state.Running == nil || state.Running.SyncID != syncID || seq == 0 {
		return false, nil // finished meanwhile (the read model lags)
	}
	last, err := w.cfg.Store.Get(ctx, workflows.Stream, seq)
	if err != nil {
		return false, fmt.Errorf("sweep: last event of customer %s: %w", customerID, err)
	}
	reason, bound := ReasonInterrupted, w.cfg.StaleAfter
	if state.Running.Runner == "" {
		// Waiting for a slot (or for a sync process to come back): it is
		// not interrupted, only one that no process began in WaitBound.
		reason, bound = fmt.Sprintf("%s: no sync process began it within %s; nothing was deleted", ReasonNeverBegun, w.cfg.WaitBound), w.cfg.WaitBound
	}
	if age := w.cfg.Now().Sub(last.Time); age < bound {
		return false, nil
	}
	if w.isLocal(syncID) {
		return false, nil
	}
	w.log.Warn("failing a sync no process runs", "customer", customerID, "sync", syncID, "last_event", last.Time, "reason", reason)
	res, err := w.failRecorded(ctx, customerID, syncID, failure{reason: reason}, workflows.Stats{}, 0)
	if err != nil {
		return false, fmt.Errorf("sweep: %w", err)
	}
	return len(res.Events) > 0, nil
}
