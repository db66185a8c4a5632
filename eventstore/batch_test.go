package eventstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

// batchStream allows atomic batch publish.
var batchStream = eventstore.StreamSpec{Name: "BATCH", Subjects: []string{"batch.>"}, AllowAtomicPublish: true}

func setupBatch(t *testing.T) *eventstore.Store {
	t.Helper()
	st, _ := setup(t)
	require.NoError(t, st.EnsureStreams(context.Background(), []eventstore.StreamSpec{batchStream}))
	return st
}

func events(t *testing.T, n int) []eventstore.Envelope {
	t.Helper()
	out := make([]eventstore.Envelope, n)
	for i := range out {
		out[i] = newEvent(t, "counter.incremented.v1", map[string]int{"i": i})
	}
	return out
}

func TestAppendBatchStoresAllWithConsecutiveSequences(t *testing.T) {
	st := setupBatch(t)
	ctx := context.Background()
	subj := "batch.agg-1"
	// Another subject moves the stream first.
	_, err := st.Append(ctx, "batch.other", 0, newEvent(t, "counter.incremented.v1", map[string]int{}))
	require.NoError(t, err)

	acks, err := st.AppendBatch(ctx, subj, 0, events(t, 5))
	require.NoError(t, err)
	require.Len(t, acks, 5)
	for i, a := range acks {
		require.Equal(t, uint64(2+i), a.Seq)
	}
	stored, last, err := st.Load(ctx, batchStream.Name, subj)
	require.NoError(t, err)
	require.Len(t, stored, 5)
	require.Equal(t, int64(acks[4].Seq), last)
	for i, ev := range stored {
		require.Equal(t, acks[i].Seq, ev.Seq)
		require.JSONEq(t, fmt.Sprintf(`{"i":%d}`, i), string(ev.Envelope.Data))
	}

	// A second batch expecting the last sequence follows on.
	acks2, err := st.AppendBatch(ctx, subj, last, events(t, 3))
	require.NoError(t, err)
	require.Equal(t, acks[4].Seq+1, acks2[0].Seq)
}

func TestAppendBatchConflictStoresNothing(t *testing.T) {
	st := setupBatch(t)
	ctx := context.Background()
	subj := "batch.agg-2"
	first, err := st.Append(ctx, subj, 0, newEvent(t, "counter.incremented.v1", map[string]int{}))
	require.NoError(t, err)

	tests := []struct {
		name     string
		expected int64
	}{
		{"expects an empty aggregate", 0},
		{"expects a stale sequence", int64(first.Seq) + 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := st.AppendBatch(ctx, subj, tt.expected, events(t, 4))
			require.ErrorIs(t, err, eventstore.ErrConflict)
			stored, last, err := st.Load(ctx, batchStream.Name, subj)
			require.NoError(t, err)
			require.Len(t, stored, 1, "no event of a refused batch is stored")
			require.Equal(t, int64(first.Seq), last)
		})
	}
	info, err := st.JetStream().Stream(ctx, batchStream.Name)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.CachedInfo().State.Msgs)
}

func TestAppendBatchOfOneIsAPlainAppend(t *testing.T) {
	// The TEST stream does not allow atomic publish: one event needs no batch.
	st, _ := setup(t)
	ctx := context.Background()
	acks, err := st.AppendBatch(ctx, "test.one", 0, events(t, 1))
	require.NoError(t, err)
	require.Len(t, acks, 1)
	_, err = st.AppendBatch(ctx, "test.one", 0, events(t, 1))
	require.ErrorIs(t, err, eventstore.ErrConflict)
	acks, err = st.AppendBatch(ctx, "test.one", 0, nil)
	require.NoError(t, err)
	require.Empty(t, acks)
}

func TestAppendBatchRetriedWithSameDedupeID(t *testing.T) {
	st := setupBatch(t)
	ctx := context.Background()
	envs := events(t, 2)
	_, err := st.AppendBatch(ctx, "batch.agg-3", eventstore.NoExpectation, envs, eventstore.WithDedupeID("cmd-1"))
	require.NoError(t, err)
	_, err = st.AppendBatch(ctx, "batch.agg-3", eventstore.NoExpectation, envs, eventstore.WithDedupeID("cmd-1"))
	require.ErrorIs(t, err, eventstore.ErrBatchDuplicate)
	stored, _, err := st.Load(ctx, batchStream.Name, "batch.agg-3")
	require.NoError(t, err)
	require.Len(t, stored, 2)
}

func TestAppendBatchLimits(t *testing.T) {
	st, _ := setup(t)
	_, err := st.AppendBatch(context.Background(), "test.big", 0, events(t, eventstore.MaxBatch+1))
	require.ErrorIs(t, err, eventstore.ErrTooLarge)
	// A stream without AllowAtomicPublish refuses batches and stores nothing.
	_, err = st.AppendBatch(context.Background(), "test.nobatch", 0, events(t, 2))
	require.Error(t, err)
	stored, _, err := st.Load(context.Background(), testStream.Name, "test.nobatch")
	require.NoError(t, err)
	require.Empty(t, stored)
}
