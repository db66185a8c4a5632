package workflowsync

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/projections/syncmodel"
	"github.com/eventline/eventline/zuora"
)

// Outcome is how a sync run by RunSync ended.
type Outcome struct {
	// Ran is false when the sync was not running (finished already, or run
	// by this process now): nothing was done.
	Ran bool
	// Completed is true for a completed sync, false for a failed one.
	Completed bool
	Reason    string
	Stats     workflows.Stats
	Pages     int
	Attempts  int
}

// run is the state of one sync in progress. It holds no stored workflow:
// each listed page is compared with the fingerprints of the page's ids in
// the read model (PostgreSQL hashes the descriptions), and the deletions
// of a complete listing are found among the stored ids, so that a sync's
// memory is bounded by its pages in flight and its ids, never by its
// customer's descriptions.
type run struct {
	w          *Worker
	customerID string
	syncID     string
	meta       aggregate.Meta
	limits     workflows.Limits
	// changed are the workflows this sync created or updated (any
	// attempt), with their fingerprints: they overlay the read model,
	// which may not have applied them yet.
	changed map[int64]changedWorkflow
	// progressAt is when the last sync.progressed was appended.
	progressAt time.Time
	// storedIDs are the Zuora ids the read model held at the sync's start,
	// sorted: with what the sync creates, the customer's workflows (only
	// the sync changes them while it runs). A page's fingerprints are read
	// for these ids only, so a first import reads none.
	storedIDs []int64
}

// changedWorkflow is a workflow a sync appended.
type changedWorkflow struct {
	fp      workflows.Fingerprint
	created bool
}

// attempt is what one listing of a sync saw.
type attempt struct {
	listed  map[int64]bool
	pages   int
	bytes   int64
	errs    []string // item errors: workflows that cannot be stored (the first maxItemErrors)
	nerrs   int      // item errors in all
	err     error    // the listing's error, if it stopped
	done    bool     // complete and error-free
	stopped bool     // the sync is no longer running: stop at once
}

