package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
)

// entryStats is GET /api/logs/stats with the fields these tests check.
type entryStats struct {
	Received       int64  `json:"received"`
	Persisted      int64  `json:"persisted"`
	Pending        int64  `json:"pending"`
	Parked         int64  `json:"parked"`
	Skipped        int64  `json:"skipped"`
	LagSeq         uint64 `json:"lag_seq"`
	StreamMismatch string `json:"stream_mismatch"`
}

func getStats(t *testing.T, base string) entryStats {
	t.Helper()
	var st entryStats
	resp := call(t, "GET", base+"/api/logs/stats", "", nil, nil, &st)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, st.Received, st.Persisted+st.Pending+st.Parked, "received == persisted + pending + parked: %+v", st)
	return st
}

// appendPoisonedEvent appends one log event of n entries straight to the
// stream (past the door, as an older version or another writer could); the
// entry at index bad has a context PostgreSQL refuses. It returns the
// event's sequence and the bad entry's id.
func appendPoisonedEvent(t *testing.T, st *eventstore.Store, n, bad int) (uint64, string) {
	t.Helper()
	var encoded [][]byte
	var badID string
	for i := range n {
		e := logs.Entry{ID: uuid.Must(uuid.NewV7()), Level: "info", Message: fmt.Sprintf("batch entry %d", i), ReceivedAt: time.Now().UTC()}
		if i == bad {
			e.Context = json.RawMessage(`{"s":"\u0000"}`)
			badID = e.ID.String()
		}
		b, err := logs.EncodeEntry(e)
		require.NoError(t, err)
		encoded = append(encoded, b)
	}
	env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1, OccurredAt: time.Now(), Data: logs.AppendPayload(nil, encoded)}
	ack, err := st.Append(context.Background(), logs.Subject, eventstore.NoExpectation, env, eventstore.WithCount(n))
	require.NoError(t, err)
	return ack.Seq, badID
}

// TestOnePoisonEntryParksOnlyItself: a 1,000-entry event with one entry
// PostgreSQL refuses lands 999 entries; the bad one is parked with its id,
// listed by `projections parked`, counted in entries by the stats, and can
// be skipped on its own.
func TestOnePoisonEntryParksOnlyItself(t *testing.T) {
	c := newOpsCLI(t)
	appendLogEvents(t, c.store, 2)
	seq, badID := appendPoisonedEvent(t, c.store, 1000, 500)
	appendLogEvents(t, c.store, 1)
	s := startServe(t, map[string]string{"NATS_URL": c.vars["NATS_URL"], "DATABASE_URL": c.vars["DATABASE_URL"]})

	var st entryStats
	require.Eventually(t, func() bool {
		st = getStats(t, s.URL)
		return st.Pending == 0 && st.LagSeq == 0
	}, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, int64(1002), st.Persisted, "every innocent entry is persisted")
	require.Equal(t, int64(1), st.Parked, "parked counts entries")
	require.Equal(t, int64(1003), st.Received)

	out := c.mustRun(t, "projections", "parked", "logs")
	require.Regexp(t, fmt.Sprintf(`%d\s+%s\s+1\s+logs\.entries\s+log\.entries_received\.v1\s+.*SQLSTATE 22P05`, seq, badID), out)
	parked := jsonLines(t, c.mustRun(t, "projections", "parked", "logs", "--json"))[0]["parked"].([]any)
	require.Len(t, parked, 1)
	require.Equal(t, badID, parked[0].(map[string]any)["item"])

	out = c.mustRun(t, "projections", "retry", "logs")
	require.Contains(t, out, "retried 1 parked: 0 applied (0 rows), 1 still parked")
	_, _, err := c.run(t, "projections", "retry", "logs", "--item", badID)
	require.ErrorContains(t, err, "--item needs --skip")
	out = c.mustRun(t, "projections", "retry", "logs", "--skip", fmt.Sprint(seq), "--item", badID, "--reason", "bad context")
	require.Contains(t, out, fmt.Sprintf("skipped #%d item %s (log.entries_received.v1, 1 entry)", seq, badID))
	st = getStats(t, s.URL)
	require.Zero(t, st.Parked)
	require.Equal(t, int64(1), st.Skipped)
	require.Equal(t, int64(1002), st.Received)
}

