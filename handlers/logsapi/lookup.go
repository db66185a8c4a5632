package logsapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// LookupConfig bounds the work of finding, in the log, an entry that is not
// in PostgreSQL yet.
type LookupConfig struct {
	// Reads is the connection lookups read the log over. Give it a
	// connection of its own (not the one appends use), so that reads can
	// never slow appends down or get the writers' connection dropped as a
	// slow consumer. Nil: the ingester's store.
	Reads *eventstore.Store
	// Concurrency is how many lookups may read the log at once (2); more
	// get 503 with Retry-After.
	Concurrency int
	// MaxEvents bounds the event headers one lookup reads (50,000).
	MaxEvents int
	// MaxFetches bounds the whole events one lookup fetches (64): those
	// whose entry-time range holds the id's time.
	MaxFetches int
	// Timeout bounds one lookup's log reading (3s).
	Timeout time.Duration
	// Rate paces lookups that PostgreSQL cannot answer (per second, 100;
	// bursts of Burst, 50): past it a lookup waits for its turn, up to
	// Timeout, then gets 503. Clients that look up made-up ids as fast as
	// they can are thus held to a small share of the machine.
	Rate  float64
	Burst int
	// TailEvents bounds the events the tail index keeps (100,000): the
	// events the projection has not stored yet, newest first.
	TailEvents int
	// Logger receives the tail index's troubles.
	Logger *slog.Logger
}

func (c *LookupConfig) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 2
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 50_000
	}
	if c.MaxFetches <= 0 {
		c.MaxFetches = 64
	}
	if c.Timeout <= 0 {
		c.Timeout = 3 * time.Second
	}
	if c.Rate <= 0 {
		c.Rate = 100
	}
	if c.Burst <= 0 {
		c.Burst = 50
	}
	if c.TailEvents <= 0 {
		c.TailEvents = 100_000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// errLookupIncomplete is answered when a lookup hit its bounds before it
// could tell whether the entry exists.
var errLookupIncomplete = &httpapi.Error{Status: http.StatusServiceUnavailable, Code: "lookup_incomplete",
	Message: "The entry may be in a part of the log not indexed yet; retry shortly.", RetryAfter: 2}

// checkpointMaxAge is how long a read checkpoint is reused. An older
// checkpoint is never wrong, only less useful: everything at or before it
// is in PostgreSQL all the same.
const checkpointMaxAge = 250 * time.Millisecond

// lookupWork counts what lookups did, so that tests can check their bounds.
type lookupWork struct {
	scans   atomic.Int64 // log reads started
	indexed atomic.Int64 // lookups answered from the tail index
	headers atomic.Int64 // event headers read
	fetched atomic.Int64 // whole events fetched
	decoded atomic.Int64 // events decoded
}

// finder finds entries in the log that PostgreSQL does not hold (yet).
type finder struct {
	cfg      LookupConfig
	reads    *eventstore.Store
	pool     *pgxpool.Pool
	ingester *Ingester
	maxDelay time.Duration
	slots    chan struct{}
	pace     *rate.Limiter
	tail     *tailIndex
	now      func() time.Time
	work     lookupWork

	cpMu      sync.Mutex
	cpSeq     uint64
	cpTime    time.Time
	cpFetched time.Time
}

func newFinder(cfg LookupConfig, writes *eventstore.Store, pool *pgxpool.Pool, ingester *Ingester, now func() time.Time) *finder {
	cfg.defaults()
	reads := cfg.Reads
	if reads == nil {
		reads = writes
	}
	return &finder{cfg: cfg, reads: reads, pool: pool, ingester: ingester, now: now,
		maxDelay: ingester.cfg.maxStoreDelay(), slots: make(chan struct{}, cfg.Concurrency),
		pace: rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst), tail: newTailIndex(reads, cfg.TailEvents, cfg.Logger)}
}

// run enables the tail index until ctx ends; until it runs, lookups read
// the log themselves.
func (f *finder) run(ctx context.Context) error {
	return f.tail.run(ctx, func(ctx context.Context, last uint64) uint64 {
		from := uint64(1)
		if last > uint64(f.cfg.TailEvents) {
			from = last - uint64(f.cfg.TailEvents) + 1
		}
		if cp, _, ok := f.checkpoint(ctx); ok {
			from = max(from, cp+1)
		}
		return from
	})
}