// RunSync runs sync syncID of customerID, which must be running in the
// customer's state: it lists the customer's Zuora workflows, appends the
// created and updated ones page by page, and ends the sync with
// sync.completed (after the deletions of a complete, error-free listing
// that passes the deletion guard) or sync.failed (nothing deleted). A
// listing that fails for a transient reason is tried again, up to
// RetryAttempts times, within the same sync. The error is for the caller's
// retry only (the event store unreachable); the sync's own failures are in
// its events and the Outcome.
func (w *Worker) RunSync(ctx context.Context, customerID, syncID string) (Outcome, error) {
	if !w.claim(syncID) {
		return Outcome{}, nil
	}
	defer w.release(syncID)
	state, seq, err := w.customers.Load(ctx, customerID)
	if err != nil {
		return Outcome{}, reactor.Transient(fmt.Errorf("load customer %s: %w", customerID, err))
	}
	if state.Running == nil || state.Running.SyncID != syncID {
		return Outcome{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.SyncTimeout-min(w.cfg.SyncTimeout/10, time.Minute))
	defer cancel()
	stopAfter := context.AfterFunc(w.stop, cancel)
	defer stopAfter()
	meta := aggregate.Meta{CorrelationID: syncID, CausationID: syncID}
	// The sync is claimed in the customer's events before anything is
	// listed: one runner per sync, and a sync without one is waiting for
	// a slot, not interrupted.
	if state.Running.Runner == "" {
		res, err := w.customers.Handle(ctx, customerID, workflows.Begin{SyncID: syncID, Runner: w.cfg.Runner}, meta)
		switch {
		case errors.Is(err, workflows.ErrClaimed), errors.Is(err, workflows.ErrNotRunning), errors.Is(err, workflows.ErrNoCustomer):
			return Outcome{}, nil
		case err != nil:
			return Outcome{}, reactor.Transient(fmt.Errorf("begin sync %s of customer %s: %w", syncID, customerID, err))
		}
		seq = res.Seq
	} else if state.Running.Runner != w.cfg.Runner {
		return Outcome{}, nil // begun by another process: that one runs it, or the sweep fails it
	}
	began := time.Now()
	w.metrics.started.Inc()
	log := w.log.With("customer", customerID, "sync", syncID)
	log.Info("sync running", "trigger", state.Running.Trigger)
	r := &run{w: w, customerID: customerID, syncID: syncID, changed: map[int64]changedWorkflow{}, meta: meta,
		limits: w.limits(state.Limits), progressAt: time.Now()}
	out, err := r.sync(ctx, seq, state.Running.AllowMassDelete)
	w.metrics.duration.Observe(time.Since(began).Seconds())
	if err != nil {
		log.Warn("sync not recorded", "err", err)
		return out, err
	}
	if out.Completed {
		log.Info("sync completed", "created", out.Stats.Created, "updated", out.Stats.Updated, "deleted", out.Stats.Deleted,
			"unchanged", out.Stats.Unchanged, "total", out.Stats.Total, "pages", out.Pages, "took", time.Since(began))
	} else if out.Ran {
		log.Warn("sync failed", "reason", out.Reason, "errors", len(out.Stats.Errors), "took", time.Since(began))
	}
	return out, nil
}

// sync runs the sync whose customer's events up to seq are known.
func (r *run) sync(ctx context.Context, seq uint64, allowMassDelete bool) (Outcome, error) {
	w := r.w
	began := time.Now()
	out := Outcome{Ran: true}
	refused := false
	failWith := func(reason string, st workflows.Stats, pages int) (Outcome, error) {
		switch {
		case w.stop.Err() != nil:
			reason = ReasonInterrupted
		case ctx.Err() != nil:
			reason = fmt.Sprintf("timed out after %s (%s); nothing was deleted", time.Since(began).Round(time.Second), reason)
		}
		out.Reason, out.Pages = reason, pages
		res, err := w.failRecorded(ctx, r.customerID, r.syncID, failure{reason: reason, refused: refused}, st, pages)
		out.Stats = finalStats(w, res, st)
		return out, err
	}
	// Creates and deletions are decided against the read model, so it
	// must hold every event of this customer up to the sync's start, and
	// none of them held back (parked).
	if err := w.waitCustomer(ctx, r.customerID, seq); err != nil {
		return failWith(fmt.Sprintf("%s: %v; nothing was deleted", ReasonReadModelBehind, err), workflows.Stats{}, 0)
	}
	cid, err := uuid.Parse(r.customerID)
	if err != nil {
		return failWith(fmt.Sprintf("customer id %q: %v", r.customerID, err), workflows.Stats{}, 0)
	}
	if r.storedIDs, err = syncmodel.StoredIDs(ctx, w.cfg.Pool, cid); err != nil {
		return failWith(fmt.Sprintf("%v; nothing was deleted", err), workflows.Stats{}, 0)
	}
	cfg, err := w.cfg.Credentials(ctx, r.customerID)
	if err != nil {
		return failWith(fmt.Sprintf("credentials: %v", err), workflows.Stats{}, 0)
	}
	if cfg.PageLength == 0 {
		cfg.PageLength = w.cfg.PageLength
	}
	if cfg.Logger == nil {
		cfg.Logger = w.log
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = w.cfg.HTTPClient // shared and bounded, never one per sync
	}
	client := zuora.New(cfg)
	var attemptErrs []string
	// A listing that failed for a reason that may pass is tried again
	// after RetryDelay, doubled at each attempt, or what the last answer's
	// Retry-After asked when that is longer.
	delays := &retryAfterFloor{BackOff: &backoff.ExponentialBackOff{InitialInterval: w.cfg.RetryDelay, Multiplier: 2,
		MaxInterval: time.Duration(math.MaxInt64)}}
	a, _ := backoff.Retry(ctx, func() (attempt, error) {
		out.Attempts++
		a := r.list(ctx, client)
		if a.stopped || a.done || len(a.errs) > 0 && a.err == nil {
			return a, nil // stopped, or complete (item errors are not retried: the data is wrong)
		}
		attemptErrs = append(attemptErrs, fmt.Sprintf("attempt %d: %v", out.Attempts, a.err))
		if !retryable(a.err) {
			return a, backoff.Permanent(a.err)
		}
		delays.floor = 0
		var apiErr *zuora.APIError
		if errors.As(a.err, &apiErr) {
			delays.floor = apiErr.RetryAfter
		}
		return a, a.err
	}, backoff.WithBackOff(delays), backoff.WithMaxTries(uint(w.cfg.RetryAttempts)), backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, in time.Duration) {
			w.log.Info("sync listing failed: retrying", "customer", r.customerID, "sync", r.syncID, "attempt", out.Attempts, "in", in, "err", err)
		}))
	if a.stopped {
		return out, nil
	}
	st := r.stats(a)
	if !a.done {
		st.Errors = append(append([]string{}, a.errs...), attemptErrs...)
		if more := a.nerrs - len(a.errs); more > 0 {
			st.Errors = append(st.Errors, fmt.Sprintf("and %d more workflow(s) that could not be stored", more))
		}
		reason := "listing incomplete: nothing was deleted"
		switch {
		case a.err != nil:
			reason = fmt.Sprintf("listing failed after %d attempt(s): %v; nothing was deleted", out.Attempts, a.err)
			refused = errors.Is(a.err, zuora.ErrUnauthorized) || errors.Is(a.err, zuora.ErrForbidden)
		case a.nerrs > 0:
			reason = fmt.Sprintf("%d workflow(s) could not be stored; nothing was deleted", a.nerrs)
		}
		return failWith(reason, st, a.pages)
	}
	gone := workflows.Gone(r.storedIDs, func(id int64) bool { return a.listed[id] })
	if err := workflows.GuardDeletion(r.knownCount(r.storedIDs), len(gone), allowMassDelete); err != nil {
		return failWith(err.Error(), st, a.pages)
	}
	for len(gone) > 0 {
		chunk := gone[:min(len(gone), workflows.MaxPerCommand)]
		gone = gone[len(chunk):]
		if _, err := w.customers.Handle(ctx, r.customerID, workflows.Delete{SyncID: r.syncID, ZuoraIDs: chunk}, r.meta); err != nil {
			if stoppedBy(err) {
				return out, nil
			}
			return failWith(fmt.Sprintf("delete: %v", err), st, a.pages)
		}
		w.metrics.workflows.WithLabelValues("deleted").Add(float64(len(chunk)))
	}
	res, err := w.customers.Handle(ctx, r.customerID, workflows.Complete{SyncID: r.syncID, Stats: st, Pages: a.pages, Now: w.cfg.Now()}, r.meta)
	if stoppedBy(err) {
		return out, nil
	}
	if err != nil {
		return failWith(fmt.Sprintf("complete: %v", err), st, a.pages)
	}
	w.metrics.completed.Inc()
	out.Completed, out.Pages, out.Stats = true, a.pages, finalStats(w, res, st)
	return out, nil
}

