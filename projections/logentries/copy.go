package logentries

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/eventline/eventline/domain/logs"
	"github.com/eventline/eventline/projections"
)

// logCopyReader streams log events as PostgreSQL binary COPY data for
// logColumns, decoding each event's entries when COPY reaches it. Writing
// the format directly, instead of handing pgx a []any per row, saves the
// boxing and the per-value encode planning: a sixth of a rebuild's CPU.
// Values are encoded exactly as pgx encodes them.
//
// pgconn reads it on a goroutine of its own, which CopyFrom does not always
// wait for: on a fatal server error (PostgreSQL shutting down) it returns
// while that goroutine may still be in Read. Its caller therefore stops it
// (stop) before it looks at what was read.
type logCopyReader struct {
	mu      sync.Mutex // held by Read and stop
	stopped bool

	entries logEntries
	buf     []byte
	off     int
	started bool
	done    bool
	rows    int64
	volume  volumeTally
	blocks  *blockBuilder
}

// copyChunk is about how much the reader encodes ahead of COPY.
const copyChunk = 64 << 10

// pgEpochMicros is 2000-01-01T00:00:00Z, PostgreSQL's timestamp epoch, in
// microseconds since the Unix epoch.
const pgEpochMicros = 946_684_800_000_000

var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// Read implements io.Reader. A decoding error ends the data early; it is
// then in r.entries.err (pgconn reports only that the COPY was aborted).
func (r *logCopyReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return 0, errCopyStopped
	}
	for r.off == len(r.buf) {
		if r.done {
			return 0, io.EOF
		}
		r.fill()
		if r.entries.err != nil {
			return 0, r.entries.err
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// errCopyStopped is what Read returns once the reader is stopped.
var errCopyStopped = errors.New("log copy: stopped")

// stop makes Read return errCopyStopped from now on, once a Read under way
// has returned: the rows, volume, blocks and error are the caller's again.
func (r *logCopyReader) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}

// fill encodes the next rows, about copyChunk bytes of them, and the
// trailer after the last.
func (r *logCopyReader) fill() {
	b := r.buf[:0]
	r.off = 0
	if !r.started {
		r.started = true
		b = append(b, copyHeader...)
	}
	for len(b) < copyChunk {
		e, seq, ok := r.entries.next()
		if !ok {
			if r.entries.err == nil {
				b = binary.BigEndian.AppendUint16(b, 0xffff) // trailer
				r.done = true
			}
			break
		}
		b = appendLogRow(b, e, seq)
		r.rows++
		r.volume.add(e.ReceivedAt, e.Level)
		if r.blocks != nil {
			r.blocks.add(e.ReceivedAt, e.Message, e.Context)
		}
	}
	r.buf = b
}

// appendLogRow appends one tuple: id uuid, seq bigint, level text, message
// text, context jsonb (NULL when empty), source text, received_at
// timestamptz, then trace_id and span_id text and event_time and
// observed_time timestamptz (each NULL when not set).
func appendLogRow(b []byte, e *logs.Entry, seq uint64) []byte {
	be := binary.BigEndian
	b = be.AppendUint16(b, uint16(len(logColumns)))
	b = be.AppendUint32(b, 16)
	b = append(b, e.ID[:]...)
	b = be.AppendUint32(b, 8)
	b = be.AppendUint64(b, seq)
	b = appendCopyText(b, e.Level)
	b = appendCopyText(b, e.Message)
	if len(e.Context) == 0 {
		b = be.AppendUint32(b, 0xffffffff) // NULL
	} else {
		b = be.AppendUint32(b, uint32(len(e.Context)+1))
		b = append(b, 1) // jsonb binary format version
		b = append(b, e.Context...)
	}
	b = appendCopyText(b, e.Source)
	b = be.AppendUint32(b, 8)
	b = be.AppendUint64(b, uint64(pgMicros(e.ReceivedAt)))
	b = appendCopyNullText(b, e.TraceID)
	b = appendCopyNullText(b, e.SpanID)
	b = appendCopyNullTime(b, e.Time)
	return appendCopyNullTime(b, e.ObservedTime)
}

// appendCopyNullText appends s as text, or NULL when empty.
func appendCopyNullText(b []byte, s string) []byte {
	if s == "" {
		return binary.BigEndian.AppendUint32(b, 0xffffffff)
	}
	return appendCopyText(b, s)
}

// appendCopyNullTime appends t as timestamptz, or NULL when zero.
func appendCopyNullTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.BigEndian.AppendUint32(b, 0xffffffff)
	}
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(pgMicros(t)))
}

func appendCopyText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// pgMicros is t in PostgreSQL's binary timestamp form, as pgx computes it
// (sub-microsecond digits truncated).
func pgMicros(t time.Time) int64 {
	return t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - pgEpochMicros
}

// logEntries iterates over the entries of log events, decoding each event
// when it is reached.
type logEntries struct {
	events  []projections.Event
	pos     int
	pending []logs.Entry
	seq     uint64
	err     error
}

// next returns the next entry and the sequence of its event; false at the
// end or on a decoding error (in err).
func (it *logEntries) next() (*logs.Entry, uint64, bool) {
	for len(it.pending) == 0 {
		if it.pos == len(it.events) || it.err != nil {
			return nil, 0, false
		}
		ev := it.events[it.pos]
		it.pos++
		it.pending, it.err = decodeLogEvent(ev)
		it.seq = ev.Seq
	}
	e := &it.pending[0]
	it.pending = it.pending[1:]
	return e, it.seq, true
}
