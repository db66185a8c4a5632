package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrConflict reports that an append's expected sequence did not match the
// aggregate's last sequence: another writer got there first. Callers reload
// the aggregate and decide again.
var ErrConflict = errors.New("eventstore: concurrent append conflict")

// ErrUnavailable reports that JetStream could not be reached or did not
// confirm the write in time; nothing may be assumed stored.
var ErrUnavailable = errors.New("eventstore: log unavailable")

// ErrTooLarge reports that an event exceeds the server's maximum message size.
var ErrTooLarge = errors.New("eventstore: event too large")

// ErrNotFound reports that a requested message does not exist.
var ErrNotFound = errors.New("eventstore: not found")

// ErrStorageFull reports that the log cannot store more until space is
// freed; nothing was stored.
var ErrStorageFull = errors.New("eventstore: log storage full")

// JetStream API error codes that mean the server has no room for the write:
// the account's or the server's storage limit is reached, or the store's
// disk is full.
const (
	codeAccountResourcesExceeded = 10002
	codeInsufficientResources    = 10023
	codeStorageResourcesExceeded = 10047
	codeStreamStoreFailed        = 10077
)

// isStorageFull recognises a JetStream refusal for lack of space.
func isStorageFull(apiErr *jetstream.APIError) bool {
	switch apiErr.ErrorCode {
	case codeAccountResourcesExceeded, codeInsufficientResources, codeStorageResourcesExceeded:
		return true
	case codeStreamStoreFailed:
		d := strings.ToLower(apiErr.Description)
		return strings.Contains(d, "no space left") || strings.Contains(d, "maximum bytes exceeded")
	}
	return false
}

// classify maps a nats/jetstream error onto the package's sentinel errors,
// keeping the original for context.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return fmt.Errorf("%s: %w: %v", op, ErrConflict, err)
		case jetstream.JSErrCodeStreamMessageExceedsMaximum:
			return fmt.Errorf("%s: %w: %v", op, ErrTooLarge, err)
		case jetstream.JSErrCodeMessageNotFound:
			return fmt.Errorf("%s: %w", op, ErrNotFound)
		}
		if isStorageFull(apiErr) {
			return fmt.Errorf("%s: %w: %v", op, ErrStorageFull, err)
		}
		if apiErr.Code == 503 {
			return fmt.Errorf("%s: %w: %v", op, ErrUnavailable, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	switch {
	case errors.Is(err, nats.ErrReconnectBufExceeded):
		// A request made while the client waits to (re)connect.
		return fmt.Errorf("%s: %w: not connected to NATS", op, ErrUnavailable)
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("%s: %w: %v", op, ErrTooLarge, err)
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, jetstream.ErrAsyncPublishTimeout), errors.Is(err, jetstream.ErrTooManyStalledMsgs),
		errors.Is(err, nats.ErrNoServers):
		return fmt.Errorf("%s: %w: %v", op, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// JetStream API error codes of a cluster that cannot serve a request yet:
// too few servers up to place the replicas, no meta leader, a stream's
// group without a leader, JetStream not enabled yet on a starting server.
const (
	codeClusterNoPeers    = 10005
	codeClusterNotAvail   = 10008
	codeClusterNotLeader  = 10009
	codeStreamOffline     = 10118
	codeNotEnabled        = 10076
	codeNotEnabledAccount = 10039
)

// NotReady reports whether err says that JetStream cannot serve yet and may
// soon: the server is not reached, a request found no responder or no
// answer in time, a meta or stream leader is being elected, or too few
// servers are up to place a stream's replicas. Start-up waits on these
// instead of exiting.
func NotReady(err error) bool {
	if err == nil {
		return false
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case codeClusterNoPeers, codeClusterNotAvail, codeClusterNotLeader, codeStreamOffline,
			codeNotEnabled, codeNotEnabledAccount:
			return true
		}
		return apiErr.Code == 503 && !isStorageFull(apiErr)
	}
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoServers) ||
		errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount)
}
