package eventstore_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
)

func connectReplicas(t *testing.T, urls string, replicas int) *eventstore.Store {
	t.Helper()
	st, err := eventstore.Connect(context.Background(), eventstore.Options{URL: urls, Name: t.Name(), Replicas: replicas})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

func TestEnsureStreamsNeverLowersReplicas(t *testing.T) {
	urls := testenv.StartCluster(t, 3).URL()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spec := eventstore.StreamSpec{Name: "ORDERS", Subjects: []string{"orders.>"}, AllowAtomicPublish: true}
	replicas := func(st *eventstore.Store) int {
		t.Helper()
		s, err := st.JetStream().Stream(ctx, spec.Name)
		require.NoError(t, err)
		return s.CachedInfo().Config.Replicas
	}

	// Created at R1, upgraded to R3: allowed.
	r1 := connectReplicas(t, urls, 1)
	require.NoError(t, ensureEventually(ctx, r1, spec))
	require.Equal(t, 1, replicas(r1))
	r3 := connectReplicas(t, urls, 3)
	require.NoError(t, ensureEventually(ctx, r3, spec))
	require.Equal(t, 3, replicas(r3))
	require.NoError(t, r3.EnsureStreams(ctx, []eventstore.StreamSpec{spec}), "ensuring again at R3 changes nothing")

	// Back to R1: refused, naming the stream and both counts; it stays R3.
	err := r1.EnsureStreams(ctx, []eventstore.StreamSpec{spec})
	require.ErrorIs(t, err, eventstore.ErrReplicasMismatch)
	require.ErrorContains(t, err, "ORDERS")
	require.ErrorContains(t, err, "3 replicas, configured 1")
	require.Equal(t, 3, replicas(r1))

	// An atomic batch on the replicated stream: conflicts still map to
	// ErrConflict (the replicated error code) and store nothing.
	// The scale-up may still be electing the stream's leader: an append
	// meanwhile finds no responder, and is retried as a client would.
	var acks []eventstore.Ack
	require.Eventually(t, func() bool {
		acks, err = r3.AppendBatch(ctx, "orders.o1", 0, []eventstore.Envelope{newEvent(t, "order.created.v1", map[string]int{}), newEvent(t, "order.paid.v1", map[string]int{})})
		require.True(t, err == nil || errors.Is(err, eventstore.ErrUnavailable), "%v", err)
		return err == nil
	}, 10*time.Second, 50*time.Millisecond)
	require.Len(t, acks, 2)
	_, err = r3.AppendBatch(ctx, "orders.o1", 0, []eventstore.Envelope{newEvent(t, "order.created.v1", map[string]int{}), newEvent(t, "order.paid.v1", map[string]int{})})
	require.ErrorIs(t, err, eventstore.ErrConflict)
	_, err = r3.Append(ctx, "orders.o1", 0, newEvent(t, "order.created.v1", map[string]int{}))
	require.ErrorIs(t, err, eventstore.ErrConflict)
	stored, _, err := r3.Load(ctx, spec.Name, "orders.o1")
	require.NoError(t, err)
	require.Len(t, stored, 2)
}

// ensureEventually retries EnsureStreams while a new cluster settles its
// leaders (the first requests may find none yet).
func ensureEventually(ctx context.Context, st *eventstore.Store, spec eventstore.StreamSpec) error {
	for {
		// Each try bounded on its own: a request the cluster drops while
		// it moves its meta leader would otherwise hold the whole ctx.
		try, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := st.EnsureStreams(try, []eventstore.StreamSpec{spec})
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// The snapshot bucket follows the configured replicas like a stream: raised
// from 1 to 3, never lowered (a store configured with fewer cannot store
// snapshots, and says why).
func TestSnapshotBucketFollowsReplicas(t *testing.T) {
	urls := testenv.StartCluster(t, 3).URL()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r1, r3 := connectReplicas(t, urls, 1), connectReplicas(t, urls, 3)
	require.NoError(t, ensureEventually(ctx, r3, testStream))
	ack, err := r3.Append(ctx, "test.snap", 0, newEvent(t, "test.created.v1", map[string]int{}))
	require.NoError(t, err)
	m, err := r3.Get(ctx, testStream.Name, ack.Seq)
	require.NoError(t, err)
	info := eventstore.SnapshotInfo{Stream: testStream.Name, Subject: "test.snap", Seq: ack.Seq,
		EventID: m.Header.Get("Nats-Msg-Id"), Version: "v1"}
	put := func(st *eventstore.Store) error {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		return eventstore.NewSnapshots(st).Put(ctx, info, func(w io.Writer) error {
			_, err := w.Write([]byte("state"))
			return err
		})
	}
	replicas := func() int {
		t.Helper()
		s, err := r3.JetStream().Stream(ctx, "OBJ_"+eventstore.SnapshotBucket)
		require.NoError(t, err)
		return s.CachedInfo().Config.Replicas
	}
	// A cluster just started may not answer at once (no responders).
	putEventually := func(st *eventstore.Store) {
		t.Helper()
		require.Eventually(t, func() bool {
			err := put(st)
			require.True(t, err == nil || errors.Is(err, eventstore.ErrUnavailable), "%v", err)
			return err == nil
		}, 30*time.Second, 10*time.Millisecond)
	}
	putEventually(r1)
	require.Equal(t, 1, replicas())
	// Raised; the bucket's stream may take appends again only once its new
	// replicas have joined.
	putEventually(r3)
	require.Equal(t, 3, replicas(), "raised")
	err = put(r1)
	require.ErrorIs(t, err, eventstore.ErrReplicasMismatch)
	require.ErrorContains(t, err, "3 replicas, configured 1")
	require.Equal(t, 3, replicas(), "never lowered")
	// Reading needs no bucket change. Right after the raise the new
	// replicas may still be catching up: a read may fail as unavailable
	// (a snapshot is a cache; a load then folds the events), never as a
	// mismatch, and it reads the state once they have.
	require.Eventually(t, func() bool {
		var body []byte
		err := eventstore.NewSnapshots(r1).Get(ctx, testStream.Name, "test.snap", func(_ eventstore.SnapshotInfo, r io.Reader) error {
			var err error
			body, err = io.ReadAll(r)
			return err
		})
		require.NotErrorIs(t, err, eventstore.ErrReplicasMismatch)
		if err != nil {
			t.Logf("read: %v", err)
			return false
		}
		require.Equal(t, "state", string(body))
		return true
	}, 30*time.Second, 50*time.Millisecond, "reading needs no bucket change")
}
