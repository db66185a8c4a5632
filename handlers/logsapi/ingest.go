package logsapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/httpapi"
)

// IngestConfig tunes group commit.
type IngestConfig struct {
	// MaxGroupBytes bounds one grouped append (1 MiB); a request larger than
	// this is appended on its own.
	MaxGroupBytes int
	// MaxInFlight bounds appends awaiting their acknowledgement (8; 2 on
	// a store that groups commits, i.e. where each append costs an fsync of
	// its own: eventstore.Store.GroupCommit). Fewer in flight means bigger
	// groups: requests that arrive while all slots are taken share the
	// next append (and, with sync always, its fsync). With sync always
	// the server fsyncs one append after the other, so more in flight only
	// makes each fsync carry fewer entries: 64 connections of single POSTs
	// got 2,028-2,730 req/s with 8, 5,664 with 2 and 5,910 with 1
	// (bench/ingest --phases D; docs/CHANGELOG.md, issue 27).
	MaxInFlight int
	// AckTimeout bounds the wait for JetStream's acknowledgement (10s). An
	// entry also waits at most this long for its append to start: an
	// acknowledged entry is therefore stored within two AckTimeouts of its
	// id's time, which is what lets a lookup of an unknown id stop early.
	AckTimeout time.Duration
	// MaxInFlightBytes bounds the memory that ingest requests being handled
	// hold at once, process-wide (48 MiB: one 16 MiB batch). Each body
	// byte is counted BodyCostFactor times, for the copies made while it is
	// decoded, encoded and appended; a request over the budget gets 503
	// with Retry-After and its body is not read. One full batch at a time
	// keeps the log busy (a second one mostly waits for the same CPU and
	// NATS connection), and each one admitted also costs
	// the embedded NATS server its copy of the event (see
	// natsserver.Config.MaxPayload); smaller requests still run
	// side by side (a 100 KiB batch reserves 300 KiB).
	MaxInFlightBytes int64
	// ServerCacheBytes bounds the bytes of large batches (LargeBatchBytes
	// or more) answered during the last ServerCacheHold, process-wide; 0
	// (the default) sets no bound. It is for a NATS server in this process
	// (serve sets it with the embedded one), whose memory this process
	// pays for: see serverCache.
	ServerCacheBytes int64
	// ServerCacheHold is how long a large batch counts against
	// ServerCacheBytes after it is answered (11s).
	ServerCacheHold time.Duration
}

func (c *IngestConfig) defaults() {
	if c.MaxGroupBytes <= 0 {
		c.MaxGroupBytes = 1 << 20
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 8
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = 10 * time.Second
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = BodyCostFactor * MaxBatchBody
	}
	if c.ServerCacheHold <= 0 {
		c.ServerCacheHold = 11 * time.Second
	}
}

// syncedMaxInFlight is IngestConfig.MaxInFlight's default on a store that
// groups commits (sync always).
const syncedMaxInFlight = 2

// maxStoreDelay bounds how long after its id's time an acknowledged entry
// is stored: the wait for an append to start, the wait for its
// acknowledgement, and slack for clocks.
func (c IngestConfig) maxStoreDelay() time.Duration { return 2*c.AckTimeout + clockSlack }

// ErrStopped is returned by Submit once the ingester has shut down.
var ErrStopped = fmt.Errorf("%w: ingester stopped", eventstore.ErrUnavailable)

// Ingester appends log entries to the LOGS stream. Entries submitted while an
// append is in flight are grouped into the next one, so that the broker's
// per-message cost is shared; every Submit returns only once the append
// holding its entries is stored.
type Ingester struct {
	store    *eventstore.Store
	cfg      IngestConfig
	queue    chan *ingestReq
	slots    chan struct{}
	recent   *recentIndex
	budget   *httpapi.Budget
	cache    *serverCache
	received prometheus.Counter
	groups   prometheus.Histogram

	mu      sync.RWMutex
	stopped bool
	wg      sync.WaitGroup
}

type ingestReq struct {
	// buf is an EntriesReceived payload without its closing "]}": the
	// prefix, then the encoded entries joined by commas. One buffer, so
	// that a large batch is not held twice (pieces and payload).
	buf   []byte
	ids   []uuid.UUID
	bytes int // of the encoded entries, commas included
	// times is the range of the entries' id times (Unix milliseconds).
	times msRange
	done  chan ingestResult
}

type ingestResult struct {
	seq uint64
	err error
}

// NewIngester returns an ingester; start it with Run.
func NewIngester(store *eventstore.Store, cfg IngestConfig, reg prometheus.Registerer) *Ingester {
	if cfg.MaxInFlight <= 0 && store != nil && store.GroupCommit() {
		cfg.MaxInFlight = syncedMaxInFlight
	}
	cfg.defaults()
	g := &Ingester{
		store:  store,
		cfg:    cfg,
		queue:  make(chan *ingestReq, 4096),
		slots:  make(chan struct{}, cfg.MaxInFlight),
		recent: newRecentIndex(100_000),
		budget: httpapi.NewBudget(cfg.MaxInFlightBytes),
		cache:  newServerCache(cfg.ServerCacheBytes, cfg.ServerCacheHold),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventline_logs_ingested_total", Help: "Log entries acknowledged as stored in JetStream.",
		}),
		groups: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "eventline_logs_group_entries", Help: "Log entries per append (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
	}
	if reg != nil {
		reg.MustRegister(g.received, g.groups)
	}
	return g
}