// find returns the entry with id from the log. Its cost is bounded whatever
// the log holds: an id this process accepted is one direct get; an id the
// log cannot hold unprojected (not a UUIDv7, in the future, or older than
// what the projection's checkpoint covers) costs no log read at all; any
// other is paced, asks the tail index (or, when it is not enabled,
// reads the headers of the events after the checkpoint around the
// id's time) which events' entry-time ranges hold the id's time, and
// fetches only those, decoding one only if its bytes hold the id.
func (f *finder) find(ctx context.Context, id uuid.UUID) (entryView, bool, error) {
	if seq, ok := f.ingester.Lookup(id); ok {
		ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
		defer cancel()
		if err := f.pace.Wait(ctx); err != nil {
			return entryView{}, false, httpapi.ErrOverloaded
		}
		msg, err := f.get(ctx, seq)
		if err != nil {
			return entryView{}, false, err
		}
		f.work.fetched.Add(1)
		f.work.decoded.Add(1)
		return pickEntry(msg.Data, seq, id)
	}
	ms, ok := idMillis(id)
	if !ok {
		return entryView{}, false, nil // the API gives out UUIDv7 ids only
	}
	at := time.UnixMilli(ms)
	if at.After(f.now().Add(clockSlack)) {
		return entryView{}, false, nil
	}
	end := at.Add(f.maxDelay)
	cp, cpTime, cpKnown := f.checkpoint(ctx)
	if cpKnown && cp > 0 && cpTime.After(end) {
		// Had the entry been acknowledged, its event would be stored by
		// end, so at or before the checkpoint: in PostgreSQL or parked.
		return entryView{}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	if err := f.pace.Wait(ctx); err != nil {
		return entryView{}, false, httpapi.ErrOverloaded
	}
	if !cpKnown {
		cp = 0
	}
	seqs, err := f.candidates(ctx, ms, at, end, cp, cpTime, cpKnown)
	if err != nil {
		return entryView{}, false, err
	}
	if len(seqs) > f.cfg.MaxFetches {
		return entryView{}, false, errLookupIncomplete
	}
	needle := []byte(id.String())
	for _, seq := range seqs {
		msg, err := f.get(ctx, seq)
		if err != nil {
			return entryView{}, false, err
		}
		f.work.fetched.Add(1)
		if !bytes.Contains(msg.Data, needle) {
			continue
		}
		f.work.decoded.Add(1)
		if v, ok, err := pickEntry(msg.Data, seq, id); err == nil && ok {
			return v, true, nil
		}
	}
	return entryView{}, false, nil
}

// get reads the event at seq, through the tail index's stream handle when
// it has one (one request instead of two). Large events also pay for their size: one more turn of the pace per
// pacedBytes, so that looking up entries of 16 MiB batches over and over
// is paced by the bytes it makes the process read.
func (f *finder) get(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	f.tail.mu.Lock()
	st := f.tail.stream
	f.tail.mu.Unlock()
	var m *jetstream.RawStreamMsg
	var err error
	if st == nil {
		m, err = f.reads.Get(ctx, logs.Stream, seq)
	} else if m, err = st.GetMsg(ctx, seq); err != nil {
		err = fmt.Errorf("get %s #%d: %w", logs.Stream, seq, err)
	}
	if err != nil {
		return nil, err
	}
	if extra := min(len(m.Data)/pacedBytes, f.cfg.Burst); extra > 0 {
		if err := f.pace.WaitN(ctx, extra); err != nil {
			return nil, httpapi.ErrOverloaded
		}
	}
	return m, nil
}

// pacedBytes is how many bytes of fetched events cost one turn of the pace.
const pacedBytes = 256 << 10

// candidates returns the events that may hold an entry with id time ms:
// from the tail index when it is enabled, reading the log only for
// what the index does not reach back to.
func (f *finder) candidates(ctx context.Context, ms int64, at, end time.Time, cp uint64, cpTime time.Time, cpKnown bool) ([]uint64, error) {
	if cpKnown {
		f.tail.forget(cp)
	}
	start := at.Add(-clockSlack)
	if !f.tail.caughtUp(ctx) {
		return f.scan(ctx, ms, at, end, cp, cpTime, cpKnown, 0)
	}
	f.work.indexed.Add(1)
	seqs, from := f.tail.candidates(cp, ms, start, end)
	if from <= cp+1 {
		return seqs, nil
	}
	older, err := f.scan(ctx, ms, at, end, cp, cpTime, cpKnown, from-1)
	if err != nil {
		return nil, err
	}
	return append(older, seqs...), nil
}

// scan reads event headers from the first event that may hold an
// entry of time at (after the checkpoint) to the last that may, and returns
// the events whose entry-time range holds ms; events written without the
// range (older versions) are all candidates.
func (f *finder) scan(ctx context.Context, ms int64, at, end time.Time, cp uint64, cpTime time.Time, cpKnown bool, to uint64) ([]uint64, error) {
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	default:
		return nil, httpapi.ErrOverloaded
	}
	start := at.Add(-clockSlack)
	opts := eventstore.ReadOptions{HeadersOnly: true, ToSeq: to}
	if cpKnown && cp > 0 && !cpTime.Before(start) {
		opts.FromSeq = cp + 1
	} else {
		opts.StartTime = &start
	}
	if !cpKnown {
		cp = 0
	}
	f.work.scans.Add(1)
	var seqs []uint64
	read, truncated := 0, false
	err := f.reads.Read(ctx, logs.Stream, opts, func(ev eventstore.RawEvent) error {
		f.work.headers.Add(1)
		if ev.Time.After(end) {
			return eventstore.ErrStop
		}
		if read++; read > f.cfg.MaxEvents {
			truncated = true
			return eventstore.ErrStop
		}
		if ev.Seq <= cp {
			return nil
		}
		if t := ev.Header.Get(eventstore.HeaderType); t != "" && t != logs.EntriesReceivedV1 {
			return nil
		}
		if r, ok := parseMsRange(ev.Header.Get(HeaderEntryTimes)); ok && !r.holds(ms) {
			return nil
		}
		if len(seqs) == f.cfg.MaxFetches {
			truncated = true
			return eventstore.ErrStop
		}
		seqs = append(seqs, ev.Seq)
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, errLookupIncomplete
		}
		return nil, fmt.Errorf("look up in the log: %w", err)
	}
	if truncated {
		return nil, errLookupIncomplete
	}
	return seqs, nil
}

