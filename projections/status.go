package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// Projection states shown by the operator tools.
const (
	// StateRunning: the projection is at most a few seconds behind its stream.
	StateRunning = "running"
	// StateCatchingUp: events have waited longer, but the checkpoint moves.
	StateCatchingUp = "catching up"
	// StateStalled: events are pending and the checkpoint has not moved for
	// StatusReader.StallAfter.
	StateStalled = "stalled"
	// StateNoStream: the stream the projection reads does not exist (yet):
	// serve creates it at start.
	StateNoStream = "no_stream"
)

// Defaults of a StatusReader.
const (
	DefaultStallAfter    = 60 * time.Second
	DefaultCatchingUpLag = 5 * time.Second
)

// Status is where a projection stands against its stream.
type Status struct {
	Name          string `json:"name"`
	Stream        string `json:"stream"`
	CheckpointSeq uint64 `json:"checkpoint_seq"`
	StreamLastSeq uint64 `json:"stream_last_seq"`
	// LagEvents counts the stream messages the projection reads that are
	// past its checkpoint.
	LagEvents uint64 `json:"lag_events"`
	// LagSeconds is how long the oldest of them has waited (0 when none).
	LagSeconds float64 `json:"lag_seconds"`
	// Rows is how many rows the projection has written (exact after a rebuild).
	Rows   int64 `json:"rows"`
	Events int64 `json:"events"`
	// Parked counts the parked items (log entries; an event without
	// items counts as one).
	Parked int64 `json:"parked"`
	// Kind is how the projection's rows change ("insert-only" or
	// "updated-in-place").
	Kind string `json:"kind"`
	// HeldAggregates counts the aggregates of an updated-in-place
	// projection held behind a parked event (their later events are parked
	// too, until a retry or a skip).
	HeldAggregates int64  `json:"held_aggregates,omitempty"`
	State          string `json:"status"`
	// Reason says why, when the state is not a plain running or catching
	// up (a stream mismatch).
	Reason string `json:"reason,omitempty"`
	// CheckpointAt is when the checkpoint last moved (nil: never).
	CheckpointAt *time.Time `json:"checkpoint_at"`
}

// StatusReader computes projection statuses from JetStream and PostgreSQL.
type StatusReader struct {
	js   jetstream.JetStream
	pool *pgxpool.Pool
	// StallAfter is how long a checkpoint may stand still with events
	// pending before the projection counts as stalled.
	StallAfter time.Duration
	// CatchingUpLag is the wait of the oldest pending event past which a
	// moving projection counts as catching up rather than running.
	CatchingUpLag time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// NewStatusReader returns a reader with the default thresholds.
func NewStatusReader(js jetstream.JetStream, pool *pgxpool.Pool) *StatusReader {
	return &StatusReader{js: js, pool: pool, StallAfter: DefaultStallAfter, CatchingUpLag: DefaultCatchingUpLag, Now: time.Now}
}

// All returns the status of every projection of reg.
func (r *StatusReader) All(ctx context.Context, reg *Registry) ([]Status, error) {
	var out []Status
	for _, spec := range reg.Specs() {
		st, err := r.Status(ctx, spec)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// Status returns where spec's projection stands.
func (r *StatusReader) Status(ctx context.Context, spec Spec) (Status, error) {
	st := Status{Name: spec.Name, Stream: spec.Stream}
	cp, err := LoadCheckpoint(ctx, r.pool, spec.Name)
	if err != nil {
		return st, err
	}
	st.CheckpointSeq, st.Rows, st.Events = cp.LastSeq, cp.Rows, cp.Events
	if !cp.UpdatedAt.IsZero() {
		at := cp.UpdatedAt
		st.CheckpointAt = &at
	}
	if st.Parked, err = CountParked(ctx, r.pool, spec.Name); err != nil {
		return st, err
	}
	kind := spec.Kind()
	st.Kind = kind.String()
	if kind == KindUpdatedInPlace && st.Parked > 0 {
		if err := r.pool.QueryRow(ctx, `SELECT count(DISTINCT aggregate) FROM projection_parked WHERE projection = $1 AND aggregate <> ''`,
			spec.Name).Scan(&st.HeldAggregates); err != nil {
			return st, fmt.Errorf("count held aggregates of %s: %w", spec.Name, err)
		}
	}
	stream, err := r.js.Stream(ctx, spec.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		st.State, st.Reason = StateNoStream, fmt.Sprintf("stream %s does not exist (serve creates it at start)", spec.Stream)
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("open stream %s: %w", spec.Stream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return st, fmt.Errorf("stream info %s: %w", spec.Stream, err)
	}
	st.StreamLastSeq = info.State.LastSeq
	var mismatch *StreamMismatchError
	if err := cp.VerifyStream(positionOf(info)); errors.As(err, &mismatch) {
		// The projector applies nothing until a rebuild: every event of
		// the stream is waiting.
		st.State, st.Reason = StateStreamMismatch, mismatch.Reason
		st.LagEvents = info.State.Msgs
		if info.State.Msgs > 0 {
			st.LagSeconds = max(r.now().Sub(info.State.FirstTime), 0).Seconds()
		}
		return st, nil
	}
	st.State = StateRunning
	if cp.LastSeq >= info.State.LastSeq {
		return st, nil
	}
	if st.LagEvents, err = pendingAfter(ctx, stream, info, spec, cp.LastSeq); err != nil {
		return st, err
	}
	if st.LagEvents == 0 {
		return st, nil
	}
	oldest, err := oldestAfter(ctx, stream, spec.Subjects, cp.LastSeq)
	if err != nil {
		return st, err
	}
	now := r.now()
	wait := max(now.Sub(oldest), 0)
	st.LagSeconds = wait.Seconds()
	moved := st.CheckpointAt != nil && now.Sub(*st.CheckpointAt) < r.StallAfter
	switch {
	case wait >= r.StallAfter && !moved:
		st.State = StateStalled
	case wait >= r.CatchingUpLag:
		st.State = StateCatchingUp
	}
	return st, nil
}

func (r *StatusReader) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// ReadyCheck returns a readiness probe that fails while a projection of reg
// is stalled, naming it and saying for how long.
func (r *StatusReader) ReadyCheck(reg *Registry) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		all, err := r.All(ctx, reg)
		if err != nil {
			return err
		}
		return describe(all, StateStalled)
	}
}

// StreamCheck returns a readiness probe that fails while a projection of reg
// has stopped because its stream is not the one its checkpoint was written
// from (StateStreamMismatch). Such a projection applies nothing until an
// operator rebuilds it, so a process that runs projections is not ready.
// When the status cannot be read it passes: the checks of PostgreSQL and
// JetStream report that, each with its own weight.
func (r *StatusReader) StreamCheck(reg *Registry) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		all, err := r.All(ctx, reg)
		if err != nil {
			return nil
		}
		return describe(all, StateStreamMismatch)
	}
}

