package aggregate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eventline/eventline/eventstore"
)

// request is one command waiting to be handled in a group.
type request[S, C any] struct {
	cmd  C
	meta Meta
	done chan answer[S] // buffered: whoever handles it never blocks
}

type answer[S any] struct {
	res Result[S]
	err error
}

// queues holds, per subject, the commands waiting for its lock's holder.
type queues[S, C any] struct {
	mu sync.Mutex
	m  map[string][]*request[S, C]
}

func (q *queues[S, C]) push(subject string, r *request[S, C]) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = map[string][]*request[S, C]{}
	}
	q.m[subject] = append(q.m[subject], r)
}

// take removes and returns up to n of subject's oldest commands.
func (q *queues[S, C]) take(subject string, n int) []*request[S, C] {
	q.mu.Lock()
	defer q.mu.Unlock()
	waiting := q.m[subject]
	n = min(n, len(waiting))
	out := make([]*request[S, C], n)
	copy(out, waiting)
	if n == len(waiting) {
		delete(q.m, subject)
	} else {
		q.m[subject] = waiting[n:]
	}
	return out
}

// remove takes r out of subject's queue; false when a holder took it first.
func (q *queues[S, C]) remove(subject string, r *request[S, C]) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	waiting := q.m[subject]
	for i, w := range waiting {
		if w == r {
			waiting = append(waiting[:i:i], waiting[i+1:]...)
			if len(waiting) == 0 {
				delete(q.m, subject)
			} else {
				q.m[subject] = waiting
			}
			return true
		}
	}
	return false
}

// groupTimeout bounds the store's work for the groups one holder runs for
// others, since it runs without the holder's cancellation.
const groupTimeout = 30 * time.Second

// handleGrouped is Handle for a Definition with Pack: the command queues on
// its subject, then waits for the subject's lock or for an answer. Whoever
// holds the lock handles the commands queued so far (at most MaxGroup) as
// one group, so that a command arriving while an append is in flight is
// stored with the others that arrived meanwhile in the next append,
// instead of waiting for one append per command ahead of it.
//
// A caller whose ctx ends while its command is still queued gets ctx's
// error and the command is not handled. Once a holder took it, it is
// handled whatever happens to the caller (as an append in flight would
// be), and a group is never failed by one caller's ctx: the holder works
// on without its cancellation, for at most groupTimeout.
func (h *Handler[S, C]) handleGrouped(ctx context.Context, subject string, cmd C, meta Meta) (Result[S], error) {
	req := &request[S, C]{cmd: cmd, meta: meta, done: make(chan answer[S], 1)}
	h.queue.push(subject, req)
	l := h.locks.acquire(subject)
	select {
	case a := <-req.done: // handled in a group another caller ran
		h.locks.release(subject, l)
		return a.res, a.err
	case l.ch <- struct{}{}:
	case <-ctx.Done():
		h.locks.release(subject, l)
		if h.queue.remove(subject, req) {
			return Result[S]{}, fmt.Errorf("handle %s: %w", subject, ctx.Err())
		}
		return Result[S]{}, fmt.Errorf("handle %s: %w (the command was being handled; its outcome is unknown here)", subject, ctx.Err())
	}
	defer h.locks.unlock(subject, l)
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
	defer cancel()
	for {
		select {
		case a := <-req.done:
			return a.res, a.err
		default:
		}
		group := h.queue.take(subject, h.opts.MaxGroup)
		if len(group) == 0 {
			// Unreachable: req is queued until a holder, which answers it
			// before it lets the lock go, takes it.
			return Result[S]{}, fmt.Errorf("handle %s: the command left its queue unanswered", subject)
		}
		if len(group) == 1 && group[0] == req {
			h.runGroup(ctx, subject, group) // alone: as Handle without Pack
		} else {
			h.runGroup(work, subject, group)
		}
	}
}

// runGroup handles group (subject's lock held) and answers every command.
func (h *Handler[S, C]) runGroup(ctx context.Context, subject string, group []*request[S, C]) {
	if len(group) > 1 {
		answers, err := h.handleGroup(ctx, subject, group)
		if !errors.Is(err, errUnpackable) {
			for i, r := range group {
				if err != nil {
					r.done <- answer[S]{err: err}
				} else {
					r.done <- answers[i]
				}
			}
			return
		}
	}
	for _, r := range group {
		res, err := h.handleOne(ctx, subject, r.cmd, r.meta)
		r.done <- answer[S]{res: res, err: err}
	}
}

// errUnpackable reports that Pack refused a group's events: its commands
// are then handled one by one.
var errUnpackable = errors.New("aggregate: the group's events cannot be packed")

// groupDecision is what a group's commands decided, each on the state the
// ones before it left.
type groupDecision[S any] struct {
	events []Event // every command's events, in order
	// per command: its events (as decoded), the state after them and its
	// domain error
	data   [][]any
	states []S
	errs   []error
	final  S // the state after every command
	// untrusted: some command decided nothing or failed, which is only
	// final on a state read from the store (see handleOne)
	untrusted bool
}

