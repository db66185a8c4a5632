package logsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
)

// tailEvent is what the tail index keeps of one log event.
type tailEvent struct {
	seq    uint64
	stored time.Time
	times  msRange // unset: an event written without HeaderEntryTimes
}

// tailIndex follows the log's newest events, reading their headers only
// (one ordered consumer for the life of the process), and keeps, for the
// events the projection has not stored yet, their sequence, their time and
// the range of their entries' id times. A lookup of an id then needs no log
// read of its own: it asks the index which events may hold the id.
type tailIndex struct {
	reads *eventstore.Store
	max   int
	log   *slog.Logger
	// stream is the log's handle, set once following.
	stream jetstream.Stream

	mu      sync.Mutex
	events  []tailEvent // in sequence order
	from    uint64      // every event in [from, upto] is in events
	upto    uint64
	live    bool          // the consumer is running
	changed chan struct{} // closed when upto moves
}

func newTailIndex(reads *eventstore.Store, maxEvents int, log *slog.Logger) *tailIndex {
	return &tailIndex{reads: reads, max: maxEvents, log: log, changed: make(chan struct{})}
}

// run follows the log from start until ctx ends.
func (x *tailIndex) run(ctx context.Context, start func(ctx context.Context, last uint64) uint64) error {
	for ctx.Err() == nil {
		err := x.follow(ctx, start)
		x.mu.Lock()
		x.live = false
		x.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		x.log.Warn("log tail index stopped; lookups scan the log meanwhile", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (x *tailIndex) follow(ctx context.Context, start func(ctx context.Context, last uint64) uint64) error {
	st, err := x.reads.JetStream().Stream(ctx, eventstore.LogsStream)
	if err != nil {
		return fmt.Errorf("open %s: %w", eventstore.LogsStream, err)
	}
	last := st.CachedInfo().State.LastSeq
	from := min(start(ctx, last), last+1)
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{HeadersOnly: true,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from})
	if err != nil {
		return fmt.Errorf("tail %s: %w", eventstore.LogsStream, err)
	}
	x.mu.Lock()
	x.events, x.from, x.upto, x.live, x.stream = nil, from, from-1, true, st
	x.signal()
	x.mu.Unlock()
	failed := make(chan error, 1)
	cc, err := cons.Consume(x.handle, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrStreamNotFound) {
			select {
			case failed <- err:
			default:
			}
		}
	}))
	if err != nil {
		return fmt.Errorf("tail %s: %w", eventstore.LogsStream, err)
	}
	defer cc.Stop()
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	}
}

func (x *tailIndex) handle(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		return
	}
	ev := tailEvent{seq: md.Sequence.Stream, stored: md.Timestamp}
	h := msg.Headers()
	if t := h.Get(eventstore.HeaderType); t != "" && t != logs.EntriesReceivedV1 {
		ev.times = msRange{set: true, min: 1, max: 0} // holds no id
	} else if r, ok := parseMsRange(h.Get(HeaderEntryTimes)); ok {
		ev.times = r
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if ev.seq <= x.upto {
		return
	}
	x.events = append(x.events, ev)
	if len(x.events) > x.max {
		// Reslicing keeps the cost amortised: append copies only the
		// live events when it next grows the array.
		x.events = x.events[len(x.events)-x.max:]
		x.from = x.events[0].seq
	}
	x.upto = ev.seq
	x.signal()
}

// signal wakes whoever waits for upto to move; mu is held.
func (x *tailIndex) signal() {
	close(x.changed)
	x.changed = make(chan struct{})
}

// forget drops the events at or before the checkpoint: PostgreSQL holds them.
func (x *tailIndex) forget(cp uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	i := sort.Search(len(x.events), func(i int) bool { return x.events[i].seq > cp })
	if i == 0 {
		return
	}
	x.events = x.events[i:]
	x.from = max(x.from, cp+1)
}

// caughtUp waits until the index has read every event the log holds now;
// false when it is not following the log or cannot within ctx.
func (x *tailIndex) caughtUp(ctx context.Context) bool {
	x.mu.Lock()
	st, live := x.stream, x.live
	x.mu.Unlock()
	if !live || st == nil {
		return false
	}
	info, err := st.Info(ctx)
	if err != nil {
		return false
	}
	return x.waitFor(ctx, info.State.LastSeq)
}

// waitFor waits until the index has read up to seq; false when it is not
// following the log or ctx ends first.
func (x *tailIndex) waitFor(ctx context.Context, seq uint64) bool {
	for {
		x.mu.Lock()
		live, upto, changed := x.live, x.upto, x.changed
		x.mu.Unlock()
		if !live {
			return false
		}
		if upto >= seq {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		}
	}
}

// candidates returns the events after cp that may hold an entry with id
// time ms, stored between start and end; and the first sequence the index
// covers (events before it, after cp, it cannot speak for).
func (x *tailIndex) candidates(cp uint64, ms int64, start, end time.Time) (seqs []uint64, from uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, ev := range x.events {
		if ev.seq <= cp || ev.stored.Before(start) {
			continue
		}
		if ev.stored.After(end) {
			continue
		}
		if !ev.times.set || ev.times.holds(ms) {
			seqs = append(seqs, ev.seq)
		}
	}
	return seqs, x.from
}
