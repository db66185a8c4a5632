package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/internal/testenv"
)

func newEvent(t *testing.T, typ string, data any) eventstore.Envelope {
	t.Helper()
	env, err := eventstore.NewEnvelope(typ, data)
	require.NoError(t, err)
	return env
}

// testStream is an aggregate-style stream for these tests.
var testStream = eventstore.StreamSpec{Name: "TEST", Subjects: []string{"test.>"}}

func setup(t testing.TB) (*eventstore.Store, *natsserver.Server) {
	t.Helper()
	st, srv := testenv.Store(t)
	require.NoError(t, st.EnsureStreams(context.Background(), []eventstore.StreamSpec{testStream}))
	return st, srv
}

func TestEnsureStreamsIsIdempotentAndSafe(t *testing.T) {
	st, _ := setup(t)
	ctx := context.Background()
	require.NoError(t, st.EnsureStreams(ctx, testenv.Streams))
	require.NoError(t, st.EnsureStreams(ctx, testenv.Streams))
	s, err := st.JetStream().Stream(ctx, testenv.TestStream.Name)
	require.NoError(t, err)
	cfg := s.CachedInfo().Config
	require.Equal(t, jetstream.LimitsPolicy, cfg.Retention)
	require.Zero(t, cfg.MaxAge)
	require.True(t, cfg.DenyDelete)
	require.True(t, cfg.DenyPurge)
	require.Equal(t, jetstream.FileStorage, cfg.Storage)
	require.Equal(t, eventstore.DuplicateWindow, cfg.Duplicates)
	require.Error(t, s.Purge(ctx), "the log must refuse purges")
}

func TestAppendWithExpectedSequence(t *testing.T) {
	st, _ := setup(t)
	ctx := context.Background()
	subj := "test.order-1"

	ack1, err := st.Append(ctx, subj, 0, newEvent(t, "order.created.v1", map[string]int{"n": 1}))
	require.NoError(t, err)
	// A second "create" expecting an empty aggregate conflicts.
	_, err = st.Append(ctx, subj, 0, newEvent(t, "order.created.v1", map[string]int{"n": 2}))
	require.ErrorIs(t, err, eventstore.ErrConflict)
	// Another aggregate's appends move the stream, not this subject.
	_, err = st.Append(ctx, "test.order-2", 0, newEvent(t, "order.created.v1", map[string]int{"n": 3}))
	require.NoError(t, err)
	ack2, err := st.Append(ctx, subj, int64(ack1.Seq), newEvent(t, "order.paid.v1", map[string]int{"n": 4}))
	require.NoError(t, err)
	// A stale expectation fails.
	_, err = st.Append(ctx, subj, int64(ack1.Seq), newEvent(t, "order.paid.v1", map[string]int{"n": 5}))
	require.ErrorIs(t, err, eventstore.ErrConflict)

	events, last, err := st.Load(ctx, testStream.Name, subj)
	require.NoError(t, err)
	require.Len(t, events, 2)
	require.Equal(t, int64(ack2.Seq), last)
	require.Equal(t, "order.created.v1", events[0].Envelope.Type)
	require.Equal(t, "order.paid.v1", events[1].Envelope.Type)

	none, last, err := st.Load(ctx, testStream.Name, "test.unknown")
	require.NoError(t, err)
	require.Empty(t, none)
	require.Zero(t, last)

	// Loading created no consumer.
	s, err := st.JetStream().Stream(ctx, testStream.Name)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.State.Consumers)
}

func TestAppendDedupesRetries(t *testing.T) {
	st, _ := setup(t)
	ctx := context.Background()
	env := newEvent(t, "thing.happened.v1", map[string]string{"a": "b"})
	first, err := st.Append(ctx, "test.x", eventstore.NoExpectation, env)
	require.NoError(t, err)
	again, err := st.Append(ctx, "test.x", eventstore.NoExpectation, env)
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, first.Seq, again.Seq)

	other := newEvent(t, "thing.happened.v1", map[string]string{"a": "c"})
	ack, err := st.Append(ctx, "test.x", eventstore.NoExpectation, other, eventstore.WithDedupeID("client-key"))
	require.NoError(t, err)
	dup, err := st.Append(ctx, "test.x", eventstore.NoExpectation, newEvent(t, "thing.happened.v1", map[string]string{}), eventstore.WithDedupeID("client-key"))
	require.NoError(t, err)
	require.True(t, dup.Duplicate)
	require.Equal(t, ack.Seq, dup.Seq)
}

