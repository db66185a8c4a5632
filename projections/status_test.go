package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

func TestStatusRunningCatchingUpStalled(t *testing.T) {
	ctx := context.Background()
	env := newOpsEnv(t)
	appendLogs(t, env.store, 30, 2)
	projectOnce(t, env)
	appendLogs(t, env.store, 5, 1)
	reg := projections.NewRegistry(logentries.Spec())
	tests := []struct {
		name  string
		later time.Duration // how far the reader's clock is ahead
		want  string
	}{
		{"just appended", 0, projections.StateRunning},
		{"waiting a while", 10 * time.Second, projections.StateCatchingUp},
		{"checkpoint unmoved past the limit", 2 * time.Minute, projections.StateStalled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := projections.NewStatusReader(env.store.JetStream(), env.pool)
			r.Now = func() time.Time { return time.Now().Add(tt.later) }
			st, err := r.Status(ctx, logentries.Spec())
			require.NoError(t, err)
			require.Equal(t, tt.want, st.State)
			require.Equal(t, uint64(30), st.CheckpointSeq)
			require.Equal(t, uint64(35), st.StreamLastSeq)
			require.Equal(t, uint64(5), st.LagEvents)
			require.Equal(t, int64(60), st.Rows)
			require.GreaterOrEqual(t, st.LagSeconds, tt.later.Seconds())
			err = r.ReadyCheck(reg)(ctx)
			if tt.want == projections.StateStalled {
				require.ErrorContains(t, err, "logs stalled at #30 with 5 events pending")
			} else {
				require.NoError(t, err)
			}
		})
	}
	runLive(t, env)
	waitCheckpoint(t, env)
	r := projections.NewStatusReader(env.store.JetStream(), env.pool)
	r.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	st, err := r.Status(ctx, logentries.Spec())
	require.NoError(t, err)
	require.Equal(t, projections.StateRunning, st.State, "no events pending: never stalled")
	require.Zero(t, st.LagEvents)
	cons, err := env.store.JetStream().Stream(ctx, "LOGS")
	require.NoError(t, err)
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, info.State.Consumers, "status leaves no consumer behind")
}
