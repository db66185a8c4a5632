package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// projectLive runs the live logs projector until the checkpoint reaches the
// stream's end, then stops it (its durable consumer stays).
func projectLive(t *testing.T, c *opsCLI) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	c.mustRun(t, "migrate")
	pool, err := pgxpool.New(ctx, c.vars["DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r := projections.NewRunner(logentries.New(""), c.store.JetStream(), pool, projections.Config{BatchWait: 5 * time.Millisecond}, nil, nil)
	go func() { _ = r.Run(rctx); close(done) }()
	last, err := c.store.LastSeq(ctx, logs.Stream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		cp, err := projections.LoadCheckpoint(ctx, pool, logentries.Name)
		return err == nil && cp.LastSeq >= last
	}, 20*time.Second, 10*time.Millisecond)
	cancel()
	<-done
	return pool
}

func TestProjectionsListAndRebuild(t *testing.T) {
	c := newOpsCLI(t)
	appendLogEvents(t, c.store, 40)
	projectLive(t, c)

	list := jsonLines(t, c.mustRun(t, "projections", "list", "--json"))[0]["projections"].([]any)
	require.Len(t, list, len(modules(defaultConfig()).Projections().Names()), "every module's projection")
	p := list[0].(map[string]any)
	require.Equal(t, "logs", p["name"])
	require.EqualValues(t, 40, p["checkpoint_seq"])
	require.EqualValues(t, 40, p["stream_last_seq"])
	require.EqualValues(t, 0, p["lag_events"])
	require.EqualValues(t, 40, p["rows"])
	require.Equal(t, "running", p["status"])

	appendLogEvents(t, c.store, 5)
	out := c.mustRun(t, "projections", "list")
	require.Regexp(t, `PROJECTION\s+STREAM\s+CHECKPOINT\s+STREAM LAST\s+LAG EVENTS\s+LAG\s+ROWS\s+PARKED\s+STATUS`, out)
	require.Regexp(t, `logs\s+LOGS\s+40\s+45\s+5\s+\S+s\s+40\s+0\s+running`, out)

	out, stderr, err := c.run(t, "projections", "rebuild", "logs")
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, "logs")
	require.Regexp(t, `events applied 45, rows 45, parked 0, seconds [0-9.]+`, out)
	require.Contains(t, out, "log_entries live 40 rows, shadow 40 rows at #40: match")

	res := jsonLines(t, c.mustRun(t, "projections", "rebuild", "--all", "--dry-run", "--json", "--quiet"))
	require.Len(t, res, len(modules(defaultConfig()).Projections().Names()), "one line per projection")
	require.Equal(t, "logs", res[0]["name"])
	require.Equal(t, true, res[0]["dry_run"])
	require.Equal(t, false, res[0]["swapped"])
	require.EqualValues(t, 45, res[0]["events"])

	for _, args := range [][]string{
		{"projections", "rebuild"},
		{"projections", "rebuild", "logs", "--all"},
		{"projections", "rebuild", "nope"},
		{"projections", "frobnicate"},
	} {
		_, _, err := c.run(t, args...)
		require.Error(t, err, "%v", args)
	}
}

func TestProjectionsRetryAndSkip(t *testing.T) {
	c := newOpsCLI(t)
	ctx := context.Background()
	appendLogEvents(t, c.store, 3)
	// An event the logs projection cannot apply: it gets parked.
	env, err := eventstore.NewEnvelope("log.something_else.v1", map[string]string{"x": "y"})
	require.NoError(t, err)
	ack, err := c.store.Append(ctx, logs.Subject, eventstore.NoExpectation, env)
	require.NoError(t, err)
	appendLogEvents(t, c.store, 2)
	pool := projectLive(t, c)

	out := c.mustRun(t, "projections", "parked", "logs")
	require.Regexp(t, `4\s+\(whole event\)\s+1\s+logs\.entries\s+log\.something_else\.v1\s+\S+ \S+\s+.*unexpected type`, out)
	out = c.mustRun(t, "projections", "retry", "logs")
	require.Contains(t, out, "retried 1 parked: 0 applied (0 rows), 1 still parked")

	c.vars["USER"] = "alice"
	out = c.mustRun(t, "projections", "retry", "logs", "--skip", "4", "--reason", "not a log event")
	require.Contains(t, out, "skipped #4 (log.something_else.v1, 1 entry) by alice@")
	require.Contains(t, out, "retried 0 parked")
	var by, reason string
	require.NoError(t, pool.QueryRow(ctx, `SELECT skipped_by, reason FROM projection_skipped WHERE projection = 'logs' AND seq = $1`,
		int64(ack.Seq)).Scan(&by, &reason))
	require.True(t, strings.HasPrefix(by, "alice@"))
	require.Equal(t, "not a log event", reason)
	_, _, err = c.run(t, "projections", "retry", "logs", "--skip", "4")
	require.ErrorIs(t, err, projections.ErrNotParked)
}

func TestConsumersAndStreams(t *testing.T) {
	c := newOpsCLI(t)
	appendLogEvents(t, c.store, 7)
	projectLive(t, c)

	cons := jsonLines(t, c.mustRun(t, "consumers", "--json", "--stream", "LOGS"))[0]["consumers"].([]any)
	require.NotEmpty(t, cons)
	var found map[string]any
	for _, x := range cons {
		if m := x.(map[string]any); m["name"] == "proj_logs" {
			found = m
		}
	}
	require.NotNil(t, found, "proj_logs consumer listed")
	for _, k := range []string{"stream", "pending", "ack_pending", "redelivered", "waiting", "last_delivered_seq", "ack_floor_seq", "last_active"} {
		require.Contains(t, found, k)
	}
	require.Equal(t, "logs", found["projection"])
	require.EqualValues(t, 7, found["checkpoint_seq"])
	require.EqualValues(t, 7, found["ack_floor_seq"])
	require.EqualValues(t, 0, found["drift"])
	out := c.mustRun(t, "consumers")
	require.Regexp(t, `STREAM\s+CONSUMER\s+PENDING\s+ACK PENDING\s+REDELIVERED\s+WAITING\s+LAST DELIVERED\s+ACK FLOOR\s+LAST ACTIVE\s+FEEDS\s+CHECKPOINT\s+DRIFT`, out)
	require.Regexp(t, `LOGS\s+proj_logs\s+0\s+0\s+0\s+\d+\s+7\s+7\s+\S+ ago\s+logs\s+7\s+\+0`, out)
	_, _, err := c.run(t, "consumers", "--stream", "NOPE")
	require.ErrorContains(t, err, "unknown stream")

	streams := jsonLines(t, c.mustRun(t, "streams", "--json"))[0]["streams"].([]any)
	var logsStream map[string]any
	for _, x := range streams {
		if m := x.(map[string]any); m["name"] == "LOGS" {
			logsStream = m
		}
	}
	require.NotNil(t, logsStream)
	require.EqualValues(t, 7, logsStream["messages"])
	require.EqualValues(t, 1, logsStream["first_seq"])
	require.EqualValues(t, 7, logsStream["last_seq"])
	require.Equal(t, []any{"logs.>"}, logsStream["subjects"])
	require.Positive(t, logsStream["bytes"])
	require.GreaterOrEqual(t, logsStream["consumers"], 1.0)
	require.Regexp(t, `LOGS\s+logs\.>\s+7\s+\S+ \w*B\s+1\s+7\s+0\s+\d+`, c.mustRun(t, "streams"))
}
