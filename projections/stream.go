package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StateStreamMismatch: the projection's checkpoint counts in another stream
// than the one now stored (deleted and created again, or wiped). The
// projector applies nothing until an operator rebuilds the projection.
const StateStreamMismatch = "stream_mismatch"

// ErrStreamMismatch reports that a checkpoint was not written from the
// stream as it is now: applying from it would skip or misplace events.
var ErrStreamMismatch = errors.New("stream does not match the checkpoint")

// StreamPosition is one incarnation of a stream and where it stands. A
// stream deleted and created again has the same name but another creation
// time, and its sequences start over.
type StreamPosition struct {
	Name    string
	Created time.Time
	// FirstSeq and LastSeq bound the stored messages; Msgs counts them.
	FirstSeq, LastSeq, Msgs uint64
}

// ReadStreamPosition asks JetStream where stream stands.
func ReadStreamPosition(ctx context.Context, js jetstream.JetStream, stream string) (StreamPosition, error) {
	s, err := js.Stream(ctx, stream) // one stream info request
	if err != nil {
		return StreamPosition{}, fmt.Errorf("stream info %s: %w", stream, err)
	}
	return positionOf(s.CachedInfo()), nil
}

func positionOf(info *jetstream.StreamInfo) StreamPosition {
	return StreamPosition{Name: info.Config.Name, Created: info.Created, FirstSeq: info.State.FirstSeq,
		LastSeq: info.State.LastSeq, Msgs: info.State.Msgs}
}

// created is the creation time as PostgreSQL stores it (microseconds).
func (p StreamPosition) created() time.Time { return p.Created.UTC().Truncate(time.Microsecond) }

// StreamMismatchError says why a checkpoint does not fit its stream.
type StreamMismatchError struct {
	Stream string
	// Reason is a short sentence for operators (no addresses or secrets).
	Reason string
}

// Error implements error.
func (e *StreamMismatchError) Error() string {
	return "the checkpoint does not fit stream " + e.Stream + ": " + e.Reason + "; rebuild the projection from this stream (eventline projections rebuild)"
}

// Unwrap makes errors.Is(err, ErrStreamMismatch) true.
func (e *StreamMismatchError) Unwrap() error { return ErrStreamMismatch }

// VerifyStream reports whether cp was written from the stream at pos: nil,
// or a *StreamMismatchError when the stream was created again since, ends
// before the checkpoint, or lost the events right after it. A checkpoint
// written before identities were recorded (HasStream false) is checked on
// its sequence only.
func (cp Checkpoint) VerifyStream(pos StreamPosition) error {
	mismatch := func(format string, args ...any) error {
		return &StreamMismatchError{Stream: pos.Name, Reason: fmt.Sprintf(format, args...)}
	}
	if cp.HasStream() {
		if cp.Stream != pos.Name {
			return mismatch("the checkpoint counts in stream %s, not %s", cp.Stream, pos.Name)
		}
		if !cp.StreamCreated.Equal(pos.created()) {
			return mismatch("stream %s was created again at %s; checkpoint #%d counts in the one created at %s",
				pos.Name, pos.created().Format(time.RFC3339Nano), cp.LastSeq, cp.StreamCreated.UTC().Format(time.RFC3339Nano))
		}
	}
	if pos.LastSeq < cp.LastSeq {
		return mismatch("stream %s ends at #%d, before checkpoint #%d (it was wiped or replaced)", pos.Name, pos.LastSeq, cp.LastSeq)
	}
	if pos.Msgs > 0 && pos.FirstSeq > cp.LastSeq+1 {
		return mismatch("stream %s starts at #%d: events #%d-#%d after checkpoint #%d are gone", pos.Name, pos.FirstSeq, cp.LastSeq+1, pos.FirstSeq-1, cp.LastSeq)
	}
	return nil
}
