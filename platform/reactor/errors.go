package reactor

import (
	"context"
	"errors"
	"net"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/eventline/eventline/eventstore"
)

// ErrNotParked reports that the message to skip is not parked.
var ErrNotParked = errors.New("no such parked message")

// ErrUnknownReactor reports a reactor name that is not registered.
var ErrUnknownReactor = errors.New("unknown reactor")

// permanentError marks an error that no retry can fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// transientError marks an error that goes away by itself.
type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() error { return e.err }

// Permanent marks err as one no retry can fix (a rule the event breaks, a
// payload that does not decode): the message is parked at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// Transient marks err as one that goes away by itself (a participant that
// is down): the message is redelivered with backoff for as long as it takes
// and never parked.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transientError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var pe permanentError
	return errors.As(err, &pe)
}

// IsTransient reports whether err is a passing infrastructure failure:
// marked with Transient, JetStream unreachable or full, a context deadline
// or cancellation, a network error, or PostgreSQL unreachable, shutting
// down, out of resources or in a serialization conflict. These are retried
// indefinitely and never parked. Permanent wins over everything else.
func IsTransient(err error) bool {
	if err == nil || IsPermanent(err) {
		return false
	}
	var te transientError
	if errors.As(err, &te) {
		return true
	}
	if errors.Is(err, eventstore.ErrUnavailable) || errors.Is(err, eventstore.ErrStorageFull) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.Timeout(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) >= 2 {
		switch pgErr.Code[:2] {
		case "08", "25", "40", "53", "57", "58", "XX":
			return true
		}
	}
	return false
}
