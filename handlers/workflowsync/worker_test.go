package workflowsync_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/platform/reactor"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// edit returns wfs with the workflows of ids renamed (and updated later).
func edit(wfs []zuorasim.Workflow, ids ...int64) []zuorasim.Workflow {
	out := slices.Clone(wfs)
	for i := range out {
		if slices.Contains(ids, out[i].ID) {
			out[i].Name += " (edited)"
			out[i].UpdatedAt = out[i].UpdatedAt.Add(time.Hour)
		}
	}
	return out
}

// without returns wfs without the workflows of ids.
func without(wfs []zuorasim.Workflow, ids ...int64) []zuorasim.Workflow {
	return slices.DeleteFunc(slices.Clone(wfs), func(w zuorasim.Workflow) bool { return slices.Contains(ids, w.ID) })
}

func TestImportEditsAndDeletionsAreCountedExactly(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	wfs := zuorasim.GenerateWorkflows(120, simBase)
	id := e.addCustomer(t, "tenant-a", wfs)

	first := e.sync(t, id, false)
	require.Equal(t, syncRun{Status: "completed", Created: 120, Tot: 120, Errors: []string{}, Pages: 3}, first)
	rows := e.rows(t, id)
	require.Len(t, rows, 120)
	require.Equal(t, wfs[6].Name, rows[7].Name)
	require.True(t, wfs[6].UpdatedAt.Equal(rows[7].UpdatedAt))

	// Upstream: 5 edited, 10 deleted, 3 new.
	next := without(edit(wfs, 1, 2, 3, 50, 51), 100, 101, 102, 103, 104, 105, 106, 107, 108, 109)
	next = append(next, zuorasim.Workflow{ID: 500, Name: "new 500"}, zuorasim.Workflow{ID: 501, Name: "new 501"},
		zuorasim.Workflow{ID: 502, Name: "new 502"})
	e.putTenant(t, "tenant-a", next)
	second := e.sync(t, id, false)
	require.Equal(t, syncRun{Status: "completed", Created: 3, Updated: 5, Deleted: 10, Unchanged: 105, Tot: 113,
		Errors: []string{}, Pages: 3}, second)
	rows = e.rows(t, id)
	require.Len(t, rows, 113)
	require.Equal(t, "Workflow 50 (edited)", rows[50].Name)
	require.NotContains(t, rows, int64(100))
	require.Contains(t, rows, int64(502))

	seq := e.lastSeq(t, id)
	third := e.sync(t, id, false)
	require.Equal(t, syncRun{Status: "completed", Unchanged: 113, Tot: 113, Errors: []string{}, Pages: 3}, third)
	require.Equal(t, seq+3, e.lastSeq(t, id), "an unchanged listing appends only started, its runner's claim and completed")
}

func TestFailingPageDeletesNothingAndListsTheErrors(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	wfs := zuorasim.GenerateWorkflows(120, simBase)
	id := e.addCustomer(t, "tenant-a", wfs)
	require.Equal(t, "completed", e.sync(t, id, false).Status)

	e.putTenant(t, "tenant-a", edit(without(wfs, 5, 6, 7), 60))
	require.NoError(t, e.sim.AddFault("tenant-a", zuorasim.Fault{Page: 3, Status: 500, Times: 1000}))
	r := e.sync(t, id, false)
	require.Equal(t, "failed", r.Status)
	require.Equal(t, 0, r.Deleted)
	require.Equal(t, 1, r.Updated, "page 2's edit was stored")
	require.Len(t, r.Errors, 3, "one error per attempt")
	for _, msg := range r.Errors {
		require.Contains(t, msg, "page 3")
	}
	require.Contains(t, r.Reason, "nothing was deleted")
	require.Len(t, e.rows(t, id), 120, "nothing deleted")

	require.NoError(t, e.sim.ClearFaults("tenant-a"))
	r = e.sync(t, id, false)
	require.Equal(t, syncRun{Status: "completed", Deleted: 3, Unchanged: 117, Tot: 117, Errors: []string{}, Pages: 3}, r)
	require.Len(t, e.rows(t, id), 117)
}

func TestRateLimitThenSuccessCountsOnce(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	id := e.addCustomer(t, "tenant-a", zuorasim.GenerateWorkflows(150, simBase))
	// The client tries a page twice: three 429s on page 2 fail the first
	// listing (after page 1 was stored); the sync's second attempt lists it all.
	require.NoError(t, e.sim.AddFault("tenant-a", zuorasim.Fault{Page: 2, Status: 429, Times: 3, RetryAfter: 1}))
	r := e.sync(t, id, false)
	require.Equal(t, syncRun{Status: "completed", Created: 150, Tot: 150, Errors: []string{}, Pages: 3}, r)
	require.Len(t, e.rows(t, id), 150)
}

func TestExpiredTokenMidListingIsRefreshed(t *testing.T) {
	clock := &simClock{now: time.Now()}
	e := newSyncEnv(t, envOptions{sim: zuorasim.Options{Now: clock.Now, TokenTTL: time.Hour}})
	id := e.addCustomer(t, "tenant-a", zuorasim.GenerateWorkflows(200, simBase))
	var pages atomic.Int64
	e.setHook(func(_ http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/workflows" && pages.Add(1) == 2 {
			clock.Advance(2 * time.Hour) // the token expires under the client
		}
		return false
	})
	r := e.sync(t, id, false)
	require.Equal(t, syncRun{Status: "completed", Created: 200, Tot: 200, Errors: []string{}, Pages: 4}, r)
	require.Equal(t, int64(2), e.sim.Stats().TokenRequests, "one refresh")
}

