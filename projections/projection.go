package projections

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"

	"github.com/eventline/eventline/eventstore"
)

// Event is one stream message handed to a projection.
type Event struct {
	Seq      uint64
	Subject  string
	Time     time.Time
	Header   nats.Header
	Envelope eventstore.Envelope
}

// Projection turns events into rows of a read model.
type Projection interface {
	// Name identifies the projection: its consumer and its checkpoint.
	Name() string
	// Stream is the stream it reads.
	Stream() string
	// Subjects filters the stream (empty: every subject).
	Subjects() []string
	// Apply writes the effect of events, in order, inside tx and returns how
	// many rows it inserted. It must be idempotent: applying an event twice
	// changes nothing. Errors it cannot fix by retrying are wrapped with
	// Permanent.
	Apply(ctx context.Context, tx pgx.Tx, events []Event) (int64, error)
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying will not fix: the event that
// caused it is parked.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err will recur however often it is retried,
// so that the event that caused it is poison: errors marked Permanent, and
// PostgreSQL errors about the data itself (class 22, data exceptions such as
// a NUL byte in text or a number out of range; class 23, integrity
// constraint violations). Everything else is transient and retried with
// backoff without parking anything: a lost connection, a missing table or
// column (class 42: the schema or the statement is wrong, not the event;
// parking would park every event until a migration or a deploy lands), a
// lock or statement timeout (55P03, 57014), serialization failures and
// deadlocks (40), resource exhaustion (53), an administrator's shutdown
// (57P), system and internal errors (58, XX), and any error that is not a
// PostgreSQL error (network, context).
func IsPermanent(err error) bool {
	var pe permanentError
	if errors.As(err, &pe) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) == 5 {
		switch pgErr.Code[:2] {
		case "22", "23":
			return true
		}
	}
	return false
}

// Kind says how a projection's rows change, which decides what happens to
// the events behind one it cannot apply.
type Kind int

const (
	// KindInsertOnly rows are written once and never changed (log entries): a
	// bad event is parked and every later event is applied.
	KindInsertOnly Kind = iota
	// KindUpdatedInPlace rows hold the state of an aggregate (a saga, an order):
	// a later event of an aggregate is never applied before an earlier one,
	// so a bad event holds its aggregate back (its later events are parked
	// behind it) until it is retried or skipped; other aggregates flow on.
	KindUpdatedInPlace
)

// String names the kind as the CLI shows it.
func (k Kind) String() string {
	if k == KindUpdatedInPlace {
		return "updated-in-place"
	}
	return "insert-only"
}

// InPlaceProjection is a Projection whose rows are updated in place. Embed
// UpdatedInPlace to declare it with the default grouping (one aggregate per
// subject), or implement Aggregate for another.
type InPlaceProjection interface {
	Projection
	// Aggregate names the aggregate ev belongs to: events of one aggregate
	// are applied in stream order and never past one that failed. It must
	// not depend on the envelope, which is zero for an event whose envelope
	// cannot be decoded (that event is parked, and its aggregate held).
	Aggregate(ev Event) string
}

// UpdatedInPlace, embedded in a projection, declares it InPlaceProjection
// with one aggregate per subject (the house rule: `saga.<id>`,
// `events.acct.<id>`). The whole subject is the aggregate, not its last
// token, so that two subject families with the same ids stay apart.
type UpdatedInPlace struct{}

// Aggregate returns ev's subject.
func (UpdatedInPlace) Aggregate(ev Event) string { return ev.Subject }

// KindOf returns the kind p declares.
func KindOf(p Projection) Kind {
	if _, ok := p.(InPlaceProjection); ok {
		return KindUpdatedInPlace
	}
	return KindInsertOnly
}
