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

// IsPermanent reports whether err will recur however often it is retried:
// errors marked Permanent and PostgreSQL errors about the data itself.
// Connection trouble, timeouts, shutdowns, serialization failures and
// resource exhaustion are transient.
func IsPermanent(err error) bool {
	var pe permanentError
	if errors.As(err, &pe) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", "40", "53", "57", "58", "XX":
			return false
		case "25": // transaction state: the connection was lost mid-transaction
			return false
		}
		return true
	}
	return false
}
