package workflowsync_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// TestASlotIsKeptForCustomersThatDoNotFail: with two sync slots, two
// customers whose last sync failed, now stuck in a slow listing, hold one
// slot between them; a healthy customer's sync takes the reserved slot
// and completes meanwhile (before, the failing tenants took every slot and
// it waited behind them).
func TestASlotIsKeptForCustomersThatDoNotFail(t *testing.T) {
	e := newSyncEnv(t, envOptions{worker: func(c *workflowsync.WorkerConfig) { c.Concurrency = 2 }})
	gate := make(chan struct{})
	open := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(open)
	var slowListing atomic.Int64
	e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.URL.Path == "/oauth/token":
			// Tenants slow-* get a token of the hook's when their secret is right.
			_ = r.ParseForm()
			cid := r.PostForm.Get("client_id")
			if !strings.HasPrefix(cid, "slow-") || r.PostForm.Get("client_secret") != simSecret {
				return false
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"token-` + cid + `","token_type":"bearer","expires_in":3599}`))
			return true
		case r.URL.Path == "/workflows" && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer token-slow-"):
			slowListing.Add(1)
			<-gate
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"data":[],"pagination":{"page":1,"page_length":50}}`))
			return true
		}
		return false
	})
	a := e.addCustomer(t, "slow-a", zuorasim.GenerateWorkflows(10, simBase))
	b := e.addCustomer(t, "slow-b", zuorasim.GenerateWorkflows(10, simBase))
	healthy := e.addCustomer(t, "healthy", zuorasim.GenerateWorkflows(10, simBase))
	// A and B fail once (a wrong secret), then list slowly.
	e.mu.Lock()
	e.secrets["slow-a"], e.secrets["slow-b"] = "wrong-secret", "wrong-secret"
	e.mu.Unlock()
	require.Equal(t, "failed", e.sync(t, a, false).Status)
	require.Equal(t, "failed", e.sync(t, b, false).Status)
	e.mu.Lock()
	e.secrets["slow-a"], e.secrets["slow-b"] = simSecret, simSecret
	e.mu.Unlock()

	syncA := e.start(t, a, false)
	require.Eventually(t, func() bool { return slowListing.Load() == 1 }, 20*time.Second, 5*time.Millisecond, "A lists")
	syncB := e.start(t, b, false)
	syncC := e.start(t, healthy, false)
	require.Equal(t, "completed", e.wait(t, syncC).Status, "the healthy customer's sync ran while the failing ones held their slot")
	require.Equal(t, int64(1), slowListing.Load(), "B waits: failing customers share the other slots")
	open()
	require.Equal(t, "completed", e.wait(t, syncA).Status)
	require.Equal(t, "completed", e.wait(t, syncB).Status)
}
