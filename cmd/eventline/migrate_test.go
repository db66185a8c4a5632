package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
)

// Read-only commands change no schema and create no stream; `migrate` says
// what it applied.
func TestReadOnlyCommandsDoNotMigrateAndMigrateReports(t *testing.T) {
	srv := testenv.NATS(t)
	db := testenv.Postgres(t)
	c := &opsCLI{vars: map[string]string{"NATS_URL": srv.ClientURL(), "DATABASE_URL": db, "EVENTLINE_DATA_DIR": t.TempDir()}}
	ctx := context.Background()

	_, _, err := c.run(t, "projections", "list")
	require.ErrorContains(t, err, "database schema is behind this binary (version 0, this binary needs")
	require.ErrorContains(t, err, "run `eventline migrate`")
	conn, err := pgx.Connect(ctx, db)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var table *string
	require.NoError(t, conn.QueryRow(ctx, `SELECT to_regclass('goose_db_version')::text`).Scan(&table))
	require.Nil(t, table, "a read-only command migrated the database")

	for _, args := range [][]string{{"streams"}, {"replay", "--stream", "LOGS"}} {
		_, _, _ = c.run(t, args...)
	}
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	info, err := js.AccountInfo(ctx)
	require.NoError(t, err)
	require.Zero(t, info.Streams, "a read-only command created a stream")

	out := c.mustRun(t, "migrate")
	require.Contains(t, out, "applied 00001_projections.sql (version 1) in ")
	require.Regexp(t, `database schema is now at version [0-9]+\n$`, out)
	out = c.mustRun(t, "migrate")
	require.Regexp(t, `^nothing to apply: database schema is at version [0-9]+\n$`, out)
	js1 := jsonLines(t, c.mustRun(t, "migrate", "--json"))[0]
	require.Empty(t, js1["applied"])
	require.NotZero(t, js1["version"])

	// Streams are serve's to create; with them, the read-only command works.
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: srv.ClientURL()})
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.EnsureStreams(ctx, modules(defaultConfig()).Streams()))
	require.Contains(t, c.mustRun(t, "projections", "list"), "logs")
}

// /readyz runs every few seconds on every process: it must not create
// consumers (each is server state), even with a backlog to report.
func TestReadyzCreatesNoConsumers(t *testing.T) {
	srv := testenv.NATS(t)
	s := startServe(t, map[string]string{"EVENTLINE_ROLES": "api", "NATS_URL": srv.ClientURL()})
	for range 3 {
		postLog(t, s.URL, `{"message":"waiting for a projector"}`)
	}
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	created := make(chan *nats.Msg, 100)
	sub, err := nc.ChanSubscribe("$JS.EVENT.ADVISORY.CONSUMER.CREATED.>", created)
	require.NoError(t, err)
	defer sub.Unsubscribe()
	require.NoError(t, nc.Flush())

	for range 5 {
		resp := call(t, "GET", s.URL+"/readyz", "", nil, nil, nil)
		require.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, resp.StatusCode)
	}
	var ops struct {
		Projections []struct {
			LagEvents uint64 `json:"lag_events"`
		} `json:"projections"`
	}
	resp := call(t, "GET", s.URL+"/api/ops/projections", "", nil, nil, &ops)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotEmpty(t, ops.Projections)
	require.Equal(t, uint64(3), ops.Projections[0].LagEvents, "the backlog is still counted")
	// Advisories are published asynchronously: give them time to arrive.
	require.NoError(t, nc.Flush())
	select {
	case m := <-created:
		t.Fatalf("a consumer was created while answering /readyz: %s", m.Subject)
	case <-time.After(500 * time.Millisecond):
	}
}
