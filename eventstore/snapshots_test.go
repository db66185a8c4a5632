package eventstore_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
)

// appendN appends n events to subject and returns the id and sequence of
// the last.
func appendN(t *testing.T, st *eventstore.Store, subject string, n int) (string, uint64) {
	t.Helper()
	var ack eventstore.Ack
	var env eventstore.Envelope
	for i := range n {
		var err error
		env, err = eventstore.NewEnvelope("snap.test.v1", map[string]int{"i": i})
		require.NoError(t, err)
		ack, err = st.Append(context.Background(), subject, eventstore.NoExpectation, env)
		require.NoError(t, err)
	}
	return env.ID.String(), ack.Seq
}

// getSnapshot reads the snapshot of subject whole.
func getSnapshot(st *eventstore.Snapshots, subject string) (eventstore.SnapshotInfo, string, error) {
	var info eventstore.SnapshotInfo
	var body []byte
	err := st.Get(context.Background(), testStream.Name, subject, func(i eventstore.SnapshotInfo, r io.Reader) error {
		info = i
		var err error
		body, err = io.ReadAll(r)
		return err
	})
	return info, string(body), err
}

func TestSnapshotsRoundTripAndReplaceTheirPredecessor(t *testing.T) {
	st, _ := setup(t)
	ctx := context.Background()
	snaps := eventstore.NewSnapshots(st)
	_, _, err := getSnapshot(snaps, "test.a")
	require.ErrorIs(t, err, eventstore.ErrNoSnapshot)
	_, err = st.JetStream().Stream(ctx, "OBJ_"+eventstore.SnapshotBucket)
	require.ErrorIs(t, err, jetstream.ErrStreamNotFound, "reading creates nothing on the server")

	id, seq := appendN(t, st, "test.a", 3)
	info := eventstore.SnapshotInfo{Stream: testStream.Name, Subject: "test.a", Seq: seq, EventID: id, Version: "v1"}
	big := bytes.Repeat([]byte("x"), 300_000) // several chunks of the object store
	require.NoError(t, snaps.Put(ctx, info, func(w io.Writer) error { _, err := w.Write(big); return err }))
	got, body, err := getSnapshot(snaps, "test.a")
	require.NoError(t, err)
	require.Equal(t, string(big), body)
	require.Equal(t, seq, got.Seq)
	require.Equal(t, id, got.EventID)
	require.Equal(t, "v1", got.Version)
	require.EqualValues(t, len(big), got.Size)

	id2, seq2 := appendN(t, st, "test.a", 2)
	require.NoError(t, snaps.Put(ctx, eventstore.SnapshotInfo{Stream: testStream.Name, Subject: "test.a", Seq: seq2, EventID: id2,
		Version: "v1"}, func(w io.Writer) error { _, err := io.WriteString(w, "second"); return err }))
	got, body, err = getSnapshot(snaps, "test.a")
	require.NoError(t, err)
	require.Equal(t, "second", body)
	require.Equal(t, seq2, got.Seq)

	require.NoError(t, snaps.Delete(ctx, testStream.Name, "test.a"))
	_, _, err = getSnapshot(snaps, "test.a")
	require.ErrorIs(t, err, eventstore.ErrNoSnapshot)

	// The bucket deleted under it: one call fails, the next creates it
	// again.
	require.NoError(t, st.JetStream().DeleteObjectStore(ctx, eventstore.SnapshotBucket))
	_, _, err = getSnapshot(snaps, "test.a")
	require.Error(t, err)
	require.NotErrorIs(t, err, eventstore.ErrNoSnapshot)
	require.NoError(t, snaps.Put(ctx, info, func(w io.Writer) error { _, err := io.WriteString(w, "again"); return err }))
	_, body, err = getSnapshot(snaps, "test.a")
	require.NoError(t, err)
	require.Equal(t, "again", body)
}

// A snapshot names the event it was taken after: one whose event is not
// at its sequence any more (another event there, or none) is refused, so a
// wiped and refilled stream never gets a foreign state.
func TestStaleSnapshotsAreRefused(t *testing.T) {
	st, _ := setup(t)
	ctx := context.Background()
	snaps := eventstore.NewSnapshots(st)
	id, seq := appendN(t, st, "test.b", 2)
	put := func(info eventstore.SnapshotInfo) {
		require.NoError(t, snaps.Put(ctx, info, func(w io.Writer) error { _, err := io.WriteString(w, "state"); return err }))
	}
	base := eventstore.SnapshotInfo{Stream: testStream.Name, Subject: "test.b", Seq: seq, EventID: id, Version: "v1"}

	put(base)
	_, _, err := getSnapshot(snaps, "test.b")
	require.NoError(t, err, "the genuine snapshot is used")

	other := base
	other.EventID = "another-event"
	put(other)
	_, _, err = getSnapshot(snaps, "test.b")
	require.ErrorIs(t, err, eventstore.ErrStaleSnapshot)

	beyond := base
	beyond.Seq = seq + 100
	put(beyond)
	_, _, err = getSnapshot(snaps, "test.b")
	require.ErrorIs(t, err, eventstore.ErrStaleSnapshot)

	// The stream wiped and refilled: the same sequence holds a new event.
	put(base)
	require.NoError(t, st.JetStream().DeleteStream(ctx, testStream.Name))
	require.NoError(t, st.EnsureStreams(ctx, []eventstore.StreamSpec{testStream}))
	appendN(t, st, "test.b", 2)
	_, _, err = getSnapshot(snaps, "test.b")
	require.ErrorIs(t, err, eventstore.ErrStaleSnapshot)
}

