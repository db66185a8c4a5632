package orders_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/handlers/orders"
	"github.com/eventline/eventline/internal/testenv"
)

// A start retried with its Idempotency-Key after the first attempt
// stored the saga and died before carrying anything out (its process
// killed, or its publish acknowledged too late and answered 503) finds
// its append a duplicate: the retry drives the saga from the log, else
// nobody would until the sweep, a step's timeout later at best.
//
// On one server the retry's append conflicts and the saga is found
// started; on a replicated stream the server checks the dedupe id first
// and the append is a duplicate. Both are driven.
func TestARetriedStartDrivesTheSagaItsFirstAttemptLeft(t *testing.T) {
	for _, tc := range []struct {
		name    string
		connect func(t *testing.T) *eventstore.Store
	}{
		{"one server: found started", func(t *testing.T) *eventstore.Store { st, _ := testenv.Store(t); return st }},
		{"R3 cluster: a duplicate", func(t *testing.T) *eventstore.Store {
			c := testenv.StartCluster(t, 3)
			st, err := eventstore.Connect(context.Background(), eventstore.Options{URL: c.URL(), Name: t.Name(), Replicas: 3})
			require.NoError(t, err)
			t.Cleanup(st.Close)
			require.Eventually(t, func() bool { return st.EnsureStreams(context.Background(), orders.Streams()) == nil },
				60*time.Second, 100*time.Millisecond, "the cluster's streams")
			return st
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { retriedStart(t, newEnvOn(t, tc.connect(t))) })
	}
}

func retriedStart(t *testing.T, e *env) {
	ctx := context.Background()
	const id, key = "s1", "idem-retried-start"
	in := input("o1", "u1", order.TokenOK, 1)
	// The first attempt: the saga's start stored, its effects never run.
	first, err := e.manager.Sagas().Handle(ctx, id, saga.Start{SagaID: id, Definition: saga.OrderSaga(policy), Input: in, Now: time.Now()},
		aggregate.Meta{CorrelationID: id, DedupeID: key})
	require.NoError(t, err)
	require.False(t, first.Events[0].Duplicate)
	e.manager.Sagas().Forget(id) // the retry runs in a process that never saw it

	d, err := e.manager.Start(ctx, id, saga.OrderSaga(policy), in, key)
	if !errors.Is(err, saga.ErrAlreadyStarted) { // the API answers that one with the saga's id
		require.NoError(t, err)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		s, _, err := e.manager.Sagas().Load(ctx, id)
		require.NoError(t, err)
		if s.Status.Terminal() {
			require.Equal(t, saga.StatusCompleted, s.Status, s.Reason)
			break
		}
		require.True(t, time.Now().Before(deadline), "saga still %s at step %d: nobody drives it", s.Status, s.Current)
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, 1, load(t, e.parts.Payments, "o1").Charges)
	require.Equal(t, first.Seq, d.Seq, "the retry stored nothing new")
	require.Equal(t, id, d.State.ID, "the retry answers with the saga as stored")
}

// A note that comes while the log is unavailable (a NATS node died, its
// streams elect leaders) is acted upon once the log answers again. Before,
// the nudge's one try failed and the note was dropped: nobody drove the
// saga until the sweep.
func TestANoteIsActedUponOnceTheLogIsBack(t *testing.T) {
	nats := testenv.StartRestartableNATS(t)
	ctx := context.Background()
	st, err := eventstore.Connect(ctx, eventstore.Options{URL: nats.URL(), Name: t.Name()})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	e := newEnvOn(t, st) // not partitioned: its manager owns every saga
	e.run(t)
	// The saga as a process that stopped right after recording it left it.
	_, err = e.manager.Sagas().Handle(ctx, "s1", saga.Start{SagaID: "s1", Definition: saga.OrderSaga(policy),
		Input: input("o1", "u1", order.TokenOK, 1), Now: time.Now()}, aggregate.Meta{CorrelationID: "s1"})
	require.NoError(t, err)
	e.manager.Sagas().Forget("s1")

	nats.Stop()
	e.manager.Noted(0, "s1", nil)
	time.Sleep(500 * time.Millisecond) // the log stays down a while
	nats.Start()
	testenv.WaitReconnected(t, st)
	require.Equal(t, saga.StatusCompleted, e.finish(t, "s1").Status)
}
