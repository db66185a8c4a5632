package reactor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/reactor"
)

// A message whose ack is lost (the process dies after the handler appended
// its effect, before the ack) is delivered again and appends nothing new.
func TestRedeliveredMessageAppendsNothingNew(t *testing.T) {
	e := newEnv(t)
	appended := make(chan struct{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var calls atomic.Int64
	var dup atomic.Bool
	h := func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
		calls.Add(1)
		ack, err := fx.Append(ctx, "out."+ev.Subject, eventstore.NoExpectation, "test.output.v1", map[string]uint64{"seq": ev.Seq})
		if err != nil {
			return err
		}
		if ev.Attempt == 1 {
			close(appended)
			<-release // "dies" here: never returns before its process is gone
			return nil
		}
		dup.Store(ack.Duplicate)
		return nil
	}
	r := reactor.Reactor{Name: "redeliver", Stream: testStream, Subjects: []string{"in.>"}, Handler: h,
		Policy: reactor.Policy{AckWait: time.Second}}

	// The first process: its own connection, closed when it "dies".
	first := e.connect(t)
	run1 := start(t, first, e.pool, reactor.Config{CloseTimeout: 50 * time.Millisecond}, r)
	_, seq := publish(t, e.store, "in.a", "")
	<-appended
	first.Conn().Close()
	_ = run1.stop(t) // a close timeout: the handler is stuck

	// The second process gets the message again after AckWait.
	start(t, e.store, e.pool, reactor.Config{}, r)
	eventually(t, func() bool { return calls.Load() == 2 }, "redelivered")
	eventually(t, func() bool {
		info, err := e.store.JetStream().Consumer(context.Background(), testStream, r.Consumer())
		require.NoError(t, err)
		ci, err := info.Info(context.Background())
		require.NoError(t, err)
		return ci.AckFloor.Stream == seq
	}, "acked")
	require.True(t, dup.Load(), "the second append is a duplicate")
	out := outputs(t, e.store, "out.in.a")
	require.Len(t, out, 1, "exactly one effect")
}

// A handler that panics is recovered (the process keeps running) and the
// message is retried.
func TestPanicRecoveredAndRetried(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int64
	inner := echo(&calls)
	h := func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
		if ev.Attempt == 1 {
			panic("boom")
		}
		return inner(ctx, ev, fx)
	}
	r := reactor.Reactor{Name: "panicky", Stream: testStream, Subjects: []string{"in.>"}, Handler: h, Policy: fastPolicy}
	start(t, e.store, e.pool, reactor.Config{}, r)
	publish(t, e.store, "in.p", "")
	eventually(t, func() bool { return len(outputs(t, e.store, "out.in.p")) == 1 }, "handled after the panic")
	parked, err := reactor.ListParked(context.Background(), e.pool, r.Name)
	require.NoError(t, err)
	require.Empty(t, parked)
}

// What is transient is retried until it passes and never parked; a
// permanent error is parked at once; an unclassified one after the
// policy's attempts.
func TestFailuresParkedOrRetried(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		failures     int64 // attempts that fail before the handler succeeds
		wantParked   bool
		wantAttempts int
	}{
		{name: "jetstream unavailable", err: fmt.Errorf("append: %w", eventstore.ErrUnavailable), failures: 6},
		{name: "deadline", err: context.DeadlineExceeded, failures: 6},
		{name: "marked transient", err: reactor.Transient(errBroken), failures: 6},
		{name: "permanent", err: reactor.Permanent(errBroken), failures: 100, wantParked: true, wantAttempts: 1},
		{name: "unclassified", err: errBroken, failures: 100, wantParked: true, wantAttempts: fastPolicy.MaxAttempts},
		{name: "unclassified then fixed", err: errBroken, failures: 2},
	}
	e := newEnv(t)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			inner := echo(&calls)
			h := func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
				if int64(ev.Attempt) <= tc.failures {
					calls.Add(1)
					return tc.err
				}
				return inner(ctx, ev, fx)
			}
			subject := fmt.Sprintf("in.f%d", i)
			r := reactor.Reactor{Name: fmt.Sprintf("fail%d", i), Stream: testStream, Subjects: []string{subject}, Handler: h, Policy: fastPolicy}
			start(t, e.store, e.pool, reactor.Config{}, r)
			_, seq := publish(t, e.store, subject, "")
			if tc.wantParked {
				var parked []reactor.Parked
				eventually(t, func() bool {
					var err error
					parked, err = reactor.ListParked(context.Background(), e.pool, r.Name)
					require.NoError(t, err)
					return len(parked) == 1
				}, "parked")
				require.Equal(t, seq, parked[0].Seq)
				require.Equal(t, tc.wantAttempts, parked[0].Attempts)
				require.Equal(t, "test.input.v1", parked[0].EventType)
				require.Contains(t, parked[0].Error, errBroken.Error())
				require.Equal(t, int64(tc.wantAttempts), calls.Load())
				return
			}
			eventually(t, func() bool { return len(outputs(t, e.store, "out."+subject)) == 1 }, "handled")
			require.Equal(t, tc.failures+1, calls.Load())
			parked, err := reactor.ListParked(context.Background(), e.pool, r.Name)
			require.NoError(t, err)
			require.Empty(t, parked)
		})
	}
}

