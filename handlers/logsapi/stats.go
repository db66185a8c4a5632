package logsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/httpapi"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/logentries"
)

// statsView is GET /api/logs/stats. Entries are counted from the log and the
// projection's checkpoint and parked list, so every process agrees and
// restarts lose nothing: received = persisted + pending + parked, all in
// entries. Skipped entries (parked ones an operator dropped) are shown apart
// and are not part of received.
type statsView struct {
	Received          int64      `json:"received"`
	Persisted         int64      `json:"persisted"`
	Pending           int64      `json:"pending"`
	Batches           int64      `json:"batches"`
	AvgBatchSize      float64    `json:"avg_batch_size"`
	LastFlushAt       *time.Time `json:"last_flush_at"`
	FailedFlushes     int64      `json:"failed_flushes"`
	Retries           int64      `json:"retries"`
	OldestPendingAgeM int64      `json:"oldest_pending_age_ms"`
	LagSeq            uint64     `json:"lag_seq"`
	Parked            int64      `json:"parked"`
	Skipped           int64      `json:"skipped"`
	CheckpointSeq     uint64     `json:"checkpoint_seq"`
	StreamLastSeq     uint64     `json:"stream_last_seq"`
	// Retention is what retention keeps and has dropped. Dropping changes
	// none of the counts above: persisted counts every entry ever written,
	// retention.expired the part of it since dropped with its day.
	Retention retentionView `json:"retention"`
	// StreamMismatch, when set, says why the projection applies nothing:
	// its checkpoint counts in another stream than the one stored now.
	// Every entry of the stream is then pending.
	StreamMismatch string `json:"stream_mismatch,omitempty"`
}

// retentionView is the retention part of the stats.
type retentionView struct {
	// MaxAgeSeconds is the configured retention (0: forever).
	MaxAgeSeconds int64 `json:"max_age_s"`
	// MaxBytes is the configured cap (0: none).
	MaxBytes int64 `json:"max_bytes"`
	// StreamFirstSeq is the first event the LOGS stream still holds.
	StreamFirstSeq uint64 `json:"stream_first_seq"`
	logentries.RetentionState
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) {
	v, err := h.snapshot(r.Context())
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
}

// snapshot computes the stats GET /api/logs/stats shows (and the
// dashboard, and its rate sampler).
func (h *Handler) snapshot(ctx context.Context) (statsView, error) {
	cp, err := projections.LoadCheckpoint(ctx, h.pool, logentries.Name)
	if err != nil {
		return statsView{}, err
	}
	parked, err := projections.CountParked(ctx, h.pool, logentries.Name)
	if err != nil {
		return statsView{}, err
	}
	skipped, err := projections.CountSkipped(ctx, h.pool, logentries.Name)
	if err != nil {
		return statsView{}, err
	}
	// The log is read over the lookups' connection, never the one appends use.
	reads := h.finder.reads
	pos, err := projections.ReadStreamPosition(ctx, reads.JetStream(), logs.Stream)
	if err != nil {
		return statsView{}, fmt.Errorf("%w: %v", eventstore.ErrUnavailable, err)
	}
	// What the projection has applied of this stream: nothing when its
	// checkpoint counts in another one.
	applied := cp.LastSeq
	var mismatch *projections.StreamMismatchError
	if err := cp.VerifyStream(pos); errors.As(err, &mismatch) {
		applied = 0
	}
	last := pos.LastSeq
	pending, err := h.pending.count(ctx, reads, pos.Created, applied, last)
	if err != nil {
		return statsView{}, err
	}
	v := statsView{Persisted: cp.Rows, Pending: pending, Received: cp.Rows + pending + parked, Batches: cp.Batches,
		LastFlushAt: cp.LastFlushAt, Parked: parked, Skipped: skipped, CheckpointSeq: cp.LastSeq, StreamLastSeq: last}
	if mismatch != nil {
		v.StreamMismatch = mismatch.Reason
	}
	ret, err := logentries.ReadRetention(ctx, h.pool)
	if err != nil {
		return statsView{}, err
	}
	v.Retention = retentionView{MaxAgeSeconds: int64(h.Retention.Retention / time.Second), MaxBytes: h.Retention.MaxBytes,
		StreamFirstSeq: pos.FirstSeq, RetentionState: ret}
	if last > applied {
		v.LagSeq = last - applied
		if at, err := h.finder.storedAt(ctx, max(applied+1, pos.FirstSeq)); err == nil { // headers only
			v.OldestPendingAgeM = time.Since(at).Milliseconds()
		}
	}
	if cp.Batches > 0 {
		v.AvgBatchSize = float64(cp.Rows) / float64(cp.Batches)
	}
	if h.runner != nil {
		st := h.runner.Stats()
		v.FailedFlushes, v.Retries = st.FailedFlushes, st.Retries
	}
	return v, nil
}

