package workflowsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/zuora/zuorasim"
)

// Issue 26: a customer whose credentials Zuora refuses is marked so (the
// reason in customers.credentials_error, shown on the dashboard) and the
// scheduler backs off (24 h) instead of failing it every interval; new
// credentials clear the mark. Before: the refusal was one failed sync
// among others, retried at every interval.
func TestRefusedCredentialsAreMarkedAndBackedOff(t *testing.T) {
	e := newSyncEnv(t, envOptions{})
	ctx := context.Background()
	id := e.addCustomer(t, "tenant-refused", zuorasim.GenerateWorkflows(5, simBase))
	e.mu.Lock()
	e.secrets["tenant-refused"] = "not-the-secret"
	e.mu.Unlock()
	r := e.sync(t, id, false)
	require.Equal(t, "failed", r.Status)
	e.waitReadModel(t, id)
	var reason *string
	var at *time.Time
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT credentials_error, credentials_error_at FROM customers WHERE id = $1`, id).
		Scan(&reason, &at))
	require.NotNil(t, reason)
	require.Contains(t, *reason, "unauthorized")
	state, _, err := e.customers.Load(ctx, id)
	require.NoError(t, err)
	require.Equal(t, *reason, state.CredentialsRefused)

	sched := newTestScheduler(t, e, e.customers, "-")
	before := countEvents(t, e, id, workflows.SyncStartedV1)
	n, err := sched.Tick(ctx, at.Add(2*time.Hour))
	require.NoError(t, err)
	require.Zero(t, n, "backing off: refused credentials")
	require.Equal(t, before, countEvents(t, e, id, workflows.SyncStartedV1))

	// New credentials (a rotated secret) clear the mark; the next sync runs.
	e.mu.Lock()
	e.secrets["tenant-refused"] = simSecret
	e.mu.Unlock()
	_, err = e.customers.Handle(ctx, id, workflows.Update{SecretRotated: true, Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	e.waitReadModel(t, id)
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT credentials_error FROM customers WHERE id = $1`, id).Scan(&reason))
	require.Nil(t, reason)
	require.Equal(t, "completed", e.sync(t, id, false).Status)
}