// Submit stores entries durably and returns the stream sequence of the event
// that holds them.
func (g *Ingester) Submit(ctx context.Context, entries []logs.Entry) (uint64, error) {
	req, err := encodeReq(entries)
	if err != nil {
		return 0, err
	}
	if req.bytes > g.cfg.MaxGroupBytes {
		ack, err := g.appendAlone(ctx, req, "")
		return ack.Seq, err
	}
	g.mu.RLock()
	if g.stopped {
		g.mu.RUnlock()
		return 0, ErrStopped
	}
	select {
	case g.queue <- req:
		g.mu.RUnlock()
	case <-ctx.Done():
		g.mu.RUnlock()
		return 0, fmt.Errorf("%w: %v", eventstore.ErrUnavailable, ctx.Err())
	}
	select {
	case res := <-req.done:
		return res.seq, res.err
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %v", eventstore.ErrUnavailable, ctx.Err())
	}
}

// SubmitAlone stores entries in an append of their own with dedupeID as its
// publish dedupe id. If the log has seen dedupeID before (a retried request),
// nothing new is stored and the ids of the entries stored the first time are
// returned instead of those passed in.
func (g *Ingester) SubmitAlone(ctx context.Context, entries []logs.Entry, dedupeID string) (uint64, []uuid.UUID, error) {
	req, err := encodeReq(entries)
	if err != nil {
		return 0, nil, err
	}
	ack, err := g.appendAlone(ctx, req, dedupeID)
	if err != nil {
		return 0, nil, err
	}
	if !ack.Duplicate {
		return ack.Seq, req.ids, nil
	}
	msg, err := g.store.Get(ctx, logs.Stream, ack.Seq)
	if err != nil {
		return 0, nil, err
	}
	stored, err := decodeEntries(msg.Data)
	if err != nil {
		return 0, nil, err
	}
	ids := make([]uuid.UUID, len(stored))
	for i, e := range stored {
		ids[i] = e.ID
	}
	return ack.Seq, ids, nil
}

// payloadPrefix opens an EntriesReceived payload (logs.AppendPayload's layout).
const payloadPrefix = `{"entries":[`

func encodeReq(entries []logs.Entry) (*ingestReq, error) {
	hint := len(payloadPrefix) + 2
	for _, e := range entries {
		// The fields plus the id, the time and the JSON around them; a
		// rare escaped character makes append grow the buffer once.
		hint += len(e.Level) + len(e.Message) + len(e.Context) + len(e.Source) + 160
	}
	req := &ingestReq{buf: make([]byte, 0, hint), ids: make([]uuid.UUID, len(entries)), done: make(chan ingestResult, 1)}
	req.buf = append(req.buf, payloadPrefix...)
	for i, e := range entries {
		if i > 0 {
			req.buf = append(req.buf, ',')
		}
		var ok bool
		if req.buf, ok = appendEntry(req.buf, e); !ok {
			// What appendEntry leaves to encoding/json: its error, or
			// (were the two to disagree on what is valid) its bytes.
			b, err := logs.EncodeEntry(e)
			if err != nil {
				return nil, fmt.Errorf("encode entry %d: %w", i, err)
			}
			req.buf = append(req.buf, b...)
		}
		req.ids[i] = e.ID
		req.times.add(e.ID)
	}
	req.bytes = len(req.buf) - len(payloadPrefix)
	return req, nil
}

// entries returns the request's encoded entries, joined by commas.
func (req *ingestReq) entries() []byte { return req.buf[len(payloadPrefix):] }

// expired tells whether req waited too long to be appended: past
// AckTimeout after its oldest id's time, it is refused rather than stored
// later than a lookup of its ids would look.
func (g *Ingester) expired(req *ingestReq) bool {
	return req.times.set && time.Since(time.UnixMilli(req.times.min)) > g.cfg.AckTimeout
}

// errQueuedTooLong answers entries that waited longer than AckTimeout for
// their append to start.
var errQueuedTooLong = fmt.Errorf("%w: the log is too slow to take entries now", eventstore.ErrUnavailable)

func (g *Ingester) appendAlone(ctx context.Context, req *ingestReq, dedupeID string) (eventstore.Ack, error) {
	if g.expired(req) {
		return eventstore.Ack{}, errQueuedTooLong
	}
	env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1, OccurredAt: time.Now().UTC(),
		Data: append(req.buf, "]}"...)}
	req.buf = nil
	opts := []eventstore.AppendOption{eventstore.WithCount(len(req.ids))}
	if req.times.set {
		opts = append(opts, eventstore.WithHeader(HeaderEntryTimes, req.times.String()))
	}
	if dedupeID != "" {
		opts = append(opts, eventstore.WithDedupeID(dedupeID))
	}
	actx, cancel := context.WithTimeout(ctx, g.cfg.AckTimeout)
	defer cancel()
	ack, err := g.store.Append(actx, logs.Subject, eventstore.NoExpectation, env, opts...)
	if err != nil {
		return ack, err
	}
	if !ack.Duplicate {
		g.accepted(req.ids, ack.Seq)
	}
	return ack, nil
}

