package aggregate

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/internal/testenv"
)

// The tally is this file's aggregate: a sum that commands add to, with
// Pack (group commit). It lives in package aggregate so that the tests can
// see a subject's queue and so know, without timing, that commands are
// waiting behind an append.

type tallyAdded struct {
	N int `json:"n"`
}

type tallyPacked struct {
	Adds []int `json:"adds"`
}

// add adds N; N == 0 decides nothing; with a Limit it is refused once the
// sum would exceed it.
type add struct {
	N     int
	Limit int
}

type tally struct {
	Sum  int
	Adds int // adds folded, packed or not
}

var errOverLimit = errors.New("tally: over the limit")

const (
	typeTallyAdded  = "tally.added.v1"
	typeTallyPacked = "tally.packed.v1"
)

var tallyStream = eventstore.StreamSpec{Name: "TALLIES", Subjects: []string{"tally.>"}}

func tallyDefinition() Definition[tally, add] {
	return Definition[tally, add]{
		Stream:  tallyStream.Name,
		Subject: func(id string) string { return "tally." + id },
		Initial: func() tally { return tally{} },
		Evolve: func(s tally, ev Recorded) tally {
			switch e := ev.Data.(type) {
			case *tallyAdded:
				s.Sum += e.N
				s.Adds++
			case *tallyPacked:
				for _, n := range e.Adds {
					s.Sum += n
					s.Adds++
				}
			}
			return s
		},
		Decide: func(s tally, c add) ([]Event, error) {
			if c.N == 0 {
				return nil, nil
			}
			if c.Limit > 0 && s.Sum+c.N > c.Limit {
				return nil, errOverLimit
			}
			return []Event{{Type: typeTallyAdded, Data: tallyAdded{N: c.N}}}, nil
		},
		Pack: func(events []Event) (Event, error) {
			if len(events) == 1 {
				return events[0], nil
			}
			p := tallyPacked{}
			for _, e := range events {
				p.Adds = append(p.Adds, e.Data.(tallyAdded).N)
			}
			return Event{Type: typeTallyPacked, Data: p}, nil
		},
	}
}

func tallyRegistry() *eventstore.Registry {
	reg := eventstore.NewRegistry()
	reg.Register(typeTallyAdded, eventstore.JSON[tallyAdded]())
	reg.Register(typeTallyPacked, eventstore.JSON[tallyPacked]())
	return reg
}

// gatedStore is a real store whose appends each wait for a token on gate
// (when gate is set) after telling entered.
type gatedStore struct {
	*eventstore.Store
	gate    chan struct{}
	entered chan struct{}
	appends atomic.Int64
}

func (g *gatedStore) AppendBatch(ctx context.Context, subject string, expected int64, envs []eventstore.Envelope, opts ...eventstore.AppendOption) ([]eventstore.Ack, error) {
	if g.gate != nil {
		g.entered <- struct{}{}
		<-g.gate
	}
	g.appends.Add(1)
	return g.Store.AppendBatch(ctx, subject, expected, envs, opts...)
}

func tallyStores(t *testing.T) (*gatedStore, *eventstore.Store) {
	t.Helper()
	st, srv := testenv.Store(t)
	require.NoError(t, st.EnsureStreams(context.Background(), []eventstore.StreamSpec{tallyStream}))
	other, err := eventstore.Connect(context.Background(), eventstore.Options{URL: srv.ClientURL(), Name: t.Name() + "-other"})
	require.NoError(t, err)
	t.Cleanup(other.Close)
	return &gatedStore{Store: st, gate: make(chan struct{}), entered: make(chan struct{}, 16)}, other
}

func newTally(t *testing.T, st Store) *Handler[tally, add] {
	t.Helper()
	h, err := New(st, tallyRegistry(), tallyDefinition(), Options{})
	require.NoError(t, err)
	return h
}

// queued waits until n commands wait in id's queue.
func queued(t *testing.T, h *Handler[tally, add], id string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		h.queue.mu.Lock()
		defer h.queue.mu.Unlock()
		return len(h.queue.m["tally."+id]) == n
	}, 10*time.Second, time.Millisecond)
}

type outcome struct {
	res Result[tally]
	err error
}

