package orders_test

import (
	"context"
	"errors"
	json "github.com/go-json-experiment/json/v1"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/orders"
	"github.com/eventline/eventline/internal/testenv"
	"github.com/eventline/eventline/migrations"
	"github.com/eventline/eventline/platform/reactor"
)

// TestMain stops the package's shared PostgreSQL cluster after the tests.
func TestMain(m *testing.M) { testenv.Main(m) }

// policy is a short step policy: retries after milliseconds (timers have
// whole seconds, so they fire within a second).
var policy = saga.Policy{Attempts: 3, FirstDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond,
	AttemptTimeout: 5 * time.Second, CompensationTimeout: 30 * time.Second}

// fastPolicy redelivers quickly.
var fastPolicy = reactor.Policy{MaxAttempts: 5, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, AckWait: 5 * time.Second}

// env is a JetStream server with the module's streams, a migrated
// database for parking, the runner's manager and participants, with users
// u1 and bounce and product p1 (40 in stock, 250 cents).
type env struct {
	store   *eventstore.Store
	pool    *pgxpool.Pool
	runner  *orders.Runner
	manager *orders.Manager
	parts   *orders.Participants
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st, _ := testenv.Store(t)
	return newEnvOn(t, st)
}

// newEnvOn is newEnv on the server st is connected to.
func newEnvOn(t testing.TB, st *eventstore.Store) *env {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, st.EnsureStreams(ctx, orders.Streams()))
	pool, err := pgxpool.New(ctx, testenv.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(ctx, pool)
	require.NoError(t, err)
	r, err := orders.NewRunner(st)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	m := r.Manager()
	p := r.Participants()
	for _, u := range []struct{ id, email string }{{"u1", "ada@example.com"}, {"bounce", "bo@bounce.test"}} {
		_, err := p.Users.Handle(ctx, u.id, order.CreateUser{UserID: u.id, Name: u.id, Email: u.email, Now: time.Now()}, aggregate.Meta{})
		require.NoError(t, err)
	}
	_, err = p.Products.Handle(ctx, "p1", order.CreateProduct{ProductID: "p1", Name: "p1", PriceCents: 250, Stock: 40, Now: time.Now()}, aggregate.Meta{})
	require.NoError(t, err)
	return &env{store: st, pool: pool, runner: r, manager: m, parts: p}
}

// run starts the reactors until the test ends.
func (e *env) run(t *testing.T) {
	t.Helper()
	stop := e.runWith(t, e.runner)
	t.Cleanup(stop)
}

// runWith starts the reactors of r and returns the function that stops
// them.
func (e *env) runWith(t *testing.T, r *orders.Runner) (stop func()) {
	t.Helper()
	rt, err := reactor.NewRuntime(e.store, e.pool, r.Reactors(fastPolicy), reactor.Config{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	var stopped bool
	return func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		require.NoError(t, <-done)
	}
}

func input(orderID, user, token string, quantity int64) json.RawMessage {
	b, _ := json.Marshal(order.OrderInput{OrderID: orderID, UserID: user,
		Items: []order.Item{{ProductID: "p1", Quantity: quantity}}, Payment: order.Payment{Token: token}})
	return b
}

// start starts an order saga.
func (e *env) start(t *testing.T, id string, in json.RawMessage) {
	t.Helper()
	_, err := e.manager.Start(context.Background(), id, saga.OrderSaga(policy), in, "")
	require.NoError(t, err)
}

// finish waits until saga id is terminal and returns its state.
func (e *env) finish(t *testing.T, id string) saga.State {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, _, err := e.manager.Sagas().Load(context.Background(), id)
		require.NoError(t, err)
		if s.Status.Terminal() {
			return s
		}
		require.True(t, time.Now().Before(deadline), "saga %s still %s", id, s.Status)
		time.Sleep(20 * time.Millisecond)
	}
}

// drained waits until every reactor's consumer has nothing pending.
func (e *env) drained(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for e.manager.Driving() > 0 {
		require.True(t, time.Now().Before(deadline), "sagas still driven")
		time.Sleep(10 * time.Millisecond)
	}
	for _, r := range e.runner.Reactors(fastPolicy) {
		for {
			c, err := e.store.JetStream().Consumer(ctx, r.Stream, r.Consumer())
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				// The reactors are still starting; nothing was handed over
				// to them, or it will be pending once they have.
				require.True(t, time.Now().Before(deadline), "reactor %s never started", r.Name)
				time.Sleep(20 * time.Millisecond)
				continue
			}
			require.NoError(t, err)
			info, err := c.Info(ctx)
			require.NoError(t, err)
			if info.NumPending == 0 && info.NumAckPending == 0 {
				break
			}
			require.True(t, time.Now().Before(deadline), "reactor %s not drained", r.Name)
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// history returns saga id's stored events.
func (e *env) history(t *testing.T, id string) []eventstore.Stored {
	t.Helper()
	evs, _, err := e.store.Load(context.Background(), saga.Stream, saga.Subject(id))
	require.NoError(t, err)
	return evs
}

func load[S any](t testing.TB, h *aggregate.Handler[S, any], id string) S {
	t.Helper()
	s, _, err := h.Load(context.Background(), id)
	require.NoError(t, err)
	return s
}