// A state that writes more than MaxBytes is not stored, and the snapshot
// before it stays.
func TestSnapshotsAreBounded(t *testing.T) {
	st, _ := setup(t)
	ctx := context.Background()
	snaps := eventstore.NewSnapshots(st)
	snaps.MaxBytes = 1000
	id, seq := appendN(t, st, "test.c", 1)
	info := eventstore.SnapshotInfo{Stream: testStream.Name, Subject: "test.c", Seq: seq, EventID: id, Version: "v1"}
	require.NoError(t, snaps.Put(ctx, info, func(w io.Writer) error { _, err := io.WriteString(w, "small"); return err }))
	err := snaps.Put(ctx, info, func(w io.Writer) error {
		for range 10 {
			if _, err := w.Write(make([]byte, 200)); err != nil {
				return err
			}
		}
		return nil
	})
	require.ErrorIs(t, err, eventstore.ErrSnapshotTooLarge)
	_, body, err := getSnapshot(snaps, "test.c")
	require.NoError(t, err)
	require.Equal(t, "small", body)

	// Nothing of the refused one is left behind in the bucket.
	s, err := st.JetStream().Stream(ctx, "OBJ_"+eventstore.SnapshotBucket)
	require.NoError(t, err)
	info2, err := s.Info(ctx, jetstream.WithSubjectFilter("$O."+eventstore.SnapshotBucket+".C.>"))
	require.NoError(t, err)
	require.Len(t, info2.State.Subjects, 1, "only the kept snapshot's chunks")
}

// A process killed while it stored a snapshot leaves chunks no snapshot
// refers to: Sweep purges them once they are old enough, and nothing else.
func TestSweepPurgesTheChunksOfUnfinishedSnapshots(t *testing.T) {
	st, _ := setup(t)
	ctx := context.Background()
	snaps := eventstore.NewSnapshots(st)
	id, seq := appendN(t, st, "test.d", 1)
	info := eventstore.SnapshotInfo{Stream: testStream.Name, Subject: "test.d", Seq: seq, EventID: id, Version: "v1"}
	require.NoError(t, snaps.Put(ctx, info, func(w io.Writer) error { _, err := io.WriteString(w, "kept"); return err }))
	// What a killed Put leaves: chunks under an id no object names.
	orphan := "$O." + eventstore.SnapshotBucket + ".C.orphanNUID"
	for range 3 {
		_, err := st.JetStream().Publish(ctx, orphan, []byte("partial"))
		require.NoError(t, err)
	}
	chunkSubjects := func() int {
		s, err := st.JetStream().Stream(ctx, "OBJ_"+eventstore.SnapshotBucket)
		require.NoError(t, err)
		i, err := s.Info(ctx, jetstream.WithSubjectFilter("$O."+eventstore.SnapshotBucket+".C.>"))
		require.NoError(t, err)
		return len(i.State.Subjects)
	}
	require.Equal(t, 2, chunkSubjects())

	n, err := snaps.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "chunks this young may belong to a snapshot being stored")
	require.Equal(t, 2, chunkSubjects())

	// A process started later with a shorter bound (set before its first
	// use: the sweep it starts in the background reads it too) purges the
	// orphan chunks. Its explicit sweep and its background one may each do
	// it, and a sweep skips a subject whose last chunk it cannot read (a
	// loaded machine may need another pass): wait for the chunks to go.
	later := eventstore.NewSnapshots(st)
	later.AbandonedAfter = time.Nanosecond
	require.Eventually(t, func() bool {
		_, err := later.Sweep(ctx)
		require.NoError(t, err)
		return chunkSubjects() == 1
	}, 10*time.Second, 50*time.Millisecond, "the orphan chunks were never purged")
	n, err = later.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing is left to purge")
	require.Equal(t, 1, chunkSubjects())
	_, body, err := getSnapshot(snaps, "test.d")
	require.NoError(t, err)
	require.Equal(t, "kept", body, "a stored snapshot's chunks stay")
}

// A Put that fails while write is still writing (its context ends) returns
// only once write has returned: the caller may then read what write
// touched (the aggregate's snapshotter reads the bytes it counted).
func TestPutReturnsOnlyOnceWriteHas(t *testing.T) {
	st, _ := setup(t)
	snaps := eventstore.NewSnapshots(st)
	id, seq := appendN(t, st, "test.w", 1)
	info := eventstore.SnapshotInfo{Stream: testStream.Name, Subject: "test.w", Seq: seq, EventID: id, Version: "v1"}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	returned := false // read after Put without a lock: the race detector checks the ordering
	written := 0
	err := snaps.Put(ctx, info, func(w io.Writer) error {
		defer func() { returned = true }()
		chunk := make([]byte, 1024)
		for {
			n, err := w.Write(chunk)
			written += n
			if err != nil {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	require.Error(t, err, "the context ended while write was writing")
	require.True(t, returned, "Put returned before write did")
	require.Positive(t, written)
}
