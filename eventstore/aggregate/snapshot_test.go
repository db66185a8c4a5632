package aggregate_test

import (
	"context"
	"encoding/json"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
)

const counterSnapshotVersion = "counter.v1"

// snapshotted is the counter with a Snapshot, counting the events its
// Evolve folds into evolved.
func snapshotted(evolved *atomic.Int64) aggregate.Definition[counter, increment] {
	def := counterDefinition()
	evolve := def.Evolve
	def.Evolve = func(s counter, ev aggregate.Recorded) counter {
		evolved.Add(1)
		return evolve(s, ev)
	}
	def.Snapshot = &aggregate.Snapshot[counter]{
		Version: counterSnapshotVersion,
		Write:   func(s counter, w io.Writer) error { return json.NewEncoder(w).Encode(s) },
		Read: func(r io.Reader) (counter, error) {
			var s counter
			err := json.NewDecoder(r).Decode(&s)
			return s, err
		},
	}
	return def
}

// latestSnapshot returns the seq of the stored snapshot of counter id, 0
// when there is none.
func latestSnapshot(t *testing.T, snaps *eventstore.Snapshots, id string) uint64 {
	t.Helper()
	var seq uint64
	err := snaps.Get(context.Background(), counterStream.Name, "counter."+id, func(info eventstore.SnapshotInfo, _ io.Reader) error {
		seq = info.Seq
		return nil
	})
	if err != nil {
		require.ErrorIs(t, err, eventstore.ErrNoSnapshot)
	}
	return seq
}

func TestColdLoadsStartFromTheLatestSnapshot(t *testing.T) {
	st := stores(t, 1)[0]
	ctx := context.Background()
	snaps := eventstore.NewSnapshots(st)
	var evolved atomic.Int64
	opts := aggregate.Options{Snapshots: snaps, SnapshotEvery: 10}
	h, err := aggregate.New(st, registry(), snapshotted(&evolved), opts)
	require.NoError(t, err)
	for range 35 {
		_, err := h.Handle(ctx, "a", increment{By: 2}, aggregate.Meta{})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return latestSnapshot(t, snaps, "a") >= 10 }, 10*time.Second, 10*time.Millisecond,
		"a snapshot is stored once 10 events were folded")

	// Storing is in the background: wait until the latest one stays put.
	var snapSeq uint64
	require.Eventually(t, func() bool {
		s := latestSnapshot(t, snaps, "a")
		time.Sleep(50 * time.Millisecond)
		snapSeq = s
		return s == latestSnapshot(t, snaps, "a")
	}, 10*time.Second, 10*time.Millisecond)

	evolved.Store(0)
	cold, err := aggregate.New(st, registry(), snapshotted(&evolved), opts)
	require.NoError(t, err)
	state, seq, err := cold.Load(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, counter{Value: 70, Events: 35}, state)
	require.EqualValues(t, 35, seq)
	require.EqualValues(t, 35-snapSeq, evolved.Load(), "only the events after the snapshot are folded")

	// The restored state decides and appends with the right expectation.
	res, err := cold.Handle(ctx, "a", increment{By: 1}, aggregate.Meta{})
	require.NoError(t, err)
	require.Equal(t, counter{Value: 71, Events: 36}, res.State)

	// Without snapshots the same load folds every event.
	evolved.Store(0)
	plain, err := aggregate.New(st, registry(), snapshotted(&evolved), aggregate.Options{})
	require.NoError(t, err)
	state, _, err = plain.Load(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, counter{Value: 71, Events: 36}, state)
	require.EqualValues(t, 36, evolved.Load())
}

// A snapshot that cannot be trusted is not used, and the load folds the
// whole history instead of failing: one of another version, one taken
// after another event than the one now at its sequence, or one that does
// not read.
func TestUnusableSnapshotsFallBackToTheWholeHistory(t *testing.T) {
	st := stores(t, 1)[0]
	ctx := context.Background()
	snaps := eventstore.NewSnapshots(st)
	var evolved atomic.Int64
	h, err := aggregate.New(st, registry(), snapshotted(&evolved), aggregate.Options{CacheSize: -1})
	require.NoError(t, err)
	for range 5 {
		_, err := h.Handle(ctx, "b", increment{By: 1}, aggregate.Meta{})
		require.NoError(t, err)
	}
	stored, _, err := st.Load(ctx, counterStream.Name, "counter.b")
	require.NoError(t, err)
	third := stored[2] // a snapshot taken after the third event

	put := func(version, eventID, body string) {
		t.Helper()
		require.NoError(t, snaps.Put(ctx, eventstore.SnapshotInfo{Stream: counterStream.Name, Subject: "counter.b", Seq: third.Seq,
			EventID: eventID, Version: version}, func(w io.Writer) error { _, err := io.WriteString(w, body); return err }))
	}
	load := func() counter {
		t.Helper()
		fresh, err := aggregate.New(st, registry(), snapshotted(&evolved), aggregate.Options{Snapshots: snaps})
		require.NoError(t, err)
		s, _, err := fresh.Load(ctx, "b")
		require.NoError(t, err)
		return s
	}
	forged := `{"Value":1000,"Events":3}`

	put(counterSnapshotVersion, third.Envelope.ID.String(), forged)
	require.Equal(t, counter{Value: 1002, Events: 5}, load(), "a genuine snapshot is used (the forged value shows it)")

	put("counter.v0", third.Envelope.ID.String(), forged)
	require.Equal(t, counter{Value: 5, Events: 5}, load(), "another version")

	put(counterSnapshotVersion, stored[1].Envelope.ID.String(), forged)
	require.Equal(t, counter{Value: 5, Events: 5}, load(), "another event at its sequence")

	put(counterSnapshotVersion, third.Envelope.ID.String(), "not json")
	require.Equal(t, counter{Value: 5, Events: 5}, load(), "unreadable")
}
