package aggregate_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/internal/testenv"
)

// stores returns n Stores, each on its own connection to one embedded
// server, with the counter stream created.
func stores(t *testing.T, n int) []*eventstore.Store {
	t.Helper()
	first, srv := testenv.Store(t)
	require.NoError(t, first.EnsureStreams(context.Background(), []eventstore.StreamSpec{counterStream}))
	out := []*eventstore.Store{first}
	for len(out) < n {
		st, err := eventstore.Connect(context.Background(), eventstore.Options{URL: srv.ClientURL(), Name: t.Name()})
		require.NoError(t, err)
		t.Cleanup(st.Close)
		out = append(out, st)
	}
	return out
}

func newHandler(t *testing.T, st *eventstore.Store, opts aggregate.Options) *aggregate.Handler[counter, increment] {
	t.Helper()
	h, err := aggregate.New(st, registry(), counterDefinition(), opts)
	require.NoError(t, err)
	return h
}

// race runs n Handle calls spread over workers goroutines per handler and
// returns how many succeeded and how many ended with each error.
func race(t *testing.T, handlers []*aggregate.Handler[counter, increment], workers, n int, id string, cmd increment) (ok int, errs map[error]int) {
	t.Helper()
	var (
		mu    sync.Mutex
		next  atomic.Int64
		wg    sync.WaitGroup
		count int
	)
	errs = map[error]int{}
	for _, h := range handlers {
		for range workers {
			wg.Go(func() {
				for next.Add(1) <= int64(n) {
					_, err := h.Handle(context.Background(), id, cmd, aggregate.Meta{})
					mu.Lock()
					if err == nil {
						count++
					} else if errors.Is(err, errLimit) {
						errs[errLimit]++
					} else {
						errs[err]++
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return count, errs
}

// history loads id afresh (no cache) and checks its sequences ascend.
func history(t *testing.T, st *eventstore.Store, id string) (counter, []eventstore.Stored) {
	t.Helper()
	stored, _, err := st.Load(context.Background(), counterStream.Name, "counter."+id)
	require.NoError(t, err)
	fresh := newHandler(t, st, aggregate.Options{CacheSize: -1})
	state, seq, err := fresh.Load(context.Background(), id)
	require.NoError(t, err)
	if len(stored) > 0 {
		require.Equal(t, stored[len(stored)-1].Seq, seq)
	}
	return state, stored
}

func TestConcurrentIncrementsLoseNoUpdate(t *testing.T) {
	sts := stores(t, 2)
	opts := aggregate.Options{MaxAttempts: 1000}
	// Two handlers on two connections (two processes' worth) race, with
	// several goroutines each.
	handlers := []*aggregate.Handler[counter, increment]{newHandler(t, sts[0], opts), newHandler(t, sts[1], opts)}
	ok, errs := race(t, handlers, 4, 200, "c1", increment{By: 1})
	require.Empty(t, errs)
	require.Equal(t, 200, ok)

	state, stored := history(t, sts[0], "c1")
	require.Equal(t, 200, state.Value)
	require.Len(t, stored, 200)
	for _, h := range handlers {
		s, _, err := h.Load(context.Background(), "c1")
		require.NoError(t, err)
		require.Equal(t, 200, s.Value, "a cached state catches up")
	}
}

func TestDecisionsSeeTheLatestState(t *testing.T) {
	sts := stores(t, 2)
	opts := aggregate.Options{MaxAttempts: 1000}
	handlers := []*aggregate.Handler[counter, increment]{newHandler(t, sts[0], opts), newHandler(t, sts[1], opts)}
	ok, errs := race(t, handlers, 4, 200, "c2", increment{By: 1, Limit: 100})
	require.Equal(t, 100, ok)
	require.Equal(t, map[error]int{errLimit: 100}, errs)

	state, stored := history(t, sts[0], "c2")
	require.Equal(t, 100, state.Value)
	require.Len(t, stored, 100)
}

func TestMultiEventDecisionIsAtomic(t *testing.T) {
	sts := stores(t, 2)
	opts := aggregate.Options{MaxAttempts: 1000}
	handlers := []*aggregate.Handler[counter, increment]{newHandler(t, sts[0], opts), newHandler(t, sts[1], opts)}
	// Single increments race with double ones on the same counter and on
	// another subject of the stream.
	var wg sync.WaitGroup
	wg.Go(func() { race(t, handlers, 2, 100, "c3", increment{By: 1}) })
	wg.Go(func() { race(t, handlers, 2, 20, "other", increment{By: 1}) })
	ok, errs := race(t, handlers, 2, 50, "c3", increment{By: 10, Twice: true})
	wg.Wait()
	require.Empty(t, errs)
	require.Equal(t, 50, ok)

	state, stored := history(t, sts[0], "c3")
	require.Equal(t, 100+50*20, state.Value)
	require.Len(t, stored, 100+50*2)
	// Each double decision's two events are adjacent in the stream.
	for i := 0; i < len(stored); i++ {
		var inc incremented
		data, err := registry().Decode(stored[i].Envelope)
		require.NoError(t, err)
		inc = *data.(*incremented)
		if inc.By == 10 {
			require.Less(t, i+1, len(stored))
			require.Equal(t, stored[i].Seq+1, stored[i+1].Seq, "a batch's events are consecutive")
			require.JSONEq(t, `{"by":10}`, string(stored[i+1].Envelope.Data))
			i++
		}
	}
}

func TestDomainErrorAppendsNothing(t *testing.T) {
	sts := stores(t, 1)
	h := newHandler(t, sts[0], aggregate.Options{})
	ctx := context.Background()
	_, err := h.Handle(ctx, "c4", increment{By: 5}, aggregate.Meta{})
	require.NoError(t, err)
	_, err = h.Handle(ctx, "c4", increment{By: 1, Limit: 5}, aggregate.Meta{})
	require.ErrorIs(t, err, errLimit)
	require.Same(t, errLimit, err, "a domain error passes through unchanged")

	res, err := h.Handle(ctx, "c4", increment{By: 0}, aggregate.Meta{})
	require.NoError(t, err)
	require.Empty(t, res.Events, "deciding nothing appends nothing")
	require.Equal(t, 5, res.State.Value)

	_, stored := history(t, sts[0], "c4")
	require.Len(t, stored, 1)
}

func TestHandleReturnsWhatItAppended(t *testing.T) {
	sts := stores(t, 1)
	h := newHandler(t, sts[0], aggregate.Options{})
	ctx := context.Background()
	meta := aggregate.Meta{CorrelationID: "corr-1", CausationID: "req-1"}
	res, err := h.Handle(ctx, "c5", increment{By: 3, Twice: true}, meta)
	require.NoError(t, err)
	require.Equal(t, 1, res.Attempts)
	require.Equal(t, 6, res.State.Value)
	require.Len(t, res.Events, 2)
	require.Equal(t, res.Events[1].Seq, res.Seq)

	_, stored := history(t, sts[0], "c5")
	require.Len(t, stored, 2)
	for i, ev := range stored {
		require.Equal(t, res.Events[i].Seq, ev.Seq)
		require.Equal(t, res.Events[i].Envelope.ID, ev.Envelope.ID)
		require.Equal(t, "corr-1", ev.Envelope.CorrelationID)
		require.Equal(t, "req-1", ev.Envelope.CausationID)
	}
}

func TestHandleWithDedupeIDStoresOnce(t *testing.T) {
	sts := stores(t, 1)
	ctx := context.Background()
	meta := aggregate.Meta{DedupeID: "idem-1"}
	first, err := newHandler(t, sts[0], aggregate.Options{}).Handle(ctx, "c6", increment{By: 1}, meta)
	require.NoError(t, err)
	// A retry of the same request (another process: no cache) decides
	// against the new state, but the server checks the dedupe id first and
	// stores nothing new.
	again, err := newHandler(t, sts[0], aggregate.Options{}).Handle(ctx, "c6", increment{By: 1}, meta)
	require.NoError(t, err)
	require.True(t, again.Events[0].Duplicate)
	require.Equal(t, first.Seq, again.Seq)
	require.Equal(t, 1, again.State.Value)
	_, stored := history(t, sts[0], "c6")
	require.Len(t, stored, 1)
}

// A handler that has never seen an aggregate folds its whole history,
// however long, and appends after its last event.
func TestColdHandlerFoldsALongHistory(t *testing.T) {
	st := stores(t, 1)[0]
	ctx := context.Background()
	warm := newHandler(t, st, aggregate.Options{})
	for range 300 {
		_, err := warm.Handle(ctx, "long", increment{By: 2}, aggregate.Meta{})
		require.NoError(t, err)
	}
	cold := newHandler(t, st, aggregate.Options{})
	s, _, err := cold.Load(ctx, "long")
	require.NoError(t, err)
	require.Equal(t, counter{Value: 600, Events: 300}, s)
	res, err := newHandler(t, st, aggregate.Options{}).Handle(ctx, "long", increment{By: 1}, aggregate.Meta{})
	require.NoError(t, err)
	require.Equal(t, counter{Value: 601, Events: 301}, res.State)
}