// finalStats returns the stats the finishing event of res recorded (the
// created, updated and deleted counts come from the aggregate), or st.
func finalStats(w *Worker, res aggregate.Result[workflows.Customer], st workflows.Stats) workflows.Stats {
	for _, ev := range res.Events {
		data, err := w.cfg.Registry.Decode(ev.Envelope)
		if err != nil {
			continue
		}
		switch e := data.(type) {
		case *workflows.SyncCompleted:
			return e.Stats
		case *workflows.SyncFailed:
			return e.Stats
		}
	}
	return st
}

// stats are the counts of the last attempt: total distinct workflows
// listed, of which unchanged are those this sync did not change.
func (r *run) stats(a attempt) workflows.Stats {
	st := workflows.Stats{Total: len(a.listed), Errors: []string{}}
	for id := range a.listed {
		if _, ok := r.changed[id]; !ok {
			st.Unchanged++
		}
	}
	return st
}

// knownCount is how many workflows the customer has for the deletion
// guard: those stored at the start (sorted) and those this sync created.
func (r *run) knownCount(stored []int64) int {
	n := len(stored)
	for id, c := range r.changed {
		if _, found := slices.BinarySearch(stored, id); c.created && !found {
			n++
		}
	}
	return n
}

// stoppedBy reports an error that means the sync is no longer this run's
// to finish: it ended (failed by the sweep, cancelled by the customer's
// deletion) or its customer is gone.
func stoppedBy(err error) bool {
	return errors.Is(err, workflows.ErrNotRunning) || errors.Is(err, workflows.ErrNoCustomer)
}

// ErrNoProgress reports a listing stopped for not making progress: pages
// that bring no workflow not listed already (a tenant repeating ids). It is
// not retried: the next scheduled sync tries again.
var ErrNoProgress = errors.New("listing makes no progress")

// ErrOverLimit reports a listing stopped at one of its customer's bounds:
// more workflows, or more bytes of pages, than one sync may take in (a
// tenant that never ends, or one serving huge pages). It is not retried.
var ErrOverLimit = errors.New("listing over the customer's bound")

// maxItemErrors bounds the item errors a sync records (the others are
// counted): a tenant of bad workflows cannot make the sync's event grow.
const maxItemErrors = 100

