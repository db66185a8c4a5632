package aggregate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/eventline/eventline/eventstore"
)

// Store is what a Handler needs of the event store (*eventstore.Store).
type Store interface {
	LoadEach(ctx context.Context, stream, subject string, after uint64, fn func(eventstore.Stored) error) (int64, error)
	AppendBatch(ctx context.Context, subject string, expected int64, envs []eventstore.Envelope, opts ...eventstore.AppendOption) ([]eventstore.Ack, error)
}

// Handler runs commands of type C against aggregates with state S.
type Handler[S, C any] struct {
	def   Definition[S, C]
	store Store
	reg   *eventstore.Registry
	opts  Options
	cache *cache[S]
	locks keyLocks
	// queue holds the commands waiting to be grouped (Definition.Pack).
	queue queues[S, C]
	// storing holds a slot while a snapshot is being stored.
	storing chan struct{}
}

// New returns a Handler for def over store, decoding events through reg.
func New[S, C any](store Store, reg *eventstore.Registry, def Definition[S, C], opts Options) (*Handler[S, C], error) {
	var errs []error
	if def.Stream == "" {
		errs = append(errs, errors.New("no stream"))
	}
	if def.Subject == nil || def.Initial == nil || def.Evolve == nil || def.Decide == nil {
		errs = append(errs, errors.New("Subject, Initial, Evolve and Decide are all needed"))
	}
	if store == nil || reg == nil {
		errs = append(errs, errors.New("a store and a registry are needed"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("aggregate %s: %w", def.Stream, err)
	}
	opts = opts.withDefaults()
	return &Handler[S, C]{def: def, store: store, reg: reg, opts: opts, cache: newCache[S](opts.CacheSize),
		storing: make(chan struct{}, 1)}, nil
}

// Load returns the current state of aggregate id and its last subject
// sequence.
func (h *Handler[S, C]) Load(ctx context.Context, id string) (S, uint64, error) {
	subject := h.def.Subject(id)
	cur, err := h.load(ctx, subject)
	return cur.state, cur.seq, err
}

// Cached returns the state of aggregate id this Handler last knew (folded
// or appended here), without reading the store; ok is false when it knows
// none. Another writer may have appended since: only a process that is the
// aggregate's writer may take it as current.
func (h *Handler[S, C]) Cached(id string) (S, uint64, bool) {
	cur, ok := h.cache.get(h.def.Subject(id))
	return cur.state, cur.seq, ok
}

// Forget drops aggregate id's state from the cache: for an aggregate that
// is done with (the order of a saga that ended), so that the cache holds
// the aggregates in use rather than the last ones seen. A later command or
// load reads it from the store.
func (h *Handler[S, C]) Forget(id string) { h.cache.drop(h.def.Subject(id)) }

// Handle decides cmd against the latest state of aggregate id and appends
// the events decided, expecting the subject's last sequence that state was
// folded from, all of them atomically. When another writer got there first
// it loads what is new and decides again, at most Options.MaxAttempts times
// with jittered backoff; then it fails with ErrTooManyConflicts. Commands
// on one aggregate through one Handler are handled one at a time. A warm
// command costs one publish: it is first decided on the cached state,
// which the expected sequence proves current (a decision of no events or
// an error is checked against a state read from the store first). A domain
// error from Decide is returned unchanged (nothing is appended); so is an
// eventstore error other than a conflict (ErrUnavailable, ...).
//
// When the Definition has Pack, commands without a Meta.DedupeID that
// queue behind an append on the same aggregate are decided together and
// stored in one append (see handleGrouped).
func (h *Handler[S, C]) Handle(ctx context.Context, id string, cmd C, meta Meta) (Result[S], error) {
	subject := h.def.Subject(id)
	if h.def.Pack != nil && meta.DedupeID == "" {
		return h.handleGrouped(ctx, subject, cmd, meta)
	}
	unlock, err := h.locks.lock(ctx, subject)
	if err != nil {
		return Result[S]{}, fmt.Errorf("handle %s: %w", subject, err)
	}
	defer unlock()
	return h.handleOne(ctx, subject, cmd, meta)
}

// handleOne is Handle of one command, with subject's lock held.
func (h *Handler[S, C]) handleOne(ctx context.Context, subject string, cmd C, meta Meta) (Result[S], error) {
	return retryConflicts(ctx, h.opts, subject, func(attempt int) (Result[S], bool, error) {
		// A decision of no events, or an error, is only trusted from a
		// state just read.
		cur, verified, err := h.startState(ctx, subject, attempt)
		if err != nil {
			return Result[S]{}, false, err
		}
		decided, err := h.def.Decide(cur.state, cmd)
		if !verified && (err != nil || len(decided) == 0) {
			if cur, err = h.load(ctx, subject); err != nil {
				return Result[S]{}, false, fmt.Errorf("handle %s: %w", subject, err)
			}
			verified = true
			decided, err = h.def.Decide(cur.state, cmd)
		}
		if err != nil {
			return Result[S]{}, false, err
		}
		if len(decided) == 0 {
			return Result[S]{State: cur.state, Seq: cur.seq, Attempts: attempt}, false, nil
		}
		envs, err := envelopes(decided, meta)
		if err != nil {
			return Result[S]{}, false, fmt.Errorf("handle %s: %w", subject, err)
		}
		// Decoded before appending: an event this aggregate could not fold
		// back (a type missing from the registry) is never stored.
		data, err := h.decoded(decided, envs)
		if err != nil {
			return Result[S]{}, false, fmt.Errorf("handle %s: %w", subject, err)
		}
		var opts []eventstore.AppendOption
		if meta.DedupeID != "" {
			opts = append(opts, eventstore.WithDedupeID(meta.DedupeID))
		}
		acks, err := h.store.AppendBatch(ctx, subject, int64(cur.seq), envs, opts...)
		if errors.Is(err, eventstore.ErrConflict) {
			return Result[S]{}, verified, err
		}
		if err != nil {
			return Result[S]{}, false, fmt.Errorf("handle %s: %w", subject, err)
		}
		return h.applied(subject, cur, envs, data, acks, attempt), false, nil
	})
}

// retryConflicts runs attempt (numbered from 1) until it returns anything
// but an eventstore.ErrConflict, at most opts.MaxAttempts times; then it
// fails with ErrTooManyConflicts. An attempt that conflicted on a state
// read from the store (verified) is tried again after a random wait up to
// Backoff, doubled per earlier retry, at most MaxBackoff ("full jitter"),
// so that racing writers spread out instead of colliding again; one that
// conflicted on the cached state, which was behind, is tried again at
// once.
func retryConflicts[T any](ctx context.Context, opts Options, subject string, attempt func(n int) (res T, verified bool, err error)) (T, error) {
	delays := conflictDelays(opts.Backoff, opts.MaxBackoff)
	n, settled := 0, false
	var lastErr error
	res, err := backoff.Retry(ctx, func() (T, error) {
		for {
			n++
			res, verified, err := attempt(n)
			if !errors.Is(err, eventstore.ErrConflict) {
				settled = true
				return res, backoff.Permanent(err)
			}
			lastErr = err
			if n == opts.MaxAttempts {
				settled = true
				return res, backoff.Permanent(fmt.Errorf("handle %s: %d attempts: %w: %w", subject, n, ErrTooManyConflicts, err))
			}
			if verified {
				return res, err
			}
			// Read again at once; the waits after it grow as if this
			// retry had waited too.
			delays.NextBackOff()
		}
	}, backoff.WithBackOff(delays), backoff.WithMaxElapsedTime(0))
	if err != nil && !settled { // ctx ended between attempts
		var zero T
		return zero, fmt.Errorf("handle %s: %w (after %w)", subject, err, lastErr)
	}
	return res, err
}

// conflictDelays returns the waits between conflicting attempts: random
// up to first, doubled after each, at most limit. With a randomization
// factor of 1, ExponentialBackOff draws from zero to twice its interval:
// the intervals are half the bounds.
func conflictDelays(first, limit time.Duration) *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: first / 2, RandomizationFactor: 1, Multiplier: 2, MaxInterval: limit / 2}
}