// pendingCounter counts the entries held by events after the checkpoint. It
// reads only message headers (Eventline-Count) and remembers what it has
// counted, so that repeated calls read only the new events. What it
// remembers is bounded whatever the backlog: entry counts summed over runs
// of sequences (spans), at most maxPendingSpans of them; past that, runs are
// merged pairwise and twice as long. When the checkpoint moves into a run,
// the rest of that run is read again (its headers only) to split it.
type pendingCounter struct {
	mu sync.Mutex
	// stream is the creation time of the stream counted: a stream created
	// again starts its sequences over.
	stream     time.Time
	checkpoint uint64
	scanned    uint64
	spans      []seqSpan // in sequence order, after the checkpoint
	spanLen    uint64    // sequences a span covers at most (grows by merging)
	// maxSpans and firstSpanLen are maxPendingSpans and firstSpanLen
	// unless set (by tests).
	maxSpans     int
	firstSpanLen uint64
}

// seqSpan holds the entry count of the events in [from, to].
type seqSpan struct {
	from, to uint64
	n        int64
}

// maxPendingSpans bounds the spans a pendingCounter keeps: 2 x 256 x 24
// bytes, whatever the backlog.
const maxPendingSpans = 256

// firstSpanLen is the length of a span before any merging.
const firstSpanLen = 1024

func (c *pendingCounter) count(ctx context.Context, store *eventstore.Store, stream time.Time, checkpoint, last uint64) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if checkpoint < c.checkpoint || last < c.scanned || !stream.Equal(c.stream) {
		// A rebuild moved the checkpoint back, or the stream is another one.
		c.spans, c.scanned, c.stream, c.spanLen = nil, 0, stream, 0
	}
	if c.maxSpans == 0 {
		c.maxSpans, c.firstSpanLen = maxPendingSpans, firstSpanLen
	}
	if c.spanLen == 0 {
		c.spanLen = c.firstSpanLen
	}
	c.checkpoint = checkpoint
	i := 0
	for i < len(c.spans) && c.spans[i].to <= checkpoint {
		i++
	}
	c.spans = c.spans[i:]
	if len(c.spans) > 0 && c.spans[0].from <= checkpoint {
		// The checkpoint is inside the first span: count its rest again.
		first := c.spans[0]
		n, err := countEntries(ctx, store, checkpoint+1, first.to, func(uint64, int64) {})
		if err != nil {
			return 0, err
		}
		c.spans[0] = seqSpan{from: checkpoint + 1, to: first.to, n: n}
	}
	from := max(c.scanned, checkpoint) + 1
	if from <= last {
		// What is counted is kept even when the read ends early (the
		// request's time bound over a large backlog): the next call goes on
		// from there.
		_, err := countEntries(ctx, store, from, last, c.add)
		if err != nil {
			return 0, err
		}
		c.scanned = last
	}
	var total int64
	for _, sp := range c.spans {
		total += sp.n
	}
	return total, nil
}

// add counts the n entries of the event at seq, the next one after scanned.
func (c *pendingCounter) add(seq uint64, n int64) {
	if k := len(c.spans); k > 0 && seq-c.spans[k-1].from < c.spanLen {
		c.spans[k-1].to, c.spans[k-1].n = seq, c.spans[k-1].n+n
	} else {
		c.spans = append(c.spans, seqSpan{from: seq, to: seq, n: n})
	}
	c.scanned = seq
	if len(c.spans) > c.maxSpans {
		c.merge()
	}
}

// merge halves the number of spans by joining neighbours and doubles the
// length of the spans to come.
func (c *pendingCounter) merge() {
	out := c.spans[:0]
	for i := 0; i < len(c.spans); i += 2 {
		sp := c.spans[i]
		if i+1 < len(c.spans) {
			next := c.spans[i+1]
			sp.to, sp.n = next.to, sp.n+next.n
		}
		out = append(out, sp)
	}
	c.spans = out
	c.spanLen *= 2
}

// countEntries reads the headers of the events in [from, to] and returns
// how many entries they hold, telling each event's count to each.
func countEntries(ctx context.Context, store *eventstore.Store, from, to uint64, each func(seq uint64, n int64)) (int64, error) {
	var total int64
	err := store.Read(ctx, logs.Stream, eventstore.ReadOptions{FromSeq: from, ToSeq: to, HeadersOnly: true},
		func(ev eventstore.RawEvent) error {
			n, err := strconv.ParseInt(ev.Header.Get(eventstore.HeaderCount), 10, 64)
			if err != nil {
				n = 1
			}
			total += n
			each(ev.Seq, n)
			return nil
		})
	return total, err
}