// TestCommandsQueuedBehindAnAppendShareTheNext: while one append is in
// flight, nine commands queue; they are decided in turn (one refused by
// the limit the others leave, one deciding nothing) and stored in one
// append; a fresh load folds the packed event to the same sum.
func TestCommandsQueuedBehindAnAppendShareTheNext(t *testing.T) {
	st, _ := tallyStores(t)
	h := newTally(t, st)
	ctx := context.Background()

	first := make(chan outcome, 1)
	go func() {
		res, err := h.Handle(ctx, "t1", add{N: 1}, Meta{CorrelationID: "c0"})
		first <- outcome{res, err}
	}()
	<-st.entered // the first append is in flight

	cmds := []add{{N: 1}, {N: 2}, {N: 3}, {N: 0}, {N: 4}, {N: 100, Limit: 50}, {N: 5}, {N: 6}, {N: 7}}
	outs := make([]chan outcome, len(cmds))
	for i, c := range cmds {
		outs[i] = make(chan outcome, 1)
		go func() {
			res, err := h.Handle(ctx, "t1", c, Meta{CorrelationID: "c1"})
			outs[i] <- outcome{res, err}
		}()
		queued(t, h, "t1", i+1) // in this order
	}
	st.gate <- struct{}{} // the first append goes through
	<-st.entered          // the group's append
	st.gate <- struct{}{}

	o := <-first
	require.NoError(t, o.err)
	require.Equal(t, 1, o.res.State.Sum)
	sum := 1
	for i, c := range cmds {
		o := <-outs[i]
		switch {
		case c.Limit > 0:
			require.ErrorIs(t, o.err, errOverLimit, "decided on the sum the commands before it left")
			continue
		case c.N == 0:
			require.NoError(t, o.err)
			require.Empty(t, o.res.Events)
		default:
			require.NoError(t, o.err)
			require.Len(t, o.res.Events, 1)
			require.Equal(t, typeTallyPacked, o.res.Events[0].Envelope.Type)
			require.Equal(t, &tallyAdded{N: c.N}, o.res.Events[0].Data, "its own event")
		}
		sum += c.N
		require.Equal(t, sum, o.res.State.Sum, "command %d answers from the state after it", i)
	}
	require.Equal(t, int64(2), st.appends.Load(), "ten commands, two appends")
	close(st.gate)

	stored, _, err := st.Load(ctx, tallyStream.Name, "tally.t1")
	require.NoError(t, err)
	require.Len(t, stored, 2)
	require.Equal(t, typeTallyPacked, stored[1].Envelope.Type)
	require.Equal(t, "c1", stored[1].Envelope.CorrelationID, "the ids its commands share")
	fresh, err := New(st.Store, tallyRegistry(), tallyDefinition(), Options{CacheSize: -1})
	require.NoError(t, err)
	state, seq, err := fresh.Load(ctx, "t1")
	require.NoError(t, err)
	require.Equal(t, sum, state.Sum)
	require.Equal(t, stored[1].Seq, seq)
	cached, _, _ := h.Cached("t1")
	require.Equal(t, state, cached, "the cache holds what a load folds")
}

// TestGroupDecidesAgainAfterAnotherWriter: another process appends while
// the group's append waits; the group's append conflicts, and the group
// is decided again on the state read back, the limit counting the other
// writer's add.
func TestGroupDecidesAgainAfterAnotherWriter(t *testing.T) {
	st, other := tallyStores(t)
	h := newTally(t, st)
	ctx := context.Background()

	first := make(chan outcome, 1)
	go func() {
		res, err := h.Handle(ctx, "t2", add{N: 10}, Meta{})
		first <- outcome{res, err}
	}()
	<-st.entered
	outs := make([]chan outcome, 3)
	for i := range outs {
		outs[i] = make(chan outcome, 1)
		go func() {
			res, err := h.Handle(ctx, "t2", add{N: 10, Limit: 45}, Meta{})
			outs[i] <- outcome{res, err}
		}()
		queued(t, h, "t2", i+1)
	}
	st.gate <- struct{}{}
	require.NoError(t, (<-first).err)
	<-st.entered // the group's first append, decided on sum 10: 20, 30, 40
	o := newTally(t, other)
	_, err := o.Handle(ctx, "t2", add{N: 10}, Meta{DedupeID: "other-1"}) // 20
	require.NoError(t, err)
	close(st.gate)

	var okSum, refused int
	for _, ch := range outs {
		o := <-ch
		if errors.Is(o.err, errOverLimit) {
			refused++
			continue
		}
		require.NoError(t, o.err)
		require.GreaterOrEqual(t, o.res.Attempts, 2)
		okSum = max(okSum, o.res.State.Sum)
	}
	require.Equal(t, 1, refused, "20 + 10 + 10 fits 45, a third 10 does not")
	require.Equal(t, 40, okSum)
	state, _, err := newTally(t, other).Load(ctx, "t2")
	require.NoError(t, err)
	require.Equal(t, 40, state.Sum)
}

// TestCommandCancelledInTheQueueIsNotHandled: a caller that gives up while
// its command waits gets its ctx's error, and the command stores nothing.
func TestCommandCancelledInTheQueueIsNotHandled(t *testing.T) {
	st, _ := tallyStores(t)
	h := newTally(t, st)
	ctx := context.Background()

	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := h.Handle(ctx, "t3", add{N: 1}, Meta{})
		require.NoError(t, err)
	})
	<-st.entered
	cctx, cancel := context.WithCancel(ctx)
	gave := make(chan error, 1)
	go func() {
		_, err := h.Handle(cctx, "t3", add{N: 1000}, Meta{})
		gave <- err
	}()
	queued(t, h, "t3", 1)
	cancel()
	require.ErrorIs(t, <-gave, context.Canceled)
	queued(t, h, "t3", 0)
	close(st.gate)
	wg.Wait()
	_, err := h.Handle(ctx, "t3", add{N: 2}, Meta{})
	require.NoError(t, err)
	state, _, err := newTally(t, st.Store).Load(ctx, "t3")
	require.NoError(t, err)
	require.Equal(t, 3, state.Sum)
}
