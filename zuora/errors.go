package zuora

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors that callers branch on with errors.Is. An *APIError
// unwraps to exactly one of the status sentinels.
var (
	// ErrUnauthorized means Zuora refused the client credentials or, after
	// one refresh, the access token (HTTP 401, or a refused token request).
	ErrUnauthorized = errors.New("zuora: unauthorized")
	// ErrForbidden means the credentials are valid but may not list workflows (HTTP 403).
	ErrForbidden = errors.New("zuora: forbidden")
	// ErrNotFound means the endpoint does not exist at the base URL (HTTP 404).
	ErrNotFound = errors.New("zuora: not found")
	// ErrBadRequest means Zuora rejected the request itself (another 4xx); retrying cannot help.
	ErrBadRequest = errors.New("zuora: bad request")
	// ErrRateLimited means Zuora still answered 429 when the retries were spent,
	// or asked to wait longer than the client is allowed to.
	ErrRateLimited = errors.New("zuora: rate limited")
	// ErrUnavailable means Zuora answered 5xx, or could not be reached, on every attempt.
	ErrUnavailable = errors.New("zuora: unavailable")
	// ErrBadResponse means a response could not be used: malformed JSON, a body
	// over the size limit, a workflow without an id or with a bad timestamp.
	ErrBadResponse = errors.New("zuora: bad response")
	// ErrPagination means the pagination could not be followed: a next_page
	// pointing at another host, a loop, or more pages than the client allows.
	ErrPagination = errors.New("zuora: pagination not followed")
	// ErrInvalidConfig means the Config given to New is not usable.
	ErrInvalidConfig = errors.New("zuora: invalid config")
)

// APIError is a request that failed for good: an HTTP status Zuora answered
// (after retries where they apply) or a transport failure on the last attempt.
// It never holds the client secret or the access token.
type APIError struct {
	// Op names the request: "token" or "list workflows page N".
	Op string
	// Status is the HTTP status of the last answer; 0 for a transport failure.
	Status int
	// Code and Message are what Zuora's error body said, when it said anything.
	Code    string
	Message string
	// TrackID is the Zuora-Track-Id sent with the last attempt.
	TrackID string
	// Attempts is how many times the request was sent.
	Attempts int
	// RetryAfter is what the last 429 asked for, zero otherwise.
	RetryAfter time.Duration
	// Err is the sentinel this error unwraps to.
	Err error
	// Cause is the transport error of the last attempt, if any.
	Cause error
}

// Error describes the failure on one line.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": http %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Cause != nil {
		fmt.Fprintf(&b, ": %v", e.Cause)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.TrackID != "" {
		fmt.Fprintf(&b, " [track id %s]", e.TrackID)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Unwrap returns the sentinel and, for a transport failure, its cause.
func (e *APIError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// statusSentinel maps a final HTTP status to its sentinel.
func statusSentinel(status int) error {
	switch {
	case status == 401:
		return ErrUnauthorized
	case status == 403:
		return ErrForbidden
	case status == 404:
		return ErrNotFound
	case status == 429:
		return ErrRateLimited
	case status >= 500:
		return ErrUnavailable
	default:
		return ErrBadRequest
	}
}

// retryableStatus reports whether an answer with this status may be sent again.
func retryableStatus(status int) bool {
	return status == 429 || status >= 500
}
