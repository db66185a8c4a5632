package eventstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RawEvent is a stream message as read, before decoding its envelope.
type RawEvent struct {
	Stream  string
	Seq     uint64
	Subject string
	Time    time.Time
	Header  nats.Header
	Data    []byte
}

// ReadOptions selects what Read delivers.
type ReadOptions struct {
	// FromSeq is the first stream sequence (1 when 0).
	FromSeq uint64
	// StartTime, when set, starts at the first message stored at or after it
	// (FromSeq is then ignored).
	StartTime *time.Time
	// ToSeq is the last sequence; 0 means the stream's last sequence when
	// the read starts.
	ToSeq uint64
	// Subjects filters by subject (empty: all).
	Subjects []string
	// HeadersOnly skips message bodies.
	HeadersOnly bool
	// OnGap is called when, without a subject filter, sequences jump: the
	// messages from..to are missing (deleted). Returning an error stops the
	// read. When nil, gaps are ignored.
	OnGap func(from, to uint64) error
}

// ErrStop may be returned by a Read callback to end the read early without error.
var ErrStop = errors.New("eventstore: stop reading")

// Read delivers stream messages in order to fn with an ordered consumer, which
// leaves nothing behind on the server, in constant memory. It checks that
// sequences are contiguous where it can and reports jumps to OnGap.
func (s *Store) Read(ctx context.Context, stream string, o ReadOptions, fn func(RawEvent) error) error {
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		return classify("open stream "+stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return classify("stream info "+stream, err)
	}
	to := o.ToSeq
	if to == 0 || to > info.State.LastSeq {
		to = info.State.LastSeq
	}
	from := max(o.FromSeq, 1)
	if o.StartTime == nil && (from > to || info.State.Msgs == 0) {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: o.Subjects, HeadersOnly: o.HeadersOnly}
	if o.StartTime != nil {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cfg.OptStartTime = o.StartTime
	} else {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	cons, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return classify("read "+stream, err)
	}
	if ci := cons.CachedInfo(); ci != nil && ci.NumPending == 0 {
		if len(o.Subjects) == 0 && o.OnGap != nil && o.StartTime == nil {
			return o.OnGap(from, to)
		}
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1000))
	if err != nil {
		return classify("read "+stream, err)
	}
	defer it.Stop()
	w := startStallWatch(ctx, it, readStallTimeout)
	defer w.stop()
	expect := from
	first := true
	for {
		w.waiting()
		msg, err := it.Next()
		w.done()
		if err != nil {
			if w.stalled.Load() {
				return fmt.Errorf("read %s: %w: no message for %v before reaching #%d", stream, ErrUnavailable, readStallTimeout, to)
			}
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			return classify("read "+stream, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: metadata: %w", stream, err)
		}
		seq := md.Sequence.Stream
		if seq > to {
			// The rest of the range is missing: report it too.
			if len(o.Subjects) == 0 && o.OnGap != nil && !(first && o.StartTime != nil) && expect <= to {
				return o.OnGap(expect, to)
			}
			return nil
		}
		if first && o.StartTime != nil {
			expect = seq
		}
		first = false
		if len(o.Subjects) == 0 && o.OnGap != nil && seq > expect {
			if err := o.OnGap(expect, seq-1); err != nil {
				return err
			}
		}
		expect = seq + 1
		ev := RawEvent{Stream: stream, Seq: seq, Subject: msg.Subject(), Time: md.Timestamp, Header: msg.Headers(), Data: msg.Data()}
		if err := fn(ev); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
		if seq == to || md.NumPending == 0 {
			if len(o.Subjects) == 0 && o.OnGap != nil && seq < to {
				return o.OnGap(seq+1, to)
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// readStallTimeout is how long Read waits for the next message before it
// gives up on the server.
const readStallTimeout = 5 * time.Second

// stallWatch stops a message iterator when the reader has been waiting in
// Next for too long without a message, or when ctx ends. It replaces a
// per-message timeout, whose timer costs a tenth of a bulk read's CPU.
type stallWatch struct {
	// calls is odd while the reader waits in Next: incremented on the way
	// in and on the way out.
	calls   atomic.Uint64
	stalled atomic.Bool
	quit    chan struct{}
}

func startStallWatch(ctx context.Context, it jetstream.MessagesContext, limit time.Duration) *stallWatch {
	w := &stallWatch{quit: make(chan struct{})}
	tick := min(limit/10, 500*time.Millisecond)
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		var last uint64
		var idle time.Duration
		for {
			select {
			case <-w.quit:
				return
			case <-ctx.Done():
				it.Stop()
				return
			case <-t.C:
			}
			v := w.calls.Load()
			if v%2 == 1 && v == last {
				idle += tick
			} else {
				idle = 0
			}
			last = v
			if idle >= limit {
				w.stalled.Store(true)
				it.Stop()
				return
			}
		}
	}()
	return w
}

func (w *stallWatch) waiting() { w.calls.Add(1) }
func (w *stallWatch) done()    { w.calls.Add(1) }
func (w *stallWatch) stop()    { close(w.quit) }

// LastSeq returns the stream's last sequence.
func (s *Store) LastSeq(ctx context.Context, stream string) (uint64, error) {
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		return 0, classify("open stream "+stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, classify("stream info "+stream, err)
	}
	return info.State.LastSeq, nil
}
