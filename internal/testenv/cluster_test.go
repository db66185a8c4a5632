package testenv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/internal/testenv"
)

// An R3 stream of the helper's cluster keeps accepting appends with a node
// killed, and the node, restarted, rejoins with every event.
func TestClusterSurvivesAKilledNodeWhichRejoins(t *testing.T) {
	start := time.Now()
	c := testenv.StartCluster(t, 3)
	t.Logf("3-node cluster formed in %v", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	st, err := eventstore.Connect(ctx, eventstore.Options{URL: c.URL(), Name: t.Name(), Replicas: 3})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	spec := testenv.TestStream
	require.NoError(t, ensureStreams(ctx, st, spec))
	require.Eventually(t, func() bool { return c.StreamLeader(spec.Name) >= 0 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, int64(natsserver.DefaultMaxPayload), st.MaxPayload(), "max_payload as the embedded server's")

	appendOne := func() uint64 {
		t.Helper()
		var ack eventstore.Ack
		require.Eventually(t, func() bool {
			env, err := eventstore.NewEnvelope("test.appended.v1", map[string]int{})
			require.NoError(t, err)
			try, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			ack, err = st.Append(try, testenv.TestSubject, eventstore.NoExpectation, env)
			require.True(t, err == nil || errors.Is(err, eventstore.ErrUnavailable), "%v", err)
			return err == nil
		}, 30*time.Second, 10*time.Millisecond, "append")
		return ack.Seq
	}
	appendOne()

	// The stream's leader goes: the other two elect one and take appends.
	victim := c.StreamLeader(spec.Name)
	c.Kill(victim)
	require.Nil(t, c.Server(victim))
	for range 5 {
		appendOne()
	}
	killedAt := appendOne()
	require.NotEqual(t, victim, c.StreamLeader(spec.Name))

	// Back with the same name and store: it catches up on what it missed.
	c.Restart(victim)
	require.NoError(t, c.WaitReady(ctx))
	srv := c.Server(victim)
	require.Equal(t, c.Name(victim), srv.Name())
	require.Eventually(t, func() bool {
		return srv.JetStreamIsStreamCurrent(server.DEFAULT_GLOBAL_ACCOUNT, spec.Name) && c.StreamLastSeq(victim, spec.Name) >= killedAt
	}, 30*time.Second, 10*time.Millisecond, "the restarted node caught up")
	appendOne()

	// A client of the restarted node alone reads the stream through it.
	only, err := eventstore.Connect(ctx, eventstore.Options{URL: c.NodeURL(victim), Name: t.Name() + "-only", FailFast: true})
	require.NoError(t, err)
	t.Cleanup(only.Close)
	evs, _, err := only.Load(ctx, spec.Name, testenv.TestSubject)
	require.NoError(t, err)
	require.Len(t, evs, 8)
}

// ensureStreams retries EnsureStreams while a new cluster settles its
// leaders.
func ensureStreams(ctx context.Context, st *eventstore.Store, specs ...eventstore.StreamSpec) error {
	for {
		try, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := st.EnsureStreams(try, specs)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, eventstore.ErrUnavailable) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A crashed stream leader hands nothing over: the other two elect a leader
// once their election timeout passes, and appends resume; the time it took
// is printed.
func TestClusterCrashOfTheStreamLeader(t *testing.T) {
	c := testenv.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: c.URL(), Name: t.Name(), Replicas: 3})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	spec := testenv.TestStream
	require.NoError(t, ensureStreams(ctx, st, spec))
	require.Eventually(t, func() bool { return c.StreamLeader(spec.Name) >= 0 }, 10*time.Second, 10*time.Millisecond)
	env, err := eventstore.NewEnvelope("test.appended.v1", map[string]int{})
	require.NoError(t, err)
	_, err = st.Append(ctx, testenv.TestSubject, eventstore.NoExpectation, env)
	require.NoError(t, err)

	victim := c.StreamLeader(spec.Name)
	crashed := time.Now()
	c.Crash(victim)
	require.Eventually(t, func() bool {
		env, err := eventstore.NewEnvelope("test.appended.v1", map[string]int{})
		require.NoError(t, err)
		try, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err = st.Append(try, testenv.TestSubject, eventstore.NoExpectation, env)
		require.True(t, err == nil || errors.Is(err, eventstore.ErrUnavailable), "%v", err)
		return err == nil
	}, 60*time.Second, 10*time.Millisecond, "appends resume")
	t.Logf("appends resumed %v after the crash of the stream leader %s", time.Since(crashed).Round(time.Millisecond), c.Name(victim))
	leader := c.StreamLeader(spec.Name)
	require.NotEqual(t, victim, leader)
	require.GreaterOrEqual(t, leader, 0)

	c.Restart(victim)
	require.NoError(t, c.WaitReady(ctx))
}