// startState is the state an attempt decides on: on the first, the state
// this process knows (its cache, else the initial state) without reading
// the store, since the expected sequence of the append refuses a state
// that is behind; on a later one, the state read from the store
// (verified).
func (h *Handler[S, C]) startState(ctx context.Context, subject string, attempt int) (cur folded[S], verified bool, err error) {
	if attempt == 1 {
		if cached, ok := h.cache.get(subject); ok {
			return cached, false, nil
		}
		return folded[S]{state: h.def.Initial()}, false, nil
	}
	if cur, err = h.load(ctx, subject); err != nil {
		return cur, false, fmt.Errorf("handle %s: %w", subject, err)
	}
	return cur, true, nil
}

// applied folds the appended events into the state and caches it.
func (h *Handler[S, C]) applied(subject string, cur folded[S], envs []eventstore.Envelope, data []any, acks []eventstore.Ack, attempt int) Result[S] {
	res := Result[S]{Attempts: attempt, Events: make([]Appended, len(envs))}
	dup := false
	for i, env := range envs {
		res.Events[i] = Appended{Seq: acks[i].Seq, Envelope: env, Data: data[i], Duplicate: acks[i].Duplicate}
		dup = dup || acks[i].Duplicate
	}
	res.Seq = acks[len(acks)-1].Seq
	if dup {
		// A repeated dedupe id stored nothing: the events in the log are the
		// first attempt's, which this process may not have folded.
		h.cache.drop(subject)
		res.State = cur.state
		return res
	}
	next := cur
	for i, env := range envs {
		next.state = h.def.Evolve(next.state, Recorded{Seq: acks[i].Seq, Type: env.Type, Data: data[i], Envelope: env})
		next.sinceEvents++
		next.sinceBytes += int64(len(env.Data))
	}
	next.seq, next.eventID = res.Seq, envs[len(envs)-1].ID.String()
	res.State = next.state
	h.cache.put(subject, next)
	h.maybeStore(subject, next)
	return res
}

