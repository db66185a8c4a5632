package eventstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

// An append sent while its replicated stream elects a leader (the leader
// was killed -9: no server answers for the stream until its peers' election
// timeout, 4–9 s) waits the election out and is stored, on the client
// connected to a surviving node: a write then is late, not refused. Before,
// the client asked twice more, 250 ms apart, and the append failed with
// ErrUnavailable ("no response from stream").
func TestAnAppendWaitsOutItsStreamsElection(t *testing.T) {
	c, _ := replicated(t)
	leader := c.StreamLeader(testStream.Name)
	survivor := (leader + 1) % c.Size()
	st, err := eventstore.Connect(context.Background(), eventstore.Options{URL: c.NodeURL(survivor), Name: t.Name(),
		Replicas: 3, FailFast: true, ElectionWait: 40 * time.Second}) // longer than any election, even under load
	require.NoError(t, err)
	t.Cleanup(st.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = st.Append(ctx, "test.election", 0, newEvent(t, "test.before.v1", map[string]int{}))
	require.NoError(t, err)

	c.Crash(leader)
	start := time.Now()
	ack, err := st.Append(ctx, "test.election", 1, newEvent(t, "test.during.v1", map[string]int{}))
	require.NoError(t, err, "after %s", time.Since(start))
	require.Equal(t, uint64(2), ack.Seq)
	t.Logf("stored %s after the leader's death", time.Since(start).Round(time.Millisecond))
}
