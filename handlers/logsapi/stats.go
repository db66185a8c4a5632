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
	"github.com/eventline/eventline/handlers/httpapi"
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
	// StreamMismatch, when set, says why the projection applies nothing:
	// its checkpoint counts in another stream than the one stored now.
	// Every entry of the stream is then pending.
	StreamMismatch string `json:"stream_mismatch,omitempty"`
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cp, err := projections.LoadCheckpoint(ctx, h.pool, logentries.Name)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	parked, err := projections.CountParked(ctx, h.pool, logentries.Name)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	skipped, err := projections.CountSkipped(ctx, h.pool, logentries.Name)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	// The log is read over the lookups' connection, never the one appends use.
	reads := h.finder.reads
	pos, err := projections.ReadStreamPosition(ctx, reads.JetStream(), logs.Stream)
	if err != nil {
		httpapi.WriteError(w, r, fmt.Errorf("%w: %v", eventstore.ErrUnavailable, err))
		return
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
		httpapi.WriteError(w, r, err)
		return
	}
	v := statsView{Persisted: cp.Rows, Pending: pending, Received: cp.Rows + pending + parked, Batches: cp.Batches,
		LastFlushAt: cp.LastFlushAt, Parked: parked, Skipped: skipped, CheckpointSeq: cp.LastSeq, StreamLastSeq: last}
	if mismatch != nil {
		v.StreamMismatch = mismatch.Reason
	}
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
	httpapi.WriteJSON(w, http.StatusOK, v)
}

// pendingCounter counts the entries held by events after the checkpoint. It
// reads only message headers (Eventline-Count) and remembers what it has
// counted, so that repeated calls read only the new events.
type pendingCounter struct {
	mu sync.Mutex
	// stream is the creation time of the stream counted: a stream created
	// again starts its sequences over.
	stream     time.Time
	checkpoint uint64
	scanned    uint64
	counts     []seqCount
}

type seqCount struct {
	seq uint64
	n   int64
}

func (c *pendingCounter) count(ctx context.Context, store *eventstore.Store, stream time.Time, checkpoint, last uint64) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if checkpoint < c.checkpoint || last < c.scanned || !stream.Equal(c.stream) {
		// A rebuild moved the checkpoint back, or the stream is another one.
		c.counts, c.scanned, c.stream = nil, 0, stream
	}
	c.checkpoint = checkpoint
	i := 0
	for i < len(c.counts) && c.counts[i].seq <= checkpoint {
		i++
	}
	c.counts = c.counts[i:]
	from := max(c.scanned, checkpoint) + 1
	if from <= last {
		// What is counted is kept even when the read ends early (the
		// request's time bound over a large backlog): the next call goes on
		// from there.
		err := store.Read(ctx, logs.Stream, eventstore.ReadOptions{FromSeq: from, ToSeq: last, HeadersOnly: true},
			func(ev eventstore.RawEvent) error {
				n, err := strconv.ParseInt(ev.Header.Get(eventstore.HeaderCount), 10, 64)
				if err != nil {
					n = 1
				}
				c.counts = append(c.counts, seqCount{seq: ev.Seq, n: n})
				c.scanned = ev.Seq
				return nil
			})
		if err != nil {
			return 0, err
		}
		c.scanned = last
	}
	var total int64
	for _, sc := range c.counts {
		total += sc.n
	}
	return total, nil
}