// A parked message does not hold the reactor back; after the fix a retry
// through the API handles it and it leaves the parked list; a skip is
// recorded with who and why.
func TestParkedRetriedAfterFixAndSkipped(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var broken atomic.Bool
	broken.Store(true)
	var calls atomic.Int64
	inner := echo(&calls)
	h := func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
		if broken.Load() && ev.Subject != "in.ok" {
			return reactor.Permanent(errBroken)
		}
		return inner(ctx, ev, fx)
	}
	r := reactor.Reactor{Name: "fixable", Stream: testStream, Subjects: []string{"in.>"}, Handler: h, Policy: fastPolicy}
	start(t, e.store, e.pool, reactor.Config{}, r)
	_, bad1 := publish(t, e.store, "in.bad1", "")
	_, bad2 := publish(t, e.store, "in.bad2", "")
	publish(t, e.store, "in.ok", "")
	eventually(t, func() bool { return len(outputs(t, e.store, "out.in.ok")) == 1 }, "later message handled")
	eventually(t, func() bool {
		parked, err := reactor.ListParked(ctx, e.pool, r.Name)
		require.NoError(t, err)
		return len(parked) == 2
	}, "two parked")

	retrier := reactor.NewRetrier(e.store, e.pool, r)
	res, err := retrier.Retry(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, res.Retried)
	require.Equal(t, 0, res.Handled)
	require.Len(t, res.StillParked, 2)
	require.Equal(t, 2, res.StillParked[0].Attempts)

	sk, err := retrier.Skip(ctx, bad2, "alice", "known bad input")
	require.NoError(t, err)
	require.Equal(t, "alice", sk.SkippedBy)
	require.Equal(t, "known bad input", sk.Reason)
	_, err = retrier.Skip(ctx, bad2, "alice", "again")
	require.ErrorIs(t, err, reactor.ErrNotParked)

	broken.Store(false)
	res, err = retrier.Retry(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Retried)
	require.Equal(t, 1, res.Handled)
	require.Empty(t, res.StillParked)
	parked, err := reactor.ListParked(ctx, e.pool, r.Name)
	require.NoError(t, err)
	require.Empty(t, parked)
	out := outputs(t, e.store, "out.in.bad1")
	require.Len(t, out, 1)
	require.Empty(t, outputs(t, e.store, "out.in.bad2"))
	_ = bad1
}

// Effects carry the handled event's correlation id and its id as
// causation, under a deterministic id; the metrics count the handling.
func TestCorrelationAndMetrics(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	var calls atomic.Int64
	r := reactor.Reactor{Name: "correlate", Stream: testStream, Subjects: []string{"in.>"}, Handler: echo(&calls), Policy: fastPolicy}
	start(t, e.store, e.pool, reactor.Config{Registerer: reg}, r)
	withCorr, _ := publish(t, e.store, "in.c1", "order-42")
	without, _ := publish(t, e.store, "in.c2", "")
	tests := []struct {
		subject  string
		source   eventstore.Envelope
		wantCorr string
	}{
		{"out.in.c1", withCorr, "order-42"},
		{"out.in.c2", without, without.ID.String()},
	}
	for _, tc := range tests {
		eventually(t, func() bool { return len(outputs(t, e.store, tc.subject)) == 1 }, "handled")
		got := outputs(t, e.store, tc.subject)[0].Envelope
		require.Equal(t, tc.wantCorr, got.CorrelationID)
		require.Equal(t, tc.source.ID.String(), got.CausationID)
		require.Equal(t, reactor.EffectID(r.Name, tc.source.ID, 0), got.ID)
	}
	eventually(t, func() bool {
		return testutil.ToFloat64(mustCounter(t, reg, "eventline_reactor_handled_total")) == 2
	}, "handled counted")
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == name {
				for _, m := range mf.GetMetric() {
					ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "", nil, nil), prometheus.CounterValue, m.GetCounter().GetValue())
				}
			}
		}
	})
}