func TestWrongSecretFailsAtOnce(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	id := e.addCustomer(t, "tenant-a", zuorasim.GenerateWorkflows(10, simBase))
	e.mu.Lock()
	e.secrets["tenant-a"] = "wrong"
	e.mu.Unlock()
	r := e.sync(t, id, false)
	require.Equal(t, "failed", r.Status)
	require.Len(t, r.Errors, 1, "unauthorized is not retried")
	require.Contains(t, r.Errors[0], "unauthorized")
}

func TestTwoCustomersWithTheSameZuoraIDsStayApart(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	wfs := zuorasim.GenerateWorkflows(60, simBase)
	a := e.addCustomer(t, "tenant-a", wfs)
	b := e.addCustomer(t, "tenant-b", edit(wfs, 1))
	require.Equal(t, 60, e.sync(t, a, false).Created)
	require.Equal(t, 60, e.sync(t, b, false).Created)
	require.Equal(t, "Workflow 1", e.rows(t, a)[1].Name)
	require.Equal(t, "Workflow 1 (edited)", e.rows(t, b)[1].Name)

	e.putTenant(t, "tenant-a", without(wfs, 1, 2))
	r := e.sync(t, a, false)
	require.Equal(t, 2, r.Deleted)
	require.Len(t, e.rows(t, a), 58)
	require.Len(t, e.rows(t, b), 60)
	require.Equal(t, syncRun{Status: "completed", Unchanged: 60, Tot: 60, Errors: []string{}, Pages: 2}, e.sync(t, b, false))
}

func TestDeletionGuard(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	wfs := zuorasim.GenerateWorkflows(100, simBase)
	id := e.addCustomer(t, "tenant-a", wfs)
	require.Equal(t, "completed", e.sync(t, id, false).Status)

	cases := []struct {
		name   string
		listed []zuorasim.Workflow
		reason string
	}{
		{"more than half", wfs[:40], "would delete 60 of 100 workflows, more than half"},
		{"all", nil, "would delete all 100 workflows"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.putTenant(t, "tenant-a", c.listed)
			r := e.sync(t, id, false)
			require.Equal(t, "failed", r.Status)
			require.Contains(t, r.Reason, c.reason)
			require.Equal(t, 0, r.Deleted)
			require.Len(t, e.rows(t, id), 100)
		})
	}
	e.putTenant(t, "tenant-a", wfs[:40])
	r := e.sync(t, id, true)
	require.Equal(t, syncRun{Status: "completed", Deleted: 60, Unchanged: 40, Tot: 40, Errors: []string{}, Pages: 1}, r)
	require.Len(t, e.rows(t, id), 40)
}

func TestUnstorableWorkflowIsAnErrorNamingIt(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	wfs := zuorasim.GenerateWorkflows(30, simBase)
	wfs[4].Name = "bad\x00name"
	id := e.addCustomer(t, "tenant-a", wfs)
	r := e.sync(t, id, false)
	require.Equal(t, "failed", r.Status)
	require.Equal(t, []string{"page 1: workflow 5: name contains a NUL character"}, r.Errors)
	require.Equal(t, 29, r.Created)
	require.Len(t, e.rows(t, id), 29)
}

func TestRedeliveredSyncStartedChangesNothing(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	id := e.addCustomer(t, "tenant-a", zuorasim.GenerateWorkflows(20, simBase))
	syncID := e.start(t, id, false)
	e.wait(t, syncID)
	seq := e.lastSeq(t, id)
	out, err := e.worker.RunSync(context.Background(), id, syncID)
	require.NoError(t, err)
	require.False(t, out.Ran)
	require.Equal(t, seq, e.lastSeq(t, id))
}

// simClock is the sim's clock, moved forward to expire tokens.
type simClock struct {
	mu  atomic.Pointer[time.Time]
	now time.Time
}

func (c *simClock) Now() time.Time {
	if p := c.mu.Load(); p != nil {
		return *p
	}
	return c.now
}

func (c *simClock) Advance(d time.Duration) {
	t := c.Now().Add(d)
	c.mu.Store(&t)
}

// With one slot, a second customer's sync.started is taken while the
// first sync runs (the reactor's window is not the number of slots, so the
// events behind a running sync keep flowing) but it waits for the slot:
// never two listings at once.
func TestSyncsWaitForAFreeSlotWhileEventsFlow(t *testing.T) {
	e := newSyncEnv(t, envOptions{worker: func(c *workflowsync.WorkerConfig) { c.Concurrency = 1 }})
	gate := make(chan struct{})
	open := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(open) // before the sim closes: a failed test must not hang on it
	var listing, most atomic.Int64
	e.setHook(func(_ http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/workflows" {
			return false
		}
		n := listing.Add(1)
		defer listing.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-gate
		return false
	})
	a := e.addCustomer(t, "tenant-a", zuorasim.GenerateWorkflows(60, simBase))
	b := e.addCustomer(t, "tenant-b", zuorasim.GenerateWorkflows(60, simBase))
	syncA := e.start(t, a, false)
	require.Eventually(t, func() bool { return listing.Load() == 1 }, 20*time.Second, 5*time.Millisecond, "A lists")
	syncB := e.start(t, b, false)

	ctx := context.Background()
	cons, err := e.store.JetStream().Consumer(ctx, workflows.Stream, reactor.Reactor{Name: workflowsync.ReactorName}.Consumer())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 2 && info.NumPending == 0
	}, 20*time.Second, 10*time.Millisecond, "B's sync.started is taken while A's sync runs")
	require.Equal(t, int64(1), listing.Load(), "B waits for the slot")

	open()
	require.Equal(t, "completed", e.wait(t, syncA).Status)
	require.Equal(t, "completed", e.wait(t, syncB).Status)
	require.Equal(t, int64(1), most.Load(), "never two listings at once")
}
