package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/workflowsync"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/migrations"
)

// syncCLIEnv is JetStream and PostgreSQL as a serve with the sync role
// would leave them, without the worker: the test plays it (the real worker
// runs in TestWorkflowSyncEndToEnd).
type syncCLIEnv struct {
	vars      map[string]string
	pool      *pgxpool.Pool
	customers *aggregate.Handler[workflows.Customer, any]
	secrets   *workflowsync.Secrets
}

func newSyncCLIEnv(t *testing.T) *syncCLIEnv {
	t.Helper()
	ctx := context.Background()
	srv := testenv.NATS(t)
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: srv.ClientURL(), Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.EnsureStreams(ctx, modules(defaultConfig()).Streams()))
	db := testenv.Postgres(t)
	pool, err := pgxpool.New(ctx, db)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(ctx, pool)
	require.NoError(t, err)
	customers, err := workflowsync.NewCustomers(st, workflowsync.Registry(), nil)
	require.NoError(t, err)
	secrets, err := workflowsync.NewSecrets(pool, bytes.Repeat([]byte{3}, workflowsync.KeySize))
	require.NoError(t, err)
	return &syncCLIEnv{vars: map[string]string{"NATS_URL": srv.ClientURL(), "DATABASE_URL": db, "EVENTLINE_DATA_DIR": t.TempDir()},
		pool: pool, customers: customers, secrets: secrets}
}

// customer creates a customer named name and returns its id.
func (e *syncCLIEnv) customer(t *testing.T, name string) string {
	t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	_, err := e.secrets.Store(ctx, id, name, "pw")
	require.NoError(t, err)
	_, err = e.customers.Handle(ctx, id, workflows.Create{CustomerID: id, Name: name, BaseURL: "https://z", ClientID: "c", Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	return id
}

// running waits until customer id has a sync running and returns it.
func (e *syncCLIEnv) running(t *testing.T, id string) *workflows.Run {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, _, err := e.customers.Load(context.Background(), id)
		require.NoError(t, err)
		if st.Running != nil {
			return st.Running
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no sync started for %s", id)
	return nil
}

// finish records sync syncID of customer id in sync_runs as the projection
// would.
func (e *syncCLIEnv) finish(t *testing.T, id, syncID, status string, created, updated, deleted, total int, errs []string, reason string) {
	t.Helper()
	b, err := json.Marshal(errs)
	require.NoError(t, err)
	_, err = e.pool.Exec(context.Background(), `INSERT INTO sync_runs (sync_id, customer_id, status, trigger, slot, started_at,
		created, updated, deleted, unchanged, total, errors, pages, reason, seq)
		VALUES ($1, $2, $3, 'cli', '', now(), $4, $5, $6, 0, $7, $8, 2, $9, 0)
		ON CONFLICT (sync_id) DO UPDATE SET status = EXCLUDED.status, created = EXCLUDED.created, updated = EXCLUDED.updated,
		deleted = EXCLUDED.deleted, total = EXCLUDED.total, errors = EXCLUDED.errors, reason = EXCLUDED.reason`,
		syncID, id, status, created, updated, deleted, total, b, reason)
	require.NoError(t, err)
}

func TestSyncWorkflowsArguments(t *testing.T) {
	e := newSyncCLIEnv(t)
	e.customer(t, "acme")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"sync-workflows"}, "give --customer NAME or --all"},
		{[]string{"sync-workflows", "--all", "--customer", "acme"}, "give --customer NAME or --all"},
		{[]string{"sync-workflows", "--customer", "acme", "extra"}, `unexpected argument "extra"`},
		{[]string{"sync-workflows", "--customer", "nobody", "--customer", "acme"}, `no customer named "nobody"`},
		{[]string{"sync-workflows", "--all", "--timeout", "0s"}, "--timeout must be positive"},
	}
	for _, tt := range tests {
		_, _, err := runCLI(t, e.vars, tt.args...)
		require.ErrorContains(t, err, tt.want, "%v", tt.args)
	}
}

func TestSyncWorkflowsWaitsAndPrintsStats(t *testing.T) {
	e := newSyncCLIEnv(t)
	ctx := context.Background()
	acme, globex := e.customer(t, "acme"), e.customer(t, "globex")
	// globex has a sync running already: the command waits for it.
	globexSync := uuid.NewString()
	_, err := e.customers.Handle(ctx, globex, workflows.Start{SyncID: globexSync, Trigger: workflows.TriggerInterval, Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	e.finish(t, globex, globexSync, "running", 0, 0, 0, 0, nil, "")

	type result struct {
		out, errOut string
		err         error
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, err := runCLI(t, e.vars, "sync-workflows", "--all", "--allow-mass-delete", "--json")
		done <- result{out, errOut, err}
	}()
	run := e.running(t, acme)
	require.Equal(t, workflows.TriggerCLI, run.Trigger)
	require.True(t, run.AllowMassDelete)
	e.finish(t, acme, run.SyncID, "completed", 3, 1, 2, 10, []string{}, "")
	e.finish(t, globex, globexSync, "failed", 1, 0, 0, 5, []string{"page 2: 500"}, "listing incomplete")

	var res result
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("sync-workflows did not return")
	}
	require.ErrorContains(t, res.err, "1 of 2 syncs did not complete")
	require.Contains(t, res.errOut, "globex: sync "+globexSync+" already running; waiting for it")
	var got struct {
		Syncs []syncOutcome `json:"syncs"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.out), &got), res.out)
	require.Equal(t, []syncOutcome{
		{Customer: "acme", CustomerID: acme, SyncID: run.SyncID, Status: "completed", Created: 3, Updated: 1, Deleted: 2,
			Total: 10, Errors: []string{}, Pages: 2},
		{Customer: "globex", CustomerID: globex, SyncID: globexSync, Status: "failed", Joined: true, Created: 1, Total: 5,
			Errors: []string{"page 2: 500"}, Pages: 2, Reason: "listing incomplete"},
	}, got.Syncs)

	// A table for people; success exits 0. The test played the worker in
	// sync_runs only: end the first CLI sync in the log too.
	_, err = e.customers.Handle(ctx, acme, workflows.Complete{SyncID: run.SyncID, Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	go func() {
		out, errOut, err := runCLI(t, e.vars, "sync-workflows", "--customer", "acme")
		done <- result{out, errOut, err}
	}()
	first := run.SyncID
	run = e.running(t, acme)
	require.NotEqual(t, first, run.SyncID)
	e.finish(t, acme, run.SyncID, "completed", 0, 0, 0, 10, []string{}, "")
	res = <-done
	require.NoError(t, res.err, res.errOut)
	lines := strings.Split(strings.TrimSpace(res.out), "\n")
	require.Len(t, lines, 2, res.out)
	require.Equal(t, []string{"CUSTOMER", "STATUS", "CREATED", "UPDATED", "DELETED", "UNCHANGED", "TOTAL", "ERRORS", "PAGES", "SYNC", "REASON"}, strings.Fields(lines[0]))
	require.Equal(t, []string{"acme", "completed", "0", "0", "0", "0", "10", "0", "2", run.SyncID, "-"}, strings.Fields(lines[1]))
}