// checkpoint returns the logs projection's checkpoint and the time its
// event was stored, reusing what it read within checkpointMaxAge. known is
// false when either cannot be read (PostgreSQL away, stream recreated).
func (f *finder) checkpoint(ctx context.Context) (seq uint64, at time.Time, known bool) {
	f.cpMu.Lock()
	defer f.cpMu.Unlock()
	if !f.cpFetched.IsZero() && time.Since(f.cpFetched) < checkpointMaxAge {
		return f.cpSeq, f.cpTime, true
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cp, err := projections.LoadCheckpoint(ctx, f.pool, logentries.Name)
	if err != nil {
		return 0, time.Time{}, false
	}
	if cp.LastSeq == 0 {
		f.cpSeq, f.cpTime, f.cpFetched = 0, time.Time{}, time.Now()
		return 0, time.Time{}, true
	}
	if cp.LastSeq != f.cpSeq || f.cpTime.IsZero() {
		t, err := f.storedAt(ctx, cp.LastSeq)
		if err != nil {
			return 0, time.Time{}, false
		}
		f.cpSeq, f.cpTime = cp.LastSeq, t
	}
	f.cpFetched = time.Now()
	return f.cpSeq, f.cpTime, true
}

// errNoSuchEvent means the log has no event at a sequence the checkpoint
// names: the stream was recreated behind the projection's back.
var errNoSuchEvent = errors.New("no event at the checkpoint")

// storedAt returns when the event at seq was stored, reading its headers only.
func (f *finder) storedAt(ctx context.Context, seq uint64) (time.Time, error) {
	var at time.Time
	err := f.reads.Read(ctx, logs.Stream, eventstore.ReadOptions{FromSeq: seq, ToSeq: seq, HeadersOnly: true},
		func(ev eventstore.RawEvent) error {
			if ev.Seq == seq {
				at = ev.Time
			}
			return eventstore.ErrStop
		})
	if err != nil {
		return time.Time{}, err
	}
	if at.IsZero() {
		return time.Time{}, errNoSuchEvent
	}
	return at, nil
}