type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

// Ending Run's context lets the handler in flight finish and ack.
func TestGracefulCloseFinishesInFlight(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int64
	inner := echo(&calls)
	h := func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
		close(started)
		<-release
		return inner(ctx, ev, fx)
	}
	r := reactor.Reactor{Name: "graceful", Stream: testStream, Subjects: []string{"in.>"}, Handler: h, Policy: fastPolicy}
	run := start(t, e.store, e.pool, reactor.Config{CloseTimeout: 20 * time.Second}, r)
	_, seq := publish(t, e.store, "in.g", "")
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- run.stop(t) }()
	close(release)
	require.NoError(t, <-stopped)
	require.Len(t, outputs(t, e.store, "out.in.g"), 1)
	eventually(t, func() bool {
		c, err := e.store.JetStream().Consumer(context.Background(), testStream, r.Consumer())
		require.NoError(t, err)
		ci, err := c.Info(context.Background())
		require.NoError(t, err)
		return ci.AckFloor.Stream == seq && ci.NumAckPending == 0
	}, "acked before Run returned")
	require.Equal(t, int64(1), calls.Load())
}

// A reactor on a stream that does not exist fails Run instead of creating it.
func TestMissingStreamFailsRun(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int64
	r := reactor.Reactor{Name: "nostream", Stream: "NOPE", Handler: echo(&calls)}
	rt, err := reactor.NewRuntime(e.store, e.pool, []reactor.Reactor{r}, reactor.Config{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = rt.Run(ctx)
	require.Error(t, err)
	require.False(t, errors.Is(err, context.DeadlineExceeded))
}

// While JetStream is unreachable Run retries setting up the consumers,
// with a warning each time, and returns nil when ctx ends.
func TestRunRetriesWhileJetStreamIsUnreachable(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int64
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	r := reactor.Reactor{Name: "unreachable", Stream: testStream, Subjects: []string{"in.>"}, Handler: echo(&calls)}
	rt, err := reactor.NewRuntime(e.store, e.pool, []reactor.Reactor{r}, reactor.Config{Logger: log})
	require.NoError(t, err)
	e.srv.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	require.Eventually(t, func() bool {
		return strings.Count(logs.String(), "reactors could not start; retrying") >= 2
	}, 30*time.Second, 20*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// When PostgreSQL is down a message that should be parked is not acked:
// it is redelivered until it can be parked.
func TestParkingWithPostgresDownRedelivers(t *testing.T) {
	e := newEnv(t)
	down, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	require.NoError(t, err)
	t.Cleanup(down.Close)
	var attempts atomic.Int64
	h := func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
		attempts.Store(int64(ev.Attempt))
		return reactor.Permanent(errBroken)
	}
	r := reactor.Reactor{Name: "pgdown", Stream: testStream, Subjects: []string{"in.>"}, Handler: h, Policy: fastPolicy}
	start(t, e.store, down, reactor.Config{}, r)
	publish(t, e.store, "in.d", "")
	eventually(t, func() bool { return attempts.Load() >= 3 }, "redelivered while parking fails")
	c, err := e.store.JetStream().Consumer(context.Background(), testStream, r.Consumer())
	require.NoError(t, err)
	ci, err := c.Info(context.Background())
	require.NoError(t, err)
	require.Zero(t, ci.AckFloor.Stream, "not acked")
}

// A handler that runs longer than AckWait, within its TimeLimit, keeps its
// message: it is marked in progress while it runs and never redelivered.
func TestLongHandlerKeepsItsMessage(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int64
	inner := echo(&calls)
	attempts := make(chan int, 10)
	h := func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
		attempts <- ev.Attempt
		select {
		case <-time.After(2500 * time.Millisecond): // 2.5 x AckWait
		case <-ctx.Done():
			return ctx.Err()
		}
		return inner(ctx, ev, fx)
	}
	policy := fastPolicy
	policy.AckWait, policy.TimeLimit = time.Second, 30*time.Second
	r := reactor.Reactor{Name: "slow", Stream: testStream, Subjects: []string{"in.>"}, Handler: h, Policy: policy}
	start(t, e.store, e.pool, reactor.Config{}, r)
	publish(t, e.store, "in.slow", "")
	eventually(t, func() bool { return len(outputs(t, e.store, "out.in.slow")) == 1 }, "handled")
	require.Equal(t, 1, <-attempts)
	select {
	case n := <-attempts:
		t.Fatalf("redelivered (attempt %d) while the handler was still running", n)
	default:
	}
	require.Equal(t, int64(1), calls.Load())
}
