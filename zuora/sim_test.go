package zuora_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/zuora"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// startSim serves tenant-a (testSecret, n workflows, mixed time formats)
// from an in-process zuora-sim.
func startSim(t testing.TB, n int, opts zuorasim.Options) (*zuorasim.Server, *httptest.Server) {
	t.Helper()
	sim, err := zuorasim.New(opts, map[string]zuorasim.Tenant{
		"tenant-a": {
			ClientSecret: testSecret,
			Workflows:    zuorasim.GenerateWorkflows(n, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)),
			TimeFormat:   zuorasim.TimeMixed,
		},
	})
	require.NoError(t, err)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv
}

func TestListsTenThousandWorkflowsFromTheSimExactly(t *testing.T) {
	sim, srv := startSim(t, 10_000, zuorasim.Options{})
	c := newTestClient(t, srv.URL, nil)
	wfs, listing, err := c.collect(context.Background())
	require.NoError(t, err)
	require.Equal(t, zuora.Listing{Pages: 200, Workflows: 10_000, Complete: true}, listing)
	want := zuorasim.GenerateWorkflows(10_000, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	require.Len(t, wfs, len(want))
	for i, w := range want {
		got := wfs[i]
		require.Equal(t, w.ID, got.ID)
		require.Equal(t, w.Name, got.Name)
		require.Equal(t, w.Description, got.Description)
		require.Equal(t, w.Status, got.Status)
		require.True(t, w.CreatedAt.Equal(got.CreatedAt), "id %d createdAt %s != %s", w.ID, got.CreatedAt, w.CreatedAt)
		require.True(t, w.UpdatedAt.Equal(got.UpdatedAt), "id %d updatedAt", w.ID)
	}
	st := sim.Stats()
	require.Equal(t, int64(1), st.TokenRequests)
	require.Equal(t, int64(200), st.PageRequests)
}

func TestSimFaultOnPageThreeIsRetried(t *testing.T) {
	sim, srv := startSim(t, 500, zuorasim.Options{})
	require.NoError(t, sim.AddFault("tenant-a", zuorasim.Fault{Page: 3, Status: 500, Times: 2}))
	c := newTestClient(t, srv.URL, nil)
	wfs, listing, err := c.collect(context.Background())
	require.NoError(t, err)
	require.True(t, listing.Complete)
	require.Len(t, wfs, 500)
	require.Len(t, c.sleeps.Delays(), 2)
	st := sim.Stats()
	require.Equal(t, int64(2), st.FaultsServed)
	require.Equal(t, int64(12), st.PageRequests)
}

func TestSimRateLimitWaitsRetryAfter(t *testing.T) {
	sim, srv := startSim(t, 120, zuorasim.Options{})
	require.NoError(t, sim.AddFault("tenant-a", zuorasim.Fault{Page: 2, Status: 429, Times: 1, RetryAfter: 1}))
	c := newTestClient(t, srv.URL, nil)
	wfs, listing, err := c.collect(context.Background())
	require.NoError(t, err)
	require.True(t, listing.Complete)
	require.Len(t, wfs, 120)
	require.Equal(t, []time.Duration{time.Second}, c.sleeps.Delays(), "the client waited what Retry-After asked")
}

func TestSimPageThatNeverRecoversFailsTheListing(t *testing.T) {
	sim, srv := startSim(t, 500, zuorasim.Options{})
	require.NoError(t, sim.AddFault("tenant-a", zuorasim.Fault{Page: 3, Status: 500, Times: 1000}))
	c := newTestClient(t, srv.URL, nil)
	var pages []int
	listing, err := c.ListWorkflows(context.Background(), func(p zuora.Page) error {
		pages = append(pages, p.Number)
		return nil
	})
	require.ErrorIs(t, err, zuora.ErrUnavailable)
	require.Contains(t, err.Error(), "page 3")
	require.False(t, listing.Complete, "a partial listing is never reported complete")
	require.Equal(t, []int{1, 2}, pages)
	require.Equal(t, zuora.Listing{Pages: 2, Workflows: 100}, listing)
	require.Len(t, c.sleeps.Delays(), 4) // 5 attempts
}

// simClock is the sim's own clock, moved forward to expire tokens.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func TestSimExpiredTokenMidListingRefreshesOnce(t *testing.T) {
	clock := &simClock{now: time.Now()}
	sim, srv := startSim(t, 1000, zuorasim.Options{Now: clock.Now})
	c := newTestClient(t, srv.URL, nil)
	listing, err := c.ListWorkflows(context.Background(), func(p zuora.Page) error {
		if p.Number == 5 { // the sim's clock jumps past the token's lifetime; the client's does not
			clock.mu.Lock()
			clock.now = clock.now.Add(time.Hour)
			clock.mu.Unlock()
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, zuora.Listing{Pages: 20, Workflows: 1000, Complete: true}, listing)
	st := sim.Stats()
	require.Equal(t, int64(2), st.TokenRequests)
	require.Equal(t, int64(1), st.Unauthorized)
	require.Empty(t, c.sleeps.Delays())
}

func TestSimRevokedTokensRefreshOnce(t *testing.T) {
	sim, srv := startSim(t, 200, zuorasim.Options{})
	c := newTestClient(t, srv.URL, nil)
	listing, err := c.ListWorkflows(context.Background(), func(p zuora.Page) error {
		if p.Number == 2 {
			require.NoError(t, sim.RevokeTokens("tenant-a"))
		}
		return nil
	})
	require.NoError(t, err)
	require.True(t, listing.Complete)
	require.Equal(t, int64(2), sim.Stats().TokenRequests)
}

func TestSimWrongSecretIsUnauthorizedAndNotRetried(t *testing.T) {
	sim, srv := startSim(t, 10, zuorasim.Options{})
	c := newTestClient(t, srv.URL, func(cfg *zuora.Config) { cfg.ClientSecret = "wrong-" + testSecret })
	_, listing, err := c.collect(context.Background())
	require.ErrorIs(t, err, zuora.ErrUnauthorized)
	require.False(t, listing.Complete)
	require.NotContains(t, err.Error(), testSecret)
	require.NotContains(t, c.logs.String(), testSecret)
	st := sim.Stats()
	require.Equal(t, int64(1), st.TokenRequests)
	require.Zero(t, st.PageRequests)
	require.Empty(t, c.sleeps.Delays())
}

func TestSimEmptyTenantIsACompleteEmptyListing(t *testing.T) {
	_, srv := startSim(t, 0, zuorasim.Options{})
	c := newTestClient(t, srv.URL, nil)
	wfs, listing, err := c.collect(context.Background())
	require.NoError(t, err)
	require.Empty(t, wfs)
	require.Equal(t, zuora.Listing{Pages: 1, Complete: true}, listing)
}
