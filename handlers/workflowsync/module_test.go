package workflowsync_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/platform/module"
	"github.com/eventline/eventline/platform/reactor"
)

// Defect 2 of issue 26: a sync worker that cannot be built fails serve's
// start, and the reactor asked for first (before Start) reports why on its
// event instead of being a stub that parks every sync.started. Before:
// the page length was not checked, and a failed build left a stub.
func TestAWorkerThatCannotBeBuiltFailsTheStart(t *testing.T) {
	store, _ := testenv.Store(t)
	require.NoError(t, store.EnsureStreams(context.Background(), []eventstore.StreamSpec{workflowsStream}))
	pool := testenv.Pool(t, testenv.Postgres(t))
	m := workflowsync.Module(workflowsync.Config{PageLength: 99,
		SecretKey: func() ([]byte, error) { return make([]byte, workflowsync.KeySize), nil }})

	rs := m.Reactors(module.Deps{Store: store, Pool: pool, Log: slog.Default(), Serve: true})
	require.Len(t, rs, 1)
	started := reactor.Event{Subject: workflows.Subject("c1"), Attempt: 1,
		Envelope: eventstore.Envelope{Type: workflows.SyncStartedV1, Data: []byte(`{"sync_id":"s1"}`)}}
	err := rs[0].Handler(context.Background(), started, nil)
	require.ErrorContains(t, err, "page length 99: must be 1..50")

	var goes int
	err = m.Start(&module.Host{Store: store, Pool: pool, ReadPool: pool, Log: slog.Default(),
		HasRole: func(role string) bool { return role == workflowsync.Role },
		Go:      func(func(context.Context) error) { goes++ }})
	require.ErrorContains(t, err, "page length 99: must be 1..50")
	require.Zero(t, goes, "nothing started")
}
