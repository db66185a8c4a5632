package orders

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
)

// ErrTooManyWaiters reports that MaxWaiters clients await sagas already.
var ErrTooManyWaiters = errors.New("orders: too many clients awaiting sagas")

// MaxWaiters bounds the sagas awaited at once in one process.
const MaxWaiters = 10_000

// Await returns saga id's state as soon as it is terminal, or, when ctx
// ends first, its state then (ctx's end is not an error). A saga that does
// not exist is returned as such (Exists false).
//
// A saga driven by this process is awaited in memory: the decision that
// ends it is handed over as it is recorded, and its state until then is
// the one cached here (this process writes it); one that ended here for
// good a moment ago is answered from memory too (local.finalState). Any
// other saga is awaited on its subject (core NATS, which carries every
// event appended): its state
// is loaded when an event that ends it goes by, and, for an event
// published just before the subscription took hold, re-loaded at 2, 10,
// 50, 250 ms and then each second.
func (m *Manager) Await(ctx context.Context, id string) (saga.State, error) {
	select {
	case m.waiters <- struct{}{}:
		defer func() { <-m.waiters }()
	default:
		return saga.State{}, ErrTooManyWaiters
	}
	// Listening before the first look, so that no end falls between.
	ended, stop := m.local.listen(id)
	defer stop()
	if s, ok := m.local.finalState(id); ok {
		return s, nil // ended here a moment ago
	}
	next := 2 * time.Millisecond
	var ch chan *nats.Msg
	s, _, cached := m.sagas.Cached(id)
	var err error
	if cached && m.local.driven(id) {
		// Its driver here records every decision until the saga ends or
		// waits on a timer (fired here, most likely): a check each second
		// covers a timer that another process fires.
		next = time.Second
	} else {
		ch = make(chan *nats.Msg, 64)
		sub, serr := m.store.Conn().ChanSubscribe(saga.Subject(id), ch)
		if serr != nil {
			return saga.State{}, fmt.Errorf("await saga %s: %w", id, serr)
		}
		defer func() { _ = sub.Unsubscribe() }()
		s, _, err = m.sagas.Load(ctx, id)
	}
	recheck := time.NewTimer(next)
	defer recheck.Stop()
	for err == nil && s.Exists() && !s.Status.Terminal() {
		select {
		case <-ctx.Done():
			return m.current(id)
		case end := <-ended:
			return end, nil
		case <-recheck.C:
			next = min(5*next, time.Second)
			recheck.Reset(next)
			s, _, err = m.sagas.Load(ctx, id)
		case msg := <-ch:
			if !m.ends(msg) {
				continue
			}
			// A core subscriber may see an event a moment before the
			// stream has stored it: load until the state shows it.
			s, err = m.loadEnded(ctx, id)
		}
	}
	if err != nil && ctx.Err() != nil {
		return m.current(id)
	}
	if err != nil {
		return saga.State{}, fmt.Errorf("await saga %s: %w", id, err)
	}
	return s, nil
}

// current loads saga id's state after the caller's context ended.
func (m *Manager) current(id string) (saga.State, error) {
	ctx, cancel := context.WithTimeout(m.base, 5*time.Second)
	defer cancel()
	s, _, err := m.sagas.Load(ctx, id)
	return s, err
}

// loadEnded loads saga id until its state is terminal (the event that
// ended it was seen on the wire), for at most a second.
func (m *Manager) loadEnded(ctx context.Context, id string) (saga.State, error) {
	for delay := 100 * time.Microsecond; ; delay *= 2 {
		s, _, err := m.sagas.Load(ctx, id)
		if err != nil || s.Status.Terminal() || delay > time.Second {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, nil
		case <-time.After(delay):
		}
	}
}

// ends reports whether msg, an event of a saga, may end it: its type is
// one that does, or it packs one (a cheap look at the bytes, without
// decoding: a false alarm costs one load).
func (m *Manager) ends(msg *nats.Msg) bool {
	typ := msg.Header.Get(eventstore.HeaderType)
	if typ != saga.DecidedV1 {
		return terminalEvent(typ)
	}
	for _, t := range terminalTypes {
		if bytes.Contains(msg.Data, t) {
			return true
		}
	}
	return false
}

// terminalTypes are the quoted types of the events that end a saga.
var terminalTypes = [][]byte{[]byte(`"` + saga.CompletedV1 + `"`), []byte(`"` + saga.CompensatedV1 + `"`),
	[]byte(`"` + saga.NeedsAttentionV1 + `"`), []byte(`"` + saga.FailedV1 + `"`)}

func terminalEvent(typ string) bool {
	switch typ {
	case saga.CompletedV1, saga.CompensatedV1, saga.NeedsAttentionV1, saga.FailedV1:
		return true
	}
	return false
}
