package logsapi

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
)

// The pending counter keeps a bounded number of spans however long the
// backlog grows (a long PostgreSQL outage), and its count stays exact as the
// checkpoint moves through and inside spans.
func TestPendingCounterIsBoundedAndExact(t *testing.T) {
	st, _ := testenv.Store(t)
	ctx := context.Background()
	const events = 300
	counts := make([]int64, events+1) // by seq
	for i := 1; i <= events; i++ {
		n := int64(i%7 + 1)
		env, err := eventstore.NewEnvelope(logs.EntriesReceivedV1, map[string]any{"entries": []any{}})
		require.NoError(t, err)
		env.ID = uuid.Must(uuid.NewV7())
		ack, err := st.Append(ctx, logs.Subject, eventstore.NoExpectation, env, eventstore.WithCount(int(n)))
		require.NoError(t, err)
		counts[ack.Seq] = n
	}
	pos, err := st.JetStream().Stream(ctx, logs.Stream)
	require.NoError(t, err)
	created := pos.CachedInfo().Created
	want := func(cp, last uint64) (n int64) {
		for s := cp + 1; s <= last; s++ {
			n += counts[s]
		}
		return n
	}
	c := &pendingCounter{maxSpans: 4, firstSpanLen: 2}
	// The log grows while the checkpoint stands still, then the projector
	// catches up in uneven steps that land inside spans.
	for _, step := range []struct{ cp, last uint64 }{
		{0, 10}, {0, 50}, {0, 200}, {0, 300}, {3, 300}, {77, 300}, {78, 300}, {150, 300}, {299, 300}, {300, 300},
	} {
		got, err := c.count(ctx, st, created, step.cp, step.last)
		require.NoError(t, err)
		require.Equal(t, want(step.cp, step.last), got, "checkpoint %d, last %d", step.cp, step.last)
		require.LessOrEqual(t, len(c.spans), 4, "spans are bounded")
	}
	// A rebuild moves the checkpoint back: counted afresh.
	got, err := c.count(ctx, st, created, 100, 300)
	require.NoError(t, err)
	require.Equal(t, want(100, 300), got)
	// Another stream (recreated): counted afresh.
	got, err = c.count(ctx, st, created.Add(time.Second), 0, 300)
	require.NoError(t, err)
	require.Equal(t, want(0, 300), got)
}