func (g *Ingester) accepted(ids []uuid.UUID, seq uint64) {
	g.received.Add(float64(len(ids)))
	g.recent.add(ids, seq)
}

// Lookup returns the stream sequence of an entry this process accepted
// recently.
func (g *Ingester) Lookup(id uuid.UUID) (uint64, bool) { return g.recent.get(id) }

// Run groups and appends queued entries until ctx ends, then finishes the
// appends in flight and refuses further submissions.
func (g *Ingester) Run(ctx context.Context) error {
	defer func() {
		g.mu.Lock()
		g.stopped = true
		g.mu.Unlock()
		// Answer anything still queued, then wait for appends in flight.
		for {
			select {
			case req := <-g.queue:
				req.done <- ingestResult{err: ErrStopped}
				continue
			default:
			}
			break
		}
		g.wg.Wait()
	}()
	for {
		var first *ingestReq
		select {
		case <-ctx.Done():
			return nil
		case first = <-g.queue:
		}
		// Wait for a free slot first: requests arriving meanwhile join this group.
		select {
		case g.slots <- struct{}{}:
		case <-ctx.Done():
			first.done <- ingestResult{err: ErrStopped}
			return nil
		}
		var group []*ingestReq
		size := 0
		take := func(req *ingestReq) {
			if g.expired(req) {
				req.done <- ingestResult{err: errQueuedTooLong}
				return
			}
			group = append(group, req)
			size += req.bytes
		}
		take(first)
	drain:
		for size < g.cfg.MaxGroupBytes {
			select {
			case req := <-g.queue:
				take(req)
			default:
				break drain
			}
		}
		if len(group) == 0 {
			<-g.slots
			continue
		}
		g.appendGroup(group, size)
	}
}

func (g *Ingester) appendGroup(group []*ingestReq, size int) {
	encoded := make([][]byte, 0, len(group))
	var times msRange
	count := 0
	for _, req := range group {
		if len(req.ids) > 0 {
			encoded = append(encoded, req.entries())
		}
		times.merge(req.times)
		count += len(req.ids)
	}
	env := eventstore.Envelope{ID: uuid.Must(uuid.NewV7()), Type: logs.EntriesReceivedV1, OccurredAt: time.Now().UTC(),
		Data: logs.AppendPayload(make([]byte, 0, size+16), encoded)}
	g.groups.Observe(float64(count))
	opts := []eventstore.AppendOption{eventstore.WithCount(count)}
	if times.set {
		opts = append(opts, eventstore.WithHeader(HeaderEntryTimes, times.String()))
	}
	pending, err := g.store.AppendAsync(logs.Subject, env, opts...)
	if err != nil {
		<-g.slots
		reply(group, ingestResult{err: err})
		return
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.AckTimeout)
		ack, err := pending.Wait(ctx)
		cancel()
		<-g.slots
		if err == nil {
			for _, req := range group {
				g.accepted(req.ids, ack.Seq)
			}
		}
		reply(group, ingestResult{seq: ack.Seq, err: err})
	}()
}

func reply(group []*ingestReq, res ingestResult) {
	for _, req := range group {
		req.done <- res
	}
}

// decodeEntries reads the entries out of a stored log event.
func decodeEntries(data []byte) ([]logs.Entry, error) {
	env, err := eventstore.UnmarshalEnvelope(data)
	if err != nil {
		return nil, err
	}
	if env.Type != logs.EntriesReceivedV1 {
		return nil, errors.New("not a log event: " + env.Type)
	}
	return logs.DecodeEntriesReceived(env.Data)
}

// recentIndex remembers the stream sequence of the last N accepted entries,
// so that an entry not yet projected is found without scanning the log.
// Its memory (about 5 MB for 100,000 entries) is taken with the first
// entry: a process that takes no log entries (an orders-only load) keeps
// it for its other work.
type recentIndex struct {
	mu   sync.Mutex
	n    int
	m    map[uuid.UUID]uint64
	ring []uuid.UUID
	next int
}

func newRecentIndex(n int) *recentIndex { return &recentIndex{n: n} }

func (x *recentIndex) add(ids []uuid.UUID, seq uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ring == nil {
		x.m, x.ring = make(map[uuid.UUID]uint64, x.n), make([]uuid.UUID, x.n)
	}
	for _, id := range ids {
		if old := x.ring[x.next]; old != uuid.Nil {
			delete(x.m, old)
		}
		x.ring[x.next] = id
		x.m[id] = seq
		x.next = (x.next + 1) % len(x.ring)
	}
}

func (x *recentIndex) get(id uuid.UUID) (uint64, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	seq, ok := x.m[id]
	return seq, ok
}
