package reactor_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/natsserver"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/migrations"
	"github.com/eventline/eventline/platform/reactor"
)

// TestMain stops the package's shared PostgreSQL cluster after the tests.
func TestMain(m *testing.M) { testenv.Main(m) }

const testStream = "REACT"

// env is a JetStream server with the test stream and a migrated database.
type env struct {
	srv   *natsserver.Server
	store *eventstore.Store
	pool  *pgxpool.Pool
}

func newEnv(t *testing.T) env {
	t.Helper()
	st, srv := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.EnsureStreams(ctx, []eventstore.StreamSpec{{Name: testStream, Subjects: []string{"in.>", "out.>"}}}))
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(ctx, pool)
	require.NoError(t, err)
	return env{srv: srv, store: st, pool: pool}
}

// connect opens a second connection to the test server.
func (e env) connect(t *testing.T) *eventstore.Store {
	t.Helper()
	st, err := eventstore.Connect(context.Background(), eventstore.Options{URL: e.srv.ClientURL(), Name: t.Name() + "-2"})
	require.NoError(t, err)
	return st
}

// running is a runtime started for a test.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// stop ends the runtime and returns Run's error.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(30 * time.Second):
		t.Fatal("runtime did not stop")
		return nil
	}
}

func start(t *testing.T, store *eventstore.Store, pool *pgxpool.Pool, cfg reactor.Config, rs ...reactor.Reactor) *running {
	t.Helper()
	rt, err := reactor.NewRuntime(store, pool, rs, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() { r.err = rt.Run(ctx); close(r.done) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// publish appends an input event on subject and returns its envelope and seq.
func publish(t *testing.T, st *eventstore.Store, subject, correlation string) (eventstore.Envelope, uint64) {
	t.Helper()
	e, err := eventstore.NewEnvelope("test.input.v1", map[string]string{"subject": subject})
	require.NoError(t, err)
	e.CorrelationID = correlation
	ack, err := st.Append(context.Background(), subject, eventstore.NoExpectation, e)
	require.NoError(t, err)
	return e, ack.Seq
}

// outputs reads every event on subject.
func outputs(t *testing.T, st *eventstore.Store, subject string) []eventstore.Stored {
	t.Helper()
	evs, _, err := st.Load(context.Background(), testStream, subject)
	require.NoError(t, err)
	return evs
}

// echo is a handler that appends one "test.output.v1" on out.<input subject>
// and counts its calls.
func echo(calls *atomic.Int64) reactor.Handler {
	return func(ctx context.Context, ev reactor.Event, fx *reactor.Effects) error {
		calls.Add(1)
		_, err := fx.Append(ctx, "out."+ev.Subject, eventstore.NoExpectation, "test.output.v1", map[string]uint64{"seq": ev.Seq})
		return err
	}
}

// fastPolicy retries quickly.
var fastPolicy = reactor.Policy{MaxAttempts: 3, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, AckWait: 5 * time.Second}

var errBroken = errors.New("handler is broken")

func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 20*time.Second, 10*time.Millisecond, msg)
}