// decideGroup decides group's commands in turn from cur.
func (h *Handler[S, C]) decideGroup(cur S, group []*request[S, C]) (groupDecision[S], error) {
	d := groupDecision[S]{data: make([][]any, len(group)), states: make([]S, len(group)), errs: make([]error, len(group))}
	state := cur
	for i, r := range group {
		decided, err := h.def.Decide(state, r.cmd)
		if err != nil || len(decided) == 0 {
			d.errs[i], d.states[i], d.untrusted = err, state, true
			continue
		}
		envs, err := envelopes(decided, r.meta)
		if err != nil {
			return d, err
		}
		data, err := h.decoded(decided, envs)
		if err != nil {
			return d, err
		}
		for j, env := range envs {
			state = h.def.Evolve(state, Recorded{Type: env.Type, Data: data[j], Envelope: env})
		}
		d.data[i], d.states[i] = data, state
		d.events = append(d.events, decided...)
	}
	d.final = state
	return d, nil
}

// handleGroup decides group's commands together and stores their events in
// one append of the packed event, with the expected sequence; on a
// conflict it loads what is new and decides the group again, as handleOne
// does for one command. It returns each command's answer, or the error
// that stops the whole group (errUnpackable: Pack refused the events).
func (h *Handler[S, C]) handleGroup(ctx context.Context, subject string, group []*request[S, C]) ([]answer[S], error) {
	return retryConflicts(ctx, h.opts, subject, func(attempt int) ([]answer[S], bool, error) {
		cur, verified, err := h.startState(ctx, subject, attempt)
		if err != nil {
			return nil, false, err
		}
		d, err := h.decideGroup(cur.state, group)
		if err == nil && !verified && d.untrusted {
			if cur, err = h.load(ctx, subject); err != nil {
				return nil, false, fmt.Errorf("handle %s: %w", subject, err)
			}
			verified = true
			d, err = h.decideGroup(cur.state, group)
		}
		if err != nil {
			return nil, false, fmt.Errorf("handle %s: %w", subject, err)
		}
		if len(d.events) == 0 {
			return h.groupAnswers(cur, d, cur.seq, eventstore.Envelope{}, attempt), false, nil
		}
		packed, err := h.def.Pack(d.events)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", errUnpackable, err)
		}
		envs, err := envelopes([]Event{packed}, sharedMeta(group, d))
		if err != nil {
			return nil, false, fmt.Errorf("handle %s: %w", subject, err)
		}
		// Decoded before appending, as handleOne does: a packed event this
		// aggregate could not read back is never stored.
		if _, err := h.decoded([]Event{packed}, envs); err != nil {
			return nil, false, fmt.Errorf("handle %s: %w", subject, err)
		}
		acks, err := h.store.AppendBatch(ctx, subject, int64(cur.seq), envs)
		if errors.Is(err, eventstore.ErrConflict) {
			return nil, verified, err
		}
		if err != nil {
			return nil, false, fmt.Errorf("handle %s: %w", subject, err)
		}
		// The state the group's decisions folded is the state after the
		// packed event (Pack's contract): cached as it is, not folded
		// again from cur, which is no longer the newest view of what it
		// shares with its successors (a product's ledger).
		next := cur
		next.state, next.seq, next.eventID = d.final, acks[0].Seq, envs[0].ID.String()
		next.sinceEvents++
		next.sinceBytes += int64(len(envs[0].Data))
		h.cache.put(subject, next)
		h.maybeStore(subject, next)
		return h.groupAnswers(cur, d, acks[0].Seq, envs[0], attempt), false, nil
	})
}

// groupAnswers answers each command of a group decided as d from cur, its
// events stored as env at seq (none stored: env is zero). A command's
// State is the state after its own events, its Events its own, each with
// the packed event's sequence and envelope.
func (h *Handler[S, C]) groupAnswers(cur folded[S], d groupDecision[S], seq uint64, env eventstore.Envelope, attempt int) []answer[S] {
	out := make([]answer[S], len(d.errs))
	for i := range out {
		if d.errs[i] != nil {
			out[i] = answer[S]{err: d.errs[i]}
			continue
		}
		res := Result[S]{State: d.states[i], Seq: seq, Attempts: attempt}
		for _, data := range d.data[i] {
			res.Events = append(res.Events, Appended{Seq: seq, Envelope: env, Data: data})
		}
		out[i] = answer[S]{res: res}
	}
	return out
}

// sharedMeta is the metadata of a packed event: the correlation and
// causation ids its commands share, empty where they differ.
func sharedMeta[S, C any](group []*request[S, C], d groupDecision[S]) Meta {
	var m Meta
	first := true
	for i, r := range group {
		if len(d.data[i]) == 0 {
			continue
		}
		if first {
			m, first = Meta{CorrelationID: r.meta.CorrelationID, CausationID: r.meta.CausationID}, false
			continue
		}
		if m.CorrelationID != r.meta.CorrelationID {
			m.CorrelationID = ""
		}
		if m.CausationID != r.meta.CausationID {
			m.CausationID = ""
		}
	}
	return m
}
