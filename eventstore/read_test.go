package eventstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
)

// TestReadReportsGaps deletes messages from a stream that allows it and
// checks that Read delivers the rest in order and reports every hole.
func TestReadReportsGaps(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	s, err := st.JetStream().CreateStream(ctx, jetstream.StreamConfig{Name: "GAPS", Subjects: []string{"gaps.>"}, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	for i := 1; i <= 10; i++ {
		env, err := eventstore.NewEnvelope("gap.test.v1", map[string]int{"i": i})
		require.NoError(t, err)
		_, err = st.Append(ctx, fmt.Sprintf("gaps.%d", i%2), eventstore.NoExpectation, env)
		require.NoError(t, err)
	}
	for _, seq := range []uint64{1, 4, 5, 10} {
		require.NoError(t, s.DeleteMsg(ctx, seq))
	}
	tests := []struct {
		name     string
		opt      eventstore.ReadOptions
		wantSeqs []uint64
		wantGaps []string
	}{
		{"whole stream", eventstore.ReadOptions{}, []uint64{2, 3, 6, 7, 8, 9}, []string{"1..1", "4..5", "10..10"}},
		{"tail", eventstore.ReadOptions{FromSeq: 6}, []uint64{6, 7, 8, 9}, []string{"10..10"}},
		{"range", eventstore.ReadOptions{FromSeq: 3, ToSeq: 7}, []uint64{3, 6, 7}, []string{"4..5"}},
		{"range ending in a hole", eventstore.ReadOptions{FromSeq: 2, ToSeq: 4}, []uint64{2, 3}, []string{"4..4"}},
		{"range inside a hole", eventstore.ReadOptions{FromSeq: 4, ToSeq: 5}, nil, []string{"4..5"}},
		{"subject filter: no gap check", eventstore.ReadOptions{Subjects: []string{"gaps.0"}}, []uint64{2, 6, 8}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seqs []uint64
			var gaps []string
			tt.opt.OnGap = func(from, to uint64) error {
				gaps = append(gaps, fmt.Sprintf("%d..%d", from, to))
				return nil
			}
			require.NoError(t, st.Read(ctx, "GAPS", tt.opt, func(ev eventstore.RawEvent) error {
				seqs = append(seqs, ev.Seq)
				return nil
			}))
			require.Equal(t, tt.wantSeqs, seqs)
			require.Equal(t, tt.wantGaps, gaps)
		})
	}
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.State.Consumers, "reads leave no consumer behind")
}

// TestReadEndsWhenServerGoesAway shuts the server down in the middle of a
// read: Read must return an error, not hang or report success.
func TestReadEndsWhenServerGoesAway(t *testing.T) {
	ctx := context.Background()
	st, srv := testenv.Store(t)
	// More than two pulls (5,000 messages each) hold, so that the reader
	// must come back to the server.
	const n = 12000
	fillLogs(t, st, n)
	got := 0
	done := make(chan error, 1)
	go func() {
		done <- st.Read(ctx, testenv.TestStream.Name, eventstore.ReadOptions{}, func(ev eventstore.RawEvent) error {
			got++
			if got == 1 {
				srv.Shutdown()
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		require.Less(t, got, n, "a read that lost its server must not look complete")
	case <-time.After(30 * time.Second):
		t.Fatal("Read still running 30 s after the server went away")
	}
}

// TestReadStopsOnCancel cancels a read: it returns the context's error and
// delivers nothing more.
func TestReadStopsOnCancel(t *testing.T) {
	st, _ := testenv.Store(t)
	fillLogs(t, st, 3)
	ctx, cancel := context.WithCancel(context.Background())
	var seqs []uint64
	err := st.Read(ctx, testenv.TestStream.Name, eventstore.ReadOptions{}, func(ev eventstore.RawEvent) error {
		seqs = append(seqs, ev.Seq)
		cancel()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []uint64{1}, seqs)
}

func fillLogs(t *testing.T, st *eventstore.Store, n int) {
	t.Helper()
	pending := make([]*eventstore.Pending, 0, n)
	for i := range n {
		env, err := eventstore.NewEnvelope("log.test.v1", map[string]int{"i": i})
		require.NoError(t, err)
		p, err := st.AppendAsync(testenv.TestSubject, env)
		require.NoError(t, err)
		pending = append(pending, p)
	}
	for _, p := range pending {
		_, err := p.Wait(context.Background())
		require.NoError(t, err)
	}
}