// decodeAll decodes each envelope's payload through reg.
// decoded returns the decoded form of the events decided: their own data
// when the definition says Decide returns it (DecidedAsDecoded) and the
// registry knows every type, else the events decoded from their envelopes.
func (h *Handler[S, C]) decoded(decided []Event, envs []eventstore.Envelope) ([]any, error) {
	if !h.opts.DecidedAsDecoded {
		return decodeAll(h.reg, envs)
	}
	out := make([]any, len(decided))
	for i, ev := range decided {
		if !h.reg.Known(ev.Type) {
			return nil, fmt.Errorf("%w: %q", eventstore.ErrUnknownType, ev.Type)
		}
		out[i] = ev.Data
	}
	return out, nil
}

func decodeAll(reg *eventstore.Registry, envs []eventstore.Envelope) ([]any, error) {
	out := make([]any, len(envs))
	for i, env := range envs {
		v, err := reg.Decode(env)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// load returns the latest state of subject: the cached state brought up
// to date with the events after it; else the latest stored snapshot (when
// the Definition has a Snapshot) brought up to date; else a fold of the
// whole history. Events are folded as they are read: a long history is
// never held whole.
func (h *Handler[S, C]) load(ctx context.Context, subject string) (folded[S], error) {
	cur, cached := h.cache.get(subject)
	restored := false
	if !cached {
		if cur, restored = h.fromSnapshot(ctx, subject); !restored {
			cur = folded[S]{state: h.def.Initial()}
		}
	}
	next, n := cur, 0
	last, err := h.store.LoadEach(ctx, h.def.Stream, subject, cur.seq, func(ev eventstore.Stored) error {
		data, err := h.reg.Decode(ev.Envelope)
		if err != nil {
			return fmt.Errorf("load %s: event #%d: %w", subject, ev.Seq, err)
		}
		next.state = h.def.Evolve(next.state, Recorded{Seq: ev.Seq, Type: ev.Envelope.Type, Data: data, Envelope: ev.Envelope})
		next.eventID = ev.Envelope.ID.String()
		next.sinceEvents++
		next.sinceBytes += int64(len(ev.Envelope.Data))
		n++
		return nil
	})
	if err != nil {
		return folded[S]{}, err
	}
	if n == 0 {
		if restored {
			h.cache.put(subject, cur)
		}
		return cur, nil
	}
	next.seq = uint64(last)
	h.cache.put(subject, next)
	h.maybeStore(subject, next)
	return next, nil
}

// envelopes wraps decided events with fresh ids and the command's metadata.
func envelopes(events []Event, meta Meta) ([]eventstore.Envelope, error) {
	out := make([]eventstore.Envelope, len(events))
	for i, ev := range events {
		env, err := eventstore.NewEnvelope(ev.Type, ev.Data)
		if err != nil {
			return nil, err
		}
		env.CorrelationID, env.CausationID = meta.CorrelationID, meta.CausationID
		out[i] = env
	}
	return out, nil
}
