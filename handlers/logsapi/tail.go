package logsapi

import (
	"context"
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

// tailIndex keeps, for the log's newest events (those the projection has
// not stored yet), their sequence, their time and the range of their
// entries' id times, so that a lookup of an id fetches only the events that
// may hold it. It reads event headers only, and only when a lookup asks
// (caughtUp): it does not follow the log on its own. A reader that follows
// every append keeps the server's block caches of the newest events alive
// (nats-server holds a block's cache for 10 s after its last read), which
// under heavy ingest costs hundreds of MiB or, under serve's memory limit,
// a large share of the ingest rate; reading on demand costs nothing while
// nobody looks up, and while lookups come, each catch-up reads only the
// events appended since the last.
type tailIndex struct {
	reads *eventstore.Store
	max   int
	log   *slog.Logger

	catchUp sync.Mutex // one catch-up at a time; others wait and share it
	// lastStart is when the last successful catch-up started (catchUp held):
	// it covers every event stored before then.
	lastStart time.Time

	mu sync.Mutex
	// start returns the first sequence worth indexing when the log ends at
	// last; set while the index is enabled (run).
	start   func(ctx context.Context, last uint64) uint64
	stream  jetstream.Stream // the log's handle, once opened
	events  []tailEvent      // in sequence order
	from    uint64           // every event in [from, upto] is in events
	upto    uint64
	started bool // from and upto are set
}

func newTailIndex(reads *eventstore.Store, maxEvents int, log *slog.Logger) *tailIndex {
	return &tailIndex{reads: reads, max: maxEvents, log: log}
}

// run enables the index until ctx ends; until then, and after, lookups read
// the log themselves. start returns the first sequence worth indexing when
// the log ends at last.
func (x *tailIndex) run(ctx context.Context, start func(ctx context.Context, last uint64) uint64) error {
	x.mu.Lock()
	x.start = start
	x.mu.Unlock()
	<-ctx.Done()
	x.mu.Lock()
	x.start, x.events, x.started = nil, nil, false
	x.mu.Unlock()
	return nil
}

// caughtUp brings the index up to the event the log ends with now, reading
// the headers of the events appended since it last did; false when the
// index is not enabled or cannot read the log within ctx.
//
// Lookups that arrive together share one catch-up: one that started after a
// lookup arrived covers every event stored before it. Catch-ups start at
// most every catchUpEvery, so that a stream of lookups costs the server a
// bounded number of reads whatever its rate.
func (x *tailIndex) caughtUp(ctx context.Context) bool {
	arrived := time.Now()
	x.catchUp.Lock()
	defer x.catchUp.Unlock()
	if x.lastStart.After(arrived) {
		return true
	}
	if wait := time.Until(x.lastStart.Add(catchUpEvery)); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	started := time.Now()
	if !x.catchUpNow(ctx) {
		return false
	}
	x.lastStart = started
	return true
}

// catchUpEvery is the least time between the starts of two catch-ups.
const catchUpEvery = 20 * time.Millisecond

// catchUpNow reads the headers of the events appended since the last
// catch-up; catchUp is held.
func (x *tailIndex) catchUpNow(ctx context.Context) bool {
	x.mu.Lock()
	start, st := x.start, x.stream
	x.mu.Unlock()
	if start == nil {
		return false
	}
	if st == nil {
		var err error
		if st, err = x.reads.JetStream().Stream(ctx, logs.Stream); err != nil {
			return false
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		return false
	}
	last := info.State.LastSeq
	first := min(start(ctx, last), last+1)
	x.mu.Lock()
	x.stream = st
	if !x.started || last < x.upto || x.upto+1 < first {
		// First use, a recreated stream, or further behind than the
		// index may hold: start again from first.
		x.events, x.from, x.upto, x.started = nil, first, first-1, true
	}
	from := x.upto + 1
	x.mu.Unlock()
	if from > last {
		return true
	}
	err = x.reads.Read(ctx, logs.Stream, eventstore.ReadOptions{FromSeq: from, ToSeq: last, HeadersOnly: true},
		func(ev eventstore.RawEvent) error {
			x.add(ev)
			return nil
		})
	if err != nil {
		x.log.Warn("log tail index could not read the log; lookups scan it meanwhile", "err", err)
		return false
	}
	return true
}

// add records the event ev (headers only).
func (x *tailIndex) add(ev eventstore.RawEvent) {
	te := tailEvent{seq: ev.Seq, stored: ev.Time}
	if t := ev.Header.Get(eventstore.HeaderType); t != "" && t != logs.EntriesReceivedV1 {
		te.times = msRange{set: true, min: 1, max: 0} // holds no id
	} else if r, ok := parseMsRange(ev.Header.Get(HeaderEntryTimes)); ok {
		te.times = r
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if te.seq <= x.upto {
		return
	}
	x.events = append(x.events, te)
	if len(x.events) > x.max {
		// Reslicing keeps the cost amortised: append copies only the
		// live events when it next grows the array.
		x.events = x.events[len(x.events)-x.max:]
		x.from = x.events[0].seq
	}
	x.upto = te.seq
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