// freePort returns a loopback address nobody listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestWipedStreamStopsTheProjectorUntilRebuilt is the operator's story:
// serve with the embedded NATS, post, stop, delete the data dir's nats/,
// start, post 15. The projector must apply none of the 15 (the old
// checkpoint is ahead of the new stream), /readyz, the stats and
// `projections list` must say why, and after `projections rebuild logs`
// all 15 are persisted and the projector runs again.
func TestWipedStreamStopsTheProjectorUntilRebuilt(t *testing.T) {
	dataDir := t.TempDir()
	db := testenv.Postgres(t)
	env := map[string]string{"EVENTLINE_DATA_DIR": dataDir, "NATS_URL": "", "DATABASE_URL": db,
		"EVENTLINE_NATS_LISTEN": freePort(t)}
	post := func(base string, n int) []string {
		var ids []string
		for i := range n {
			var a accepted
			resp := call(t, "POST", base+"/api/logs", "application/json", []byte(fmt.Sprintf(`{"message":"entry %d"}`, i)), nil, &a)
			require.Equal(t, http.StatusAccepted, resp.StatusCode)
			ids = append(ids, a.ID)
		}
		return ids
	}
	first := startServe(t, env)
	post(first.URL, 12)
	waitDrained(t, first.URL, 30*time.Second)
	first.stop(t)
	require.NoError(t, os.RemoveAll(filepath.Join(dataDir, "nats")))

	second := startServe(t, env)
	ids := post(second.URL, 15)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	var readyStatus int
	require.Eventually(t, func() bool {
		readyStatus = call(t, "GET", second.URL+"/readyz", "", nil, nil, &ready).StatusCode
		return strings.Contains(ready.Checks["projection_streams"], "stream_mismatch")
	}, 30*time.Second, 50*time.Millisecond, "readyz never reported the mismatch: %+v", ready)
	// This process runs the projector, which cannot do its work: not ready.
	require.Equal(t, http.StatusServiceUnavailable, readyStatus)
	require.Equal(t, "unready", ready.Status)
	require.Contains(t, ready.Checks["projection_streams"], "eventline projections rebuild logs")
	st := getStats(t, second.URL)
	require.NotEmpty(t, st.StreamMismatch)
	require.Equal(t, int64(15), st.Pending, "every entry of the new stream waits")
	require.Equal(t, uint64(15), st.LagSeq)
	require.Zero(t, countStored(t, db, ids), "nothing of the new stream was applied")

	cli := func(args ...string) string {
		t.Helper()
		var out, errOut strings.Builder
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		err := run(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
		require.NoError(t, err, "eventline %s\n%s", strings.Join(args, " "), errOut.String())
		return out.String()
	}
	out := cli("projections", "list")
	require.Regexp(t, `logs\s+LOGS\s+12\s+15\s+15\s+\S+\s+12\s+0\s+stream_mismatch`, out)
	require.Contains(t, out, "created again")
	require.Contains(t, out, "eventline projections rebuild logs")

	out = cli("projections", "rebuild", "logs", "--quiet")
	require.Contains(t, out, "live model not compared")
	require.Contains(t, out, "events applied 15, rows 15")
	require.Eventually(t, func() bool { return countStored(t, db, ids) == 15 }, 30*time.Second, 20*time.Millisecond)

	// The projector runs again: new entries land, every check is back.
	more := post(second.URL, 3)
	require.Eventually(t, func() bool { return countStored(t, db, more) == 3 }, 30*time.Second, 20*time.Millisecond)
	st = waitDrainedStats(t, second.URL)
	require.Empty(t, st.StreamMismatch)
	require.Equal(t, int64(18), st.Persisted)
	require.Equal(t, http.StatusOK, call(t, "GET", second.URL+"/readyz", "", nil, nil, &ready).StatusCode)
	require.Equal(t, "ok", ready.Checks["projection_streams"])
	require.Contains(t, cli("projections", "list"), "running")
}

func waitDrainedStats(t *testing.T, base string) entryStats {
	t.Helper()
	var st entryStats
	require.Eventually(t, func() bool {
		st = getStats(t, base)
		return st.Pending == 0 && st.LagSeq == 0
	}, 30*time.Second, 20*time.Millisecond, "stats never drained: %+v", st)
	return st
}

// countStored counts how many of ids are in log_entries.
func countStored(t *testing.T, db string, ids []string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	require.NoError(t, err)
	defer conn.Close(ctx)
	uids := make([]uuid.UUID, len(ids))
	for i, id := range ids {
		uids[i] = uuid.MustParse(id)
	}
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM log_entries WHERE id = ANY($1)`, uids).Scan(&n))
	return n
}
