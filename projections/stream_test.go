package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// logRows counts log_entries.
func logRows(t *testing.T, env opsEnv) int64 {
	t.Helper()
	n, err := countRows(context.Background(), env.pool, "log_entries")
	require.NoError(t, err)
	return n
}

// waitMismatch polls until r reports a stream mismatch and returns why.
func waitMismatch(t *testing.T, r *projections.Runner) string {
	t.Helper()
	require.Eventually(t, func() bool { return r.Stats().StreamMismatch != "" }, 30*time.Second, 10*time.Millisecond,
		"the runner never reported the stream mismatch")
	return r.Stats().StreamMismatch
}

// recreateStream deletes the LOGS stream and creates it again, empty, as a
// wiped store does.
func recreateStream(t *testing.T, env opsEnv) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, env.store.JetStream().DeleteStream(ctx, logs.Stream))
	require.NoError(t, env.store.EnsureStreams(ctx, testenv.Streams))
}

// TestRunnerStopsOnARecreatedStream: the stream is deleted and created
// again under a running projector and gets more events than the old
// checkpoint covered. The projector must apply none of them (the first ones
// would be skipped as "already applied"), say why, and resume once the
// documented rebuild has rebuilt the model from the new stream.
func TestRunnerStopsOnARecreatedStream(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	appendLogs(t, env.store, 5, 2)
	r := startLogsRunner(t, env, projections.Config{MismatchRecheck: 100 * time.Millisecond})
	waitCheckpoint(t, env)
	cp, err := projections.LoadCheckpoint(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.True(t, cp.HasStream(), "the checkpoint records its stream")
	require.Equal(t, logs.Stream, cp.Stream)

	recreateStream(t, env)
	fresh := appendLogs(t, env.store, 8, 1) // seq 1..8: past the old checkpoint #5
	reason := waitMismatch(t, r)
	require.Contains(t, reason, "created again")

	st, err := projections.NewStatusReader(env.store.JetStream(), env.pool).Status(ctx, logentries.Spec())
	require.NoError(t, err)
	require.Equal(t, projections.StateStreamMismatch, st.State)
	require.Contains(t, st.Reason, "created again")
	require.Equal(t, uint64(8), st.LagEvents)
	err = projections.NewStatusReader(env.store.JetStream(), env.pool).StreamCheck(projections.NewRegistry(logentries.Spec()))(ctx)
	require.ErrorContains(t, err, "logs stopped (stream_mismatch)")
	require.ErrorContains(t, err, "eventline projections rebuild logs")

	time.Sleep(300 * time.Millisecond) // a few rechecks: still nothing applied
	cp, err = projections.LoadCheckpoint(ctx, env.pool, logentries.Name)
	require.NoError(t, err)
	require.Equal(t, uint64(5), cp.LastSeq, "nothing of the new stream was applied")
	require.Equal(t, int64(10), logRows(t, env))
	require.Empty(t, storedIDs(t, env, fresh))

	// The documented recovery: rebuild from the new stream's first event.
	res, err := projections.NewRebuilder(env.store, env.pool, logentries.Spec(), projections.RebuildOptions{}).Run(ctx)
	require.NoError(t, err)
	require.True(t, res.Swapped)
	require.NotEmpty(t, res.StreamReplaced)
	require.Equal(t, uint64(8), res.LastSeq)
	require.Len(t, storedIDs(t, env, fresh), 8)
	require.Equal(t, int64(8), logRows(t, env), "the model holds what the stream holds")

	// The runner resumes from the rebuilt checkpoint.
	require.Eventually(t, func() bool { return r.Stats().StreamMismatch == "" }, 30*time.Second, 10*time.Millisecond)
	more := appendLogs(t, env.store, 2, 3)
	waitCheckpoint(t, env)
	require.Len(t, storedIDs(t, env, more), 6)
	st, err = projections.NewStatusReader(env.store.JetStream(), env.pool).Status(ctx, logentries.Spec())
	require.NoError(t, err)
	require.Equal(t, projections.StateRunning, st.State)
	require.Equal(t, uint64(10), st.CheckpointSeq)
}

// TestLegacyCheckpointAdoptsTheStreamOnlyWhenSafe: a checkpoint written
// before identities were recorded adopts the stream's identity when the
// stream reaches it; one ahead of the stream is a mismatch.
func TestLegacyCheckpointAdoptsTheStreamOnlyWhenSafe(t *testing.T) {
	tests := []struct {
		name       string
		events     int
		checkpoint int64
		mismatch   string
	}{
		{name: "stream reaches the checkpoint", events: 4, checkpoint: 2},
		{name: "stream ends before the checkpoint", events: 3, checkpoint: 12, mismatch: "ends at #3, before checkpoint #12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			env := newOpsEnv(t)
			appendLogs(t, env.store, tt.events, 1)
			_, err := env.pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, last_seq) VALUES ('logs', $1)`, tt.checkpoint)
			require.NoError(t, err)
			r := startLogsRunner(t, env, projections.Config{MismatchRecheck: 50 * time.Millisecond})
			if tt.mismatch != "" {
				require.Contains(t, waitMismatch(t, r), tt.mismatch)
				st, err := projections.NewStatusReader(env.store.JetStream(), env.pool).Status(ctx, logentries.Spec())
				require.NoError(t, err)
				require.Equal(t, projections.StateStreamMismatch, st.State)
				require.Contains(t, st.Reason, tt.mismatch)
				require.Zero(t, logRows(t, env))
				cp, err := projections.LoadCheckpoint(ctx, env.pool, logentries.Name)
				require.NoError(t, err)
				require.False(t, cp.HasStream(), "an unsafe checkpoint adopts nothing")
				return
			}
			waitCheckpoint(t, env)
			require.Equal(t, int64(tt.events)-tt.checkpoint, logRows(t, env))
			cp, err := projections.LoadCheckpoint(ctx, env.pool, logentries.Name)
			require.NoError(t, err)
			require.True(t, cp.HasStream())
			pos, err := projections.ReadStreamPosition(ctx, env.store.JetStream(), logs.Stream)
			require.NoError(t, err)
			require.NoError(t, cp.VerifyStream(pos))
			require.Empty(t, r.Stats().StreamMismatch)
		})
	}
}

// TestVerifyStream covers every way a checkpoint can miss its stream.
func TestVerifyStream(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	at := created.Truncate(time.Microsecond)
	other := at.Add(time.Hour)
	pos := projections.StreamPosition{Name: "LOGS", Created: created, FirstSeq: 1, LastSeq: 20, Msgs: 20}
	tests := []struct {
		name string
		cp   projections.Checkpoint
		pos  projections.StreamPosition
		want string
	}{
		{"same stream, behind", projections.Checkpoint{LastSeq: 12, Stream: "LOGS", StreamCreated: &at}, pos, ""},
		{"same stream, at the end", projections.Checkpoint{LastSeq: 20, Stream: "LOGS", StreamCreated: &at}, pos, ""},
		{"nothing applied yet", projections.Checkpoint{}, pos, ""},
		{"legacy, behind", projections.Checkpoint{LastSeq: 12}, pos, ""},
		{"created again", projections.Checkpoint{LastSeq: 12, Stream: "LOGS", StreamCreated: &other}, pos, "created again"},
		{"other stream", projections.Checkpoint{LastSeq: 12, Stream: "OLD", StreamCreated: &at}, pos, "counts in stream OLD"},
		{"legacy, ahead", projections.Checkpoint{LastSeq: 25}, pos, "ends at #20, before checkpoint #25"},
		{"events lost", projections.Checkpoint{LastSeq: 3}, projections.StreamPosition{Name: "LOGS", Created: created, FirstSeq: 8, LastSeq: 20, Msgs: 13}, "events #4-#7 after checkpoint #3 are gone"},
		{"empty stream at the checkpoint", projections.Checkpoint{LastSeq: 20}, projections.StreamPosition{Name: "LOGS", Created: created, FirstSeq: 21, LastSeq: 20}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cp.VerifyStream(tt.pos)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, projections.ErrStreamMismatch)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
