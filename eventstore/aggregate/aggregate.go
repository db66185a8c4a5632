package aggregate

import (
	"errors"
	"log/slog"
	"time"

	"github.com/eventline/eventline/eventstore"
)

// ErrTooManyConflicts reports that every attempt of a command lost the race
// for its aggregate; the command changed nothing. It is returned together
// with eventstore.ErrConflict (errors.Is matches both).
var ErrTooManyConflicts = errors.New("aggregate: too many concurrent changes")

// Event is one event a decision produces: a fixed, versioned type name and
// the payload, which is stored as JSON and must decode through the
// Handler's registry as the type registered for that name.
type Event struct {
	// Type is the event type, e.g. "counter.incremented.v1".
	Type string
	// Data is the payload.
	Data any
}

// Recorded is a stored event of the aggregate as Evolve sees it.
type Recorded struct {
	// Seq is the event's stream sequence.
	Seq uint64
	// Type is the event type.
	Type string
	// Data is the payload decoded through the registry (the value its
	// constructor returns, usually a pointer).
	Data any
	// Envelope is the event as stored.
	Envelope eventstore.Envelope
}

// Definition describes one kind of aggregate. Initial, Evolve and Decide
// must be pure: the Handler shares states between goroutines and caches
// them, so Evolve returns a new state rather than changing the one it is
// given in place (copy maps and slices before changing them), and Decide
// changes nothing.
type Definition[S, C any] struct {
	// Stream is the stream holding the aggregate's subjects.
	Stream string
	// Subject is the aggregate's subject for its id: one subject per
	// aggregate.
	Subject func(id string) string
	// Initial returns the state of an aggregate with no events.
	Initial func() S
	// Evolve folds one event into the state.
	Evolve func(state S, ev Recorded) S
	// Decide returns the events cmd produces from state (none: nothing to
	// do), or a domain error, which Handle returns unchanged.
	Decide func(state S, cmd C) ([]Event, error)
	// Snapshot, when set, lets a Handler with Options.Snapshots store the
	// folded state now and then, and load an aggregate it has not cached
	// from its latest stored snapshot and the events after it, instead of
	// from its first event: for aggregates whose history grows without
	// end while their state stays bounded (a product's reservations).
	Snapshot *Snapshot[S]
	// Pack, when set, is the group commit of a hot aggregate: commands on
	// one aggregate that queue while an append to it is in flight are
	// decided in turn, each on the state the ones before it leave, and
	// their events are stored as the one event Pack returns, in one
	// append. Pack returns the event itself for one event; an error (too
	// many events, say) makes the Handler handle the group's commands one
	// by one instead. Evolve must fold the packed event exactly as the
	// events it holds, in order, and the state a group's decisions folded
	// (each event with Seq 0 and its own envelope: they are not stored
	// yet) is kept as the state after the packed event, so Evolve must not
	// depend on Recorded.Seq or Envelope for the events Pack packs.
	// Commands with a Meta.DedupeID are never grouped (one message carries
	// one dedupe id).
	Pack func(events []Event) (Event, error)
}

// Meta is what a command carries beside its payload.
type Meta struct {
	// CorrelationID ties the events to one business flow.
	CorrelationID string
	// CausationID is the id of the request, command or event that caused
	// the events.
	CausationID string
	// DedupeID, when set, is the publish dedupe id (e.g. from an
	// Idempotency-Key): a repeat within the stream's duplicate window stores
	// nothing new (a batch's events get the id with ":i" appended).
	DedupeID string
}

// Appended is one event a command stored.
type Appended struct {
	// Seq is the event's stream sequence.
	Seq uint64
	// Envelope is the event as stored (when Duplicate: as offered; the
	// stored one is the first attempt's, at Seq).
	Envelope eventstore.Envelope
	// Data is the event's payload decoded through the registry.
	Data any
	// Duplicate is true when the dedupe id had been stored before and
	// nothing new was stored for this event (Meta.DedupeID).
	Duplicate bool
}

// Result is what a handled command did.
type Result[S any] struct {
	// State is the aggregate's state after the command.
	State S
	// Seq is the aggregate's last subject sequence after the command (0:
	// the aggregate has no events; for a Duplicate, the first attempt's).
	Seq uint64
	// Events are the events appended, in order (none when the decision was
	// to do nothing).
	Events []Appended
	// Attempts is how many times the command was decided (1 without a
	// conflict).
	Attempts int
}

// Options tunes a Handler; the zero value is usable.
type Options struct {
	// MaxAttempts bounds how many times a command is decided when appends
	// conflict (10 when 0).
	MaxAttempts int
	// Backoff is the first retry's upper bound of jittered delay; each
	// later retry doubles it up to MaxBackoff (1ms and 50ms when 0).
	Backoff, MaxBackoff time.Duration
	// CacheSize is how many aggregates' folded states are kept (10,000
	// when 0; negative: none, every command loads the whole history).
	CacheSize int
	// DecidedAsDecoded says Decide returns each event's Data exactly as the
	// registry decodes it (the same pointer types, the same values after a
	// JSON round trip), so the appended events are folded from it without
	// decoding their envelopes again. Only for definitions whose tests
	// prove the round trip (domain/saga's do, for every decision).
	DecidedAsDecoded bool
	// Snapshots is where snapshots of the Definition's states are stored
	// (none when nil, or when the Definition has no Snapshot).
	Snapshots SnapshotStore
	// SnapshotEvery is the fewest events after which a snapshot is stored
	// again (DefaultSnapshotEvery when 0); more when the last snapshot
	// outweighs them (see Handler.maybeStore).
	SnapshotEvery int
	// Log receives what goes wrong with snapshots (slog.Default when nil).
	Log *slog.Logger
	// MaxGroup is the most commands decided together when the Definition
	// has Pack (32 when 0).
	MaxGroup int
}

func (o Options) withDefaults() Options {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 50 * time.Millisecond
	}
	if o.CacheSize == 0 {
		o.CacheSize = 10_000
	}
	if o.SnapshotEvery <= 0 {
		o.SnapshotEvery = DefaultSnapshotEvery
	}
	if o.MaxGroup <= 0 {
		o.MaxGroup = 32
	}
	return o
}