func TestAppendAsyncAndRead(t *testing.T) {
	st, _ := setup(t)
	ctx := context.Background()
	const n = 500
	pending := make([]*eventstore.Pending, n)
	for i := range n {
		p, err := st.AppendAsync("test.bulk", newEvent(t, "bulk.item.v1", map[string]int{"i": i}), eventstore.WithCount(3))
		require.NoError(t, err)
		pending[i] = p
	}
	for i, p := range pending {
		ack, err := p.Wait(ctx)
		require.NoError(t, err)
		require.Equal(t, uint64(i+1), ack.Seq, "async appends keep their order")
	}
	var seqs []uint64
	err := st.Read(ctx, testStream.Name, eventstore.ReadOptions{FromSeq: 10, ToSeq: 20}, func(ev eventstore.RawEvent) error {
		seqs = append(seqs, ev.Seq)
		require.Equal(t, "3", ev.Header.Get(eventstore.HeaderCount))
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []uint64{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, seqs)
}

func TestAppendWhenServerIsGone(t *testing.T) {
	st, srv := setup(t)
	srv.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.Eventually(t, func() bool { return !st.Connected() }, 5*time.Second, 10*time.Millisecond)
	_, err := st.Append(ctx, "test.x", eventstore.NoExpectation, newEvent(t, "thing.happened.v1", map[string]int{}))
	require.ErrorIs(t, err, eventstore.ErrUnavailable)
	_, err = st.AppendAsync("test.x", newEvent(t, "thing.happened.v1", map[string]int{}))
	require.ErrorIs(t, err, eventstore.ErrUnavailable)
	require.ErrorIs(t, st.Ping(ctx), eventstore.ErrUnavailable)
}

// A history longer than the direct gets LoadEach starts with is read to
// its end, in order, from any point, among other subjects' events, and
// leaves no consumer behind.
func TestLoadLongHistory(t *testing.T) {
	st, _ := setup(t)
	ctx := context.Background()
	subj := "test.product-hot"
	var seqs []uint64
	for i := range 50 {
		ack, err := st.Append(ctx, subj, eventstore.NoExpectation, newEvent(t, "product.reserved.v1", map[string]int{"n": i}))
		require.NoError(t, err)
		seqs = append(seqs, ack.Seq)
		_, err = st.Append(ctx, "test.other", eventstore.NoExpectation, newEvent(t, "other.noted.v1", map[string]int{"n": i}))
		require.NoError(t, err)
	}
	for _, from := range []int{0, 5, 15, 16, 17, 30, 49, 50} {
		after := uint64(0)
		if from > 0 {
			after = seqs[from-1]
		}
		events, last, err := st.LoadAfter(ctx, testStream.Name, subj, after)
		require.NoError(t, err)
		require.Len(t, events, 50-from, "after event %d", from)
		for i, ev := range events {
			require.Equal(t, seqs[from+i], ev.Seq)
			require.Equal(t, subj, ev.Subject)
			require.JSONEq(t, fmt.Sprintf(`{"n":%d}`, from+i), string(ev.Envelope.Data))
		}
		require.Equal(t, int64(seqs[49]), last)
	}

	stop := errors.New("stop here")
	n := 0
	_, err := st.LoadEach(ctx, testStream.Name, subj, 0, func(eventstore.Stored) error {
		if n++; n == 30 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop, "an error of fn ends the load")
	require.Equal(t, 30, n)

	s, err := st.JetStream().Stream(ctx, testStream.Name)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := s.Info(ctx)
		return err == nil && info.State.Consumers == 0
	}, 5*time.Second, 20*time.Millisecond, "the reads' consumers are deleted")
}
