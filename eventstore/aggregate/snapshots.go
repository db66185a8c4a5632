package aggregate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/eventline/eventline/eventstore"
)

// SnapshotStore keeps one stored snapshot per aggregate
// (*eventstore.Snapshots).
type SnapshotStore interface {
	Put(ctx context.Context, info eventstore.SnapshotInfo, write func(io.Writer) error) error
	Get(ctx context.Context, stream, subject string, read func(eventstore.SnapshotInfo, io.Reader) error) error
}

// Snapshot is how a Definition's state is written to a stored snapshot and
// read back. Read(Write(s)) must fold every later event exactly as s does:
// the tests of a definition with a Snapshot prove it.
type Snapshot[S any] struct {
	// Version names the format and the meaning of the state written: a
	// snapshot of another version is not read (the aggregate is folded
	// from its first event). Change it whenever Evolve changes what a
	// state holds.
	Version string
	// Write writes state to w. States are shared by goroutines: Write
	// only reads state.
	Write func(state S, w io.Writer) error
	// Read reads a state Write wrote.
	Read func(r io.Reader) (S, error)
}

// DefaultSnapshotEvery is Options.SnapshotEvery when 0.
const DefaultSnapshotEvery = 1000

// snapshotTimeout bounds storing one snapshot, and reading one.
const snapshotTimeout = 2 * time.Minute

// fromSnapshot returns the state of subject stored in a snapshot, ok false
// when none can be used: none stored, of another version, stale,
// unreadable, or the store failing. None of these stops a load, which then
// folds the whole history.
func (h *Handler[S, C]) fromSnapshot(ctx context.Context, subject string) (folded[S], bool) {
	if h.def.Snapshot == nil || h.opts.Snapshots == nil {
		return folded[S]{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	var out folded[S]
	errVersion := errors.New("another version")
	err := h.opts.Snapshots.Get(ctx, h.def.Stream, subject, func(info eventstore.SnapshotInfo, r io.Reader) error {
		if info.Version != h.def.Snapshot.Version {
			return errVersion
		}
		state, err := h.def.Snapshot.Read(r)
		if err != nil {
			return err
		}
		out = folded[S]{state: state, seq: info.Seq, eventID: info.EventID, stored: info.Seq, storedBytes: int64(info.Size)}
		return nil
	})
	switch {
	case err == nil:
		return out, true
	case errors.Is(err, eventstore.ErrNoSnapshot), errors.Is(err, errVersion), ctx.Err() != nil:
	default:
		h.log().Warn("stored snapshot not used; folding the whole history", "subject", subject, "err", err)
	}
	return folded[S]{}, false
}

// maybeStore stores a snapshot of cur in the background when the events
// folded since the last one outweigh it (and are at least SnapshotEvery):
// storing then costs at most as many bytes as the events themselves, and a
// cold load reads at most the snapshot and as much again in events. One
// snapshot per Handler is stored at a time; a trigger meanwhile is skipped,
// and the next event triggers again.
func (h *Handler[S, C]) maybeStore(subject string, cur folded[S]) {
	if h.def.Snapshot == nil || h.opts.Snapshots == nil || cur.eventID == "" ||
		cur.sinceEvents < int64(h.opts.SnapshotEvery) || cur.sinceBytes < cur.storedBytes {
		return
	}
	select {
	case h.storing <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-h.storing }()
		ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
		defer cancel()
		cw := &countingWriter{}
		info := eventstore.SnapshotInfo{Stream: h.def.Stream, Subject: subject, Seq: cur.seq, EventID: cur.eventID,
			Version: h.def.Snapshot.Version}
		err := h.opts.Snapshots.Put(ctx, info, func(w io.Writer) error {
			cw.w = w
			return h.def.Snapshot.Write(cur.state, cw)
		})
		if err != nil {
			// Tried again after as many events and bytes again; one too
			// large only once the events outweigh the limit.
			failed := cw.n
			if errors.Is(err, eventstore.ErrSnapshotTooLarge) {
				failed = eventstore.MaxSnapshotBytes
			}
			h.cache.stored(subject, 0, failed)
			h.log().Warn("storing a snapshot failed; the aggregate is folded from its events", "subject", subject, "err", err)
			return
		}
		h.cache.stored(subject, cur.seq, cw.n)
	}()
}

func (h *Handler[S, C]) log() *slog.Logger {
	if h.opts.Log != nil {
		return h.opts.Log
	}
	return slog.Default()
}

// countingWriter counts what it writes to w.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
