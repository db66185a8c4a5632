package logsapi

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
)

// With sync always (a store that groups commits) the ingester keeps two
// appends in flight instead of eight: the server fsyncs appends one after
// the other, so fewer, fuller appends carry more entries per fsync. A
// configured MaxInFlight is kept.
func TestIngesterInFlightFollowsTheStoresSyncing(t *testing.T) {
	srv := testenv.NATS(t)
	connect := func(group bool) *eventstore.Store {
		st, err := eventstore.Connect(context.Background(), eventstore.Options{URL: srv.ClientURL(),
			Credentials: srv.Credentials(), GroupCommit: eventstore.GroupCommit{Enabled: group}})
		require.NoError(t, err)
		t.Cleanup(st.Close)
		return st
	}
	plain, grouped := connect(false), connect(true)
	require.Equal(t, 8, NewIngester(plain, IngestConfig{}, nil).cfg.MaxInFlight)
	require.Equal(t, 2, NewIngester(grouped, IngestConfig{}, nil).cfg.MaxInFlight)
	require.Equal(t, 5, NewIngester(grouped, IngestConfig{MaxInFlight: 5}, nil).cfg.MaxInFlight)
}
