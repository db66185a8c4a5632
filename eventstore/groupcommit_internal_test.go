package eventstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"
)

type testServer struct {
	url   string
	creds Credentials
}

// startServer starts a JetStream server for the test (this package's own
// tests cannot import natsserver, which imports it).
func startServer(t *testing.T, syncAlways bool) testServer {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		SyncAlways: syncAlways, NoLog: true, NoSigs: true}
	srv, err := server.NewServer(opts)
	require.NoError(t, err)
	srv.Start()
	require.True(t, srv.ReadyForConnections(10*time.Second))
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return testServer{url: srv.ClientURL()}
}

// connectGroup returns a Store with group commit on a stream "GC" that
// allows atomic publish, on a fresh embedded server at url.
func groupStore(t *testing.T, url string, creds Credentials) (*Store, *committer) {
	t.Helper()
	ctx := context.Background()
	st, err := Connect(ctx, Options{URL: url, Credentials: creds, Name: t.Name(),
		GroupCommit: GroupCommit{Enabled: true, MaxInFlight: 1, MinBatch: 2}})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.EnsureStreams(ctx, []StreamSpec{{Name: "GC", Subjects: []string{"gc.>"}, AllowAtomicPublish: true}}))
	c := st.committerFor("gc.x")
	require.NotNil(t, c)
	return st, c
}

// item builds a queued append of event i to subject with an expectation.
func item(t *testing.T, st *Store, c *committer, subject string, expected int64, dedupe string) *groupItem {
	t.Helper()
	env, err := NewEnvelope("test.appended.v1", map[string]string{"subject": subject})
	require.NoError(t, err)
	var opts []AppendOption
	if dedupe != "" {
		opts = append(opts, WithDedupeID(dedupe))
	}
	m, err := st.newMsg(subject, env, opts)
	require.NoError(t, err)
	c.room <- struct{}{}
	if expected != NoExpectation {
		m.Header.Set("Nats-Expected-Last-Subject-Sequence", fmt.Sprint(expected))
	}
	return &groupItem{subject: subject, msg: m, expected: expected, size: len(m.Data), done: make(chan groupResult, 1)}
}

func result(t *testing.T, it *groupItem) groupResult {
	t.Helper()
	select {
	case r := <-it.done:
		return r
	default:
		t.Fatalf("append to %s was not answered", it.subject)
		return groupResult{}
	}
}

// A group rejected for one stale expectation is stored without it, in one
// batch, and the stale appends alone get the conflict, each exactly as a
// plain append would (one whose message id was stored already included:
// the server checks the expectation first).
func TestGroupRejectedForAConflictIsStoredWithoutIt(t *testing.T) {
	srv := startServer(t, false)
	st, c := groupStore(t, srv.url, srv.creds)
	ctx := context.Background()
	// gc.a0 has one event (seq 1); gc.dup has one event (seq 2) with id "dup-1".
	first, err := st.Append(ctx, "gc.a0", 0, mustEnvelope(t))
	require.NoError(t, err)
	require.Equal(t, uint64(1), first.Seq)
	dupEnv := mustEnvelope(t)
	_, err = st.Append(ctx, "gc.dup", 0, dupEnv, WithDedupeID("dup-1"))
	require.NoError(t, err)

	var group []*groupItem
	for i := range 8 {
		group = append(group, item(t, st, c, fmt.Sprintf("gc.ok%d", i), 0, ""))
	}
	stale := item(t, st, c, "gc.a0", 0, "")         // last is 1: stale
	retried := item(t, st, c, "gc.dup", 0, "dup-1") // stale, but already stored
	group = append(group[:3], append([]*groupItem{stale, retried}, group[3:]...)...)
	c.store(group)

	r := result(t, stale)
	require.ErrorIs(t, r.err, ErrConflict)
	r = result(t, retried)
	require.ErrorIs(t, r.err, ErrConflict)
	_, plainErr := st.Append(ctx, "gc.dup", 0, dupEnv, WithDedupeID("dup-1"))
	require.ErrorIs(t, plainErr, ErrConflict, "a plain append answers the same")
	var seqs []uint64
	for _, it := range group {
		if it == stale || it == retried {
			continue
		}
		r := result(t, it)
		require.NoError(t, r.err, it.subject)
		seqs = append(seqs, r.ack.Seq)
		stored, last, err := st.Load(ctx, "GC", it.subject)
		require.NoError(t, err)
		require.Len(t, stored, 1)
		require.Equal(t, int64(r.ack.Seq), last)
	}
	for i := range seqs {
		require.Equal(t, uint64(3+i), seqs[i], "the others are stored together, in order")
	}
	require.Equal(t, int64(1), c.stats.Batches.Load())
	require.Equal(t, int64(8), c.stats.BatchedAppends.Load())
	require.Equal(t, int64(2), c.stats.Conflicts.Load())
	_, last, err := st.Load(ctx, "GC", "gc.a0")
	require.NoError(t, err)
	require.Equal(t, int64(1), last, "nothing of the stale append stored")
	require.Len(t, c.room, 0, "every place freed")
}