// progressEvery is how often a running sync records how far it has come
// when its pages change nothing (pages that change workflows record it
// with their changes).
const progressEvery = time.Second

// stalePages is how many pages in a row may bring no new workflow before a
// listing stops with ErrNoProgress.
const stalePages = 3

// pageWork is a listed page's workflows waiting to be appended.
type pageWork struct {
	number int
	wfs    []workflows.Workflow
	// listed and bytes are the listing's counts after the page.
	listed int
	bytes  int64
	// stored are the read model's fingerprints of the page's workflows.
	stored map[int64]workflows.Fingerprint
}

// list runs one listing. Pages are appended by a goroutine of their own,
// in order, while the next pages are fetched (a few pages ahead at most),
// so that a slow upstream and the appends overlap.
func (r *run) list(ctx context.Context, client *zuora.Client) attempt {
	a := attempt{listed: map[int64]bool{}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan pageWork, 4)
	var appendErr error
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for pw := range work {
			if appendErr != nil {
				continue // drain
			}
			if appendErr = r.apply(ctx, pw); appendErr != nil {
				cancel()
			}
		}
	}()
	stale := 0 // pages in a row that listed nothing new
	listing, err := client.ListWorkflows(ctx, func(p zuora.Page) error {
		before := len(a.listed)
		a.bytes += int64(p.Bytes)
		if a.bytes > r.limits.MaxBytes {
			return fmt.Errorf("%w: more than %d bytes of pages read (page %d)", ErrOverLimit, r.limits.MaxBytes, p.Number)
		}
		page := make([]workflows.Workflow, 0, len(p.Workflows))
		for _, zw := range p.Workflows {
			if a.listed[zw.ID] {
				continue // listed on an earlier page: counts once
			}
			if msg := unstorable(zw); msg != "" {
				if a.nerrs++; len(a.errs) < maxItemErrors {
					a.errs = append(a.errs, fmt.Sprintf("page %d: workflow %d: %s", p.Number, zw.ID, msg))
				}
				a.listed[zw.ID] = true // kept, never deleted for it
				continue
			}
			page = append(page, workflows.Workflow{ZuoraID: zw.ID, Name: zw.Name, Description: zw.Description,
				Status: zw.Status, CreatedAt: zw.CreatedAt.UTC(), UpdatedAt: zw.UpdatedAt.UTC()})
		}
		for _, wf := range page {
			a.listed[wf.ZuoraID] = true
		}
		r.w.metrics.pages.Inc()
		a.pages = p.Number
		// A listing is bounded by its progress, not only by its time: a
		// tenant serving the same ids again, or ids without end, fails
		// fast instead of holding a sync slot until the time limit.
		if len(a.listed) == before {
			if stale++; stale >= stalePages {
				return fmt.Errorf("%w: pages %d to %d listed no workflow not listed before", ErrNoProgress, p.Number-stalePages+1, p.Number)
			}
		} else {
			stale = 0
		}
		if len(a.listed) > r.limits.MaxWorkflows {
			return fmt.Errorf("%w: more than %d workflows listed (page %d)", ErrOverLimit, r.limits.MaxWorkflows, p.Number)
		}
		stored, err := r.stored(ctx, page)
		if err != nil {
			return fmt.Errorf("page %d: %w", p.Number, err)
		}
		select {
		case work <- pageWork{number: p.Number, wfs: page, listed: len(a.listed), bytes: a.bytes, stored: stored}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(work)
	<-appended
	if appendErr != nil {
		err = appendErr // the listing stopped for it
	}
	if stoppedBy(err) {
		a.stopped = true
		return a
	}
	a.err = err
	a.done = err == nil && listing.Complete && a.nerrs == 0
	if err == nil && !listing.Complete {
		a.err = errors.New("listing not complete")
	}
	return a
}

// apply compares one page with the read model (and what this sync
// appended), appends its created and updated workflows, and records the
// listing's progress with them, or alone every progressEvery.
func (r *run) apply(ctx context.Context, pw pageWork) error {
	var progress *workflows.SyncProgressed
	known := r.fingerprints(pw.wfs, pw.stored)
	changes := len(workflows.Diff(pw.wfs, known)) > 0
	if changes || time.Since(r.progressAt) >= progressEvery {
		progress = &workflows.SyncProgressed{Pages: pw.number, Listed: pw.listed, Bytes: pw.bytes}
		r.progressAt = time.Now()
	}
	if !changes && progress == nil {
		return nil
	}
	res, err := r.w.customers.Handle(ctx, r.customerID, workflows.Apply{SyncID: r.syncID, Listed: pw.wfs, Known: known,
		Progress: progress}, r.meta)
	if err != nil {
		return fmt.Errorf("append page %d: %w", pw.number, err)
	}
	for _, ev := range res.Events {
		data, err := r.w.cfg.Registry.Decode(ev.Envelope)
		if err != nil {
			return fmt.Errorf("page %d: %w", pw.number, err)
		}
		if c, ok := data.(*workflows.WorkflowChanged); ok {
			prev, seen := r.changed[c.Workflow.ZuoraID]
			r.changed[c.Workflow.ZuoraID] = changedWorkflow{fp: c.Workflow.Fingerprint(),
				created: ev.Envelope.Type == workflows.WorkflowCreatedV1 || seen && prev.created}
			r.w.metrics.workflows.WithLabelValues(strings.TrimSuffix(strings.TrimPrefix(ev.Envelope.Type, "workflow."), ".v1")).Inc()
		}
	}
	return nil
}

// stored reads the fingerprints the read model holds for the page's
// workflows. The listing reads them while the previous page is appended;
// apply overlays what this sync appended since.
func (r *run) stored(ctx context.Context, page []workflows.Workflow) (map[int64]workflows.Fingerprint, error) {
	ids := make([]int64, 0, len(page))
	for _, wf := range page {
		if _, ok := slices.BinarySearch(r.storedIDs, wf.ZuoraID); ok {
			ids = append(ids, wf.ZuoraID)
		}
	}
	if len(ids) == 0 {
		return map[int64]workflows.Fingerprint{}, nil
	}
	cid, err := uuid.Parse(r.customerID)
	if err != nil {
		return nil, fmt.Errorf("customer id %q: %w", r.customerID, err)
	}
	return syncmodel.Fingerprints(ctx, r.w.cfg.Pool, cid, ids)
}

// fingerprints returns the fingerprints of the page's workflows as stored:
// what this sync appended, else what the read model held (stored).
func (r *run) fingerprints(page []workflows.Workflow, stored map[int64]workflows.Fingerprint) map[int64]workflows.Fingerprint {
	for _, wf := range page {
		if c, ok := r.changed[wf.ZuoraID]; ok {
			stored[wf.ZuoraID] = c.fp
		}
	}
	return stored
}

// unstorable says why a workflow cannot be stored ("" when it can): a
// field over its bound (workflows.MaxNameBytes, …), text PostgreSQL
// refuses (NUL) or that is not UTF-8.
func unstorable(zw zuora.Workflow) string {
	for _, f := range []struct {
		name, v string
		max     int
	}{{"name", zw.Name, workflows.MaxNameBytes}, {"description", zw.Description, workflows.MaxDescriptionBytes},
		{"status", zw.Status, workflows.MaxStatusBytes}} {
		if len(f.v) > f.max {
			return fmt.Sprintf("%s is %d bytes, more than %d", f.name, len(f.v), f.max)
		}
		if strings.IndexByte(f.v, 0) >= 0 {
			return f.name + " contains a NUL character"
		}
		if !utf8.ValidString(f.v) {
			return f.name + " is not valid UTF-8"
		}
	}
	return ""
}

// retryAfterFloor is a backoff that waits at least floor: what the last
// failed attempt's answer asked with Retry-After.
type retryAfterFloor struct {
	backoff.BackOff
	floor time.Duration
}

// NextBackOff is the backoff's next delay, or floor when longer.
func (b *retryAfterFloor) NextBackOff() time.Duration { return max(b.BackOff.NextBackOff(), b.floor) }

// retryable reports whether a failed listing may succeed when tried again:
// rate limits, unavailability and store hiccups may; refused credentials,
// refused requests and unusable answers may not.
func retryable(err error) bool {
	for _, perm := range []error{zuora.ErrUnauthorized, zuora.ErrForbidden, zuora.ErrNotFound, zuora.ErrBadRequest,
		zuora.ErrBadResponse, zuora.ErrPagination, zuora.ErrInvalidConfig, ErrNoProgress, ErrOverLimit, context.Canceled,
		context.DeadlineExceeded} {
		if errors.Is(err, perm) {
			return false
		}
	}
	return err != nil
}
