package eventstore

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

func TestClassifyNamesWhatWentWrong(t *testing.T) {
	tests := []struct {
		err  error
		want error
		text string
	}{
		{fmt.Errorf("request: %w", nats.ErrReconnectBufExceeded), ErrUnavailable, "ensure stream ORDERS: eventstore: log unavailable: not connected to NATS"},
		{nats.ErrNoServers, ErrUnavailable, "ensure stream ORDERS: eventstore: log unavailable: nats: no servers available for connection"},
		{nats.ErrMaxPayload, ErrTooLarge, "ensure stream ORDERS: eventstore: event too large: nats: maximum payload exceeded"},
		{&jetstream.APIError{Code: 503, ErrorCode: 10023, Description: "insufficient resources"}, ErrStorageFull,
			"ensure stream ORDERS: eventstore: log storage full: nats: API error: code=503 err_code=10023 description=insufficient resources"},
		{&jetstream.APIError{Code: 500, ErrorCode: 10047, Description: "insufficient storage resources available"}, ErrStorageFull,
			"ensure stream ORDERS: eventstore: log storage full: nats: API error: code=500 err_code=10047 description=insufficient storage resources available"},
		{&jetstream.APIError{Code: 400, ErrorCode: 10002, Description: "resource limits exceeded for account"}, ErrStorageFull,
			"ensure stream ORDERS: eventstore: log storage full: nats: API error: code=400 err_code=10002 description=resource limits exceeded for account"},
		{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "write x.blk: no space left on device"}, ErrStorageFull,
			"ensure stream ORDERS: eventstore: log storage full: nats: API error: code=503 err_code=10077 description=write x.blk: no space left on device"},
		{&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "store closed"}, ErrUnavailable,
			"ensure stream ORDERS: eventstore: log unavailable: nats: API error: code=503 err_code=10077 description=store closed"},
	}
	for _, tt := range tests {
		err := classify("ensure stream ORDERS", tt.err)
		require.ErrorIs(t, err, tt.want)
		require.EqualError(t, err, tt.text)
	}
}