// A group with a message id stored already (no expectation) is rejected
// whole; each append then gets its own answer.
func TestGroupWithADuplicateAnswersEach(t *testing.T) {
	srv := startServer(t, false)
	st, c := groupStore(t, srv.url, srv.creds)
	ctx := context.Background()
	ack, err := st.Append(ctx, "gc.log", NoExpectation, mustEnvelope(t), WithDedupeID("k1"))
	require.NoError(t, err)
	var group []*groupItem
	for i := range 6 {
		group = append(group, item(t, st, c, "gc.log", NoExpectation, fmt.Sprintf("k%d", i)))
	}
	c.store(group)
	for i, it := range group {
		r := result(t, it)
		require.NoError(t, r.err)
		require.Equal(t, i == 1, r.ack.Duplicate, "append %d", i)
		if i == 1 {
			require.Equal(t, ack.Seq, r.ack.Seq)
		}
	}
	require.Equal(t, int64(1), c.stats.Rejected.Load())
	require.Len(t, c.room, 0)
}

// takeLocked keeps an expected append's subject to itself in a group, and
// the order of each subject's appends.
func TestTakeKeepsOneExpectationPerSubjectAndOrder(t *testing.T) {
	c := &committer{room: make(chan struct{}, 100)}
	mk := func(subject string, expected int64) *groupItem {
		return &groupItem{subject: subject, expected: expected, size: 10}
	}
	a1, b1, a2, l1, l2, b2, c1 := mk("a", 0), mk("b", NoExpectation), mk("a", 1), mk("l", NoExpectation),
		mk("l", NoExpectation), mk("b", 3), mk("c", 0)
	c.queue = []*groupItem{a1, b1, a2, l1, l2, b2, c1}
	require.Equal(t, []*groupItem{a1, b1, l1, l2, c1}, c.takeLocked())
	// While that group is in flight, a second one leaves its subjects
	// alone: a later append to l waits for it.
	l3, d1 := mk("l", NoExpectation), mk("d", 0)
	c.queue = append(c.queue, l3, d1)
	require.Equal(t, []*groupItem{d1}, c.takeLocked())
	c.busy = nil // both groups stored
	require.Equal(t, []*groupItem{a2, b2, l3}, c.takeLocked())
	require.Empty(t, c.takeLocked())
}

func TestSubjectMatches(t *testing.T) {
	for _, tc := range []struct {
		filter, subject string
		want            bool
	}{
		{"saga.>", "saga.1", true}, {"saga.>", "saga.1.x", true}, {"saga.>", "saga", false},
		{"a.*.c", "a.b.c", true}, {"a.*.c", "a.b.d", false}, {"a.*", "a.b.c", false}, {"a.b", "a.b", true},
		{"a.b", "a.b.c", false}, {"a.b.c", "a.b", false}, {"logs.entries", "logs.entries", true},
	} {
		require.Equal(t, tc.want, subjectMatches(tc.filter, tc.subject), "%s ~ %s", tc.filter, tc.subject)
	}
}

func mustEnvelope(t *testing.T) Envelope {
	t.Helper()
	env, err := NewEnvelope("test.appended.v1", map[string]int{})
	require.NoError(t, err)
	return env
}