// describe fails with a short reason for each projection in state.
func describe(all []Status, state string) error {
	var bad []string
	for _, st := range all {
		switch {
		case st.State != state:
		case state == StateStalled:
			bad = append(bad, fmt.Sprintf("%s stalled at #%d with %d events pending for %.0fs",
				st.Name, st.CheckpointSeq, st.LagEvents, st.LagSeconds))
		default:
			bad = append(bad, fmt.Sprintf("%s stopped (%s): %s; rebuild it: eventline projections rebuild %s",
				st.Name, st.State, st.Reason, st.Name))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// pendingAfter counts the messages of spec's subjects stored after seq
// without creating a consumer (a readiness probe must not: each one is
// server state, and a probe runs every few seconds on every process). When
// the projection reads the whole stream the count is the sequence distance
// (event streams deny deletes). Otherwise the projection's durable consumer
// says how many of its messages are undelivered or unacknowledged: it
// acknowledges only what is committed, so that is what lies past the
// checkpoint. Without a durable consumer yet, the sequence distance is the
// upper bound reported.
func pendingAfter(ctx context.Context, stream jetstream.Stream, info *jetstream.StreamInfo, spec Spec, seq uint64) (uint64, error) {
	last := info.State.LastSeq
	if seq >= last {
		return 0, nil
	}
	if readsWholeStream(spec.Subjects, info.Config.Subjects) {
		return last - seq, nil
	}
	cons, err := stream.Consumer(ctx, ConsumerName(spec.Name))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return last - seq, nil
	}
	if err != nil {
		return 0, fmt.Errorf("count pending after #%d: %w", seq, err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("count pending after #%d: %w", seq, err)
	}
	return ci.NumPending + uint64(ci.NumAckPending), nil
}

// readsWholeStream reports whether a projection filtering on subjects reads
// every message of a stream that holds streamSubjects.
func readsWholeStream(subjects, streamSubjects []string) bool {
	if len(subjects) == 0 || slices.Contains(subjects, ">") {
		return true
	}
	for _, s := range streamSubjects {
		if !slices.Contains(subjects, s) {
			return false
		}
	}
	return true
}

// oldestAfter returns the storage time of the first message of subjects
// after seq.
func oldestAfter(ctx context.Context, stream jetstream.Stream, subjects []string, seq uint64) (time.Time, error) {
	if len(subjects) == 0 {
		subjects = []string{">"}
	}
	var oldest time.Time
	for _, subj := range subjects {
		m, err := stream.GetMsg(ctx, seq+1, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("first message after #%d: %w", seq, err)
		}
		if oldest.IsZero() || m.Time.Before(oldest) {
			oldest = m.Time
		}
	}
	return oldest, nil
}
