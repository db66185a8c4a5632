package workflowsync_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// interruptedSync leaves customer id (100 workflows stored) with a sync
// that appended an update and 10 deletions, then stopped as a killed
// process would, and returns its id.
func interruptedSync(t *testing.T, e *syncEnv, id string) string {
	t.Helper()
	ctx := context.Background()
	first := e.start(t, id, false)
	out, err := e.worker.RunSync(ctx, id, first)
	require.NoError(t, err)
	require.True(t, out.Completed)
	syncID := e.start(t, id, false)
	e.waitReadModel(t, id)
	known := e.rows(t, id)
	require.Len(t, known, 100)
	// Begun by a process that then died.
	_, err = e.customers.Handle(ctx, id, workflows.Begin{SyncID: syncID, Runner: "dead-process"}, aggregate.Meta{})
	require.NoError(t, err)
	changed := known[1]
	changed.Name = "changed upstream"
	_, err = e.customers.Handle(ctx, id, workflows.Apply{SyncID: syncID, Listed: []workflows.Workflow{changed},
		Known: map[int64]workflows.Fingerprint{1: known[1].Fingerprint()}}, aggregate.Meta{})
	require.NoError(t, err)
	_, err = e.customers.Handle(ctx, id, workflows.Delete{SyncID: syncID, ZuoraIDs: []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}, aggregate.Meta{})
	require.NoError(t, err)
	e.waitReadModel(t, id)
	var marked int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM workflows WHERE deleting_sync = $1`, syncID).Scan(&marked))
	require.Equal(t, 10, marked)
	return syncID
}

func TestSweepFailsAnInterruptedSyncAndDeletesNothing(t *testing.T) {
	e := newSyncEnv(t, envOptions{noReactor: true})
	id := e.addCustomer(t, "tenant-a", zuorasim.GenerateWorkflows(100, simBase))
	syncID := interruptedSync(t, e, id)
	ctx := context.Background()

	n, err := e.worker.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "a sync whose last event is recent may still be running elsewhere")

	e.advance(36 * time.Minute) // past the default stale bound (35m)
	n, err = e.worker.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	r := e.wait(t, syncID)
	require.Equal(t, "failed", r.Status)
	require.Equal(t, workflowsync.ReasonInterrupted, r.Reason)
	require.Equal(t, 1, r.Updated)
	require.Equal(t, 0, r.Deleted)
	e.waitReadModel(t, id)
	require.Len(t, e.rows(t, id), 100, "nothing deleted")
	var marked int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM workflows WHERE deleting_sync IS NOT NULL`).Scan(&marked))
	require.Zero(t, marked)

	n, err = e.worker.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "failed once")

	// The next sync lists everything again: the update is undone by the
	// listing, nothing was lost.
	next := e.start(t, id, false)
	out, err := e.worker.RunSync(ctx, id, next)
	require.NoError(t, err)
	require.Equal(t, workflows.Stats{Updated: 1, Unchanged: 99, Total: 100, Errors: []string{}}, out.Stats)
}

func TestRedeliveredRunningSyncIsFailedAsInterrupted(t *testing.T) {
	e := newSyncEnv(t, envOptions{noReactor: true})
	id := e.addCustomer(t, "tenant-a", zuorasim.GenerateWorkflows(100, simBase))
	syncID := interruptedSync(t, e, id)
	ctx := context.Background()
	stored, _, err := e.store.Load(ctx, workflows.Stream, workflows.Subject(id))
	require.NoError(t, err)
	var started reactor.Event
	for _, s := range stored {
		if s.Envelope.Type == workflows.SyncStartedV1 {
			started = reactor.Event{Stream: s.Stream, Subject: s.Subject, Seq: s.Seq, Attempt: 2, Envelope: s.Envelope}
		}
	}
	handler := e.worker.Reactor().Handler
	require.NoError(t, handler(ctx, started, nil))
	r := e.wait(t, syncID)
	require.Equal(t, workflowsync.ReasonInterrupted, r.Reason)
	require.Len(t, e.rows(t, id), 100)

	seq := e.lastSeq(t, id)
	require.NoError(t, handler(ctx, started, nil), "again: the sync is over")
	started.Attempt = 1
	require.NoError(t, handler(ctx, started, nil))
	require.Equal(t, seq, e.lastSeq(t, id), "nothing appended")
}

func TestOtherEventsAreIgnored(t *testing.T) {
	e := newSyncEnv(t, envOptions{noReactor: true})
	id := e.addCustomer(t, "tenant-a", nil)
	stored, _, err := e.store.Load(context.Background(), workflows.Stream, workflows.Subject(id))
	require.NoError(t, err)
	require.NoError(t, e.worker.Reactor().Handler(context.Background(),
		reactor.Event{Subject: stored[0].Subject, Attempt: 1, Envelope: stored[0].Envelope}, nil))
	require.Equal(t, uint64(stored[0].Seq), e.lastSeq(t, id))
}

func TestShutdownFailsTheSyncInFlightAndDeletesNothing(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	wfs := zuorasim.GenerateWorkflows(120, simBase)
	id := e.addCustomer(t, "tenant-a", wfs)
	require.Equal(t, "completed", e.sync(t, id, false).Status)
	e.putTenant(t, "tenant-a", wfs[:110])
	reached := make(chan struct{})
	var once sync.Once
	e.setHook(func(_ http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/workflows" && r.URL.Query().Get("page") == "3" {
			once.Do(func() { close(reached) })
			<-r.Context().Done() // hangs until the sync gives up
			return true
		}
		return false
	})
	syncID := e.start(t, id, false)
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatal("the sync never asked for page 3")
	}
	e.stopWorker()
	r := e.wait(t, syncID)
	require.Equal(t, "failed", r.Status)
	require.Equal(t, workflowsync.ReasonInterrupted, r.Reason)
	require.Len(t, e.rows(t, id), 120)
}

func TestNilWorkerDeclaresTheReactor(t *testing.T) {
	var w *workflowsync.Worker
	r := w.Reactor()
	require.NoError(t, r.Validate())
	require.Equal(t, "react_workflow_sync", r.Consumer())
	require.Equal(t, workflows.Stream, r.Stream)
	require.Error(t, r.Handler(context.Background(), reactor.Event{}, nil))
}
