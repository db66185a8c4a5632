package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/eventline/eventline/eventstore"
)

// Error is an error with its place in the API: status, machine code, human
// message and optionally the offending field.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// RetryAfter, in seconds, is sent as Retry-After when positive.
	RetryAfter int `json:"-"`
}

// Error implements error with the code and the message.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an API error.
func Errorf(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// FieldErr returns a 400 error about one field.
func FieldErr(field, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_field", Message: message, Field: field}
}

// ErrDatabaseUnavailable is returned when a read needs PostgreSQL and it is
// not reachable.
var ErrDatabaseUnavailable = errors.New("database unavailable")

// toAPIError is the one place where errors become status codes.
func toAPIError(err error) *Error {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	switch {
	case errors.Is(err, ErrOverloaded):
		return overloaded()
	case errors.Is(err, eventstore.ErrStorageFull):
		return &Error{Status: http.StatusInsufficientStorage, Code: "log_storage_full",
			Message: "The event log cannot store more until space is freed; nothing was stored. Retry later.", RetryAfter: 10}
	case errors.Is(err, eventstore.ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: "log_unavailable",
			Message: "The event log is unreachable; nothing was stored. Retry later.", RetryAfter: 2}
	case errors.Is(err, eventstore.ErrTooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "The request is larger than the event log accepts."}
	case errors.Is(err, eventstore.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: "A concurrent change got there first; retry."}
	case isConnectError(err):
		return &Error{Status: http.StatusServiceUnavailable, Code: "database_unavailable",
			Message: "The read model database is unreachable. Retry later.", RetryAfter: 2}
	case errors.Is(err, context.DeadlineExceeded), isQueryTimeout(err):
		return &Error{Status: http.StatusServiceUnavailable, Code: "timeout", Message: "The request timed out. Retry later.", RetryAfter: 1}
	case errors.Is(err, ErrDatabaseUnavailable), isDatabaseDown(err):
		return &Error{Status: http.StatusServiceUnavailable, Code: "database_unavailable",
			Message: "The read model database is unreachable. Retry later.", RetryAfter: 2}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal_error", Message: "Something went wrong on our side."}
}

// AsError is err as the API answers it (status, code, message), for an
// endpoint that must send it in another shape (OTLP's).
func AsError(err error) *Error { return toAPIError(err) }

// isConnectError recognises a failed (refused, timed out) connection to
// PostgreSQL.
func isConnectError(err error) bool {
	var connErr *pgconn.ConnectError
	return errors.As(err, &connErr)
}

// isQueryTimeout recognises a statement cancelled by PostgreSQL's
// statement_timeout (SQLSTATE 57014).
func isQueryTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "57014"
}

// isDatabaseDown recognises PostgreSQL being unreachable or shutting down.
func isDatabaseDown(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		c := pgErr.Code
		return len(c) == 5 && (c[:2] == "08" || c[:2] == "57" || c[:2] == "53")
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err)
}

// WriteError sends err in the contract's error shape. Internal errors are
// logged, never shown.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	apiErr := toAPIError(err)
	if apiErr.Status >= 500 {
		loggerFrom(r.Context()).ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", apiErr.Status, "err", err)
	}
	if apiErr.RetryAfter > 0 {
		w.Header().Set("Retry-After", itoa(apiErr.RetryAfter))
	}
	WriteJSON(w, apiErr.Status, map[string]*Error{"error": apiErr})
}

// WriteErrorLog logs a failure that does not change the answer.
func WriteErrorLog(r *http.Request, what string, err error) {
	loggerFrom(r.Context()).WarnContext(r.Context(), what, "method", r.Method, "path", r.URL.Path, "err", err)
}

type loggerKey struct{}

// loggerFrom returns the server's logger carried by a request's context.
func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
