package eventstore

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

func TestClassifyNamesWhatWentWrong(t *testing.T) {
	tests := []struct {
		err  error
		want error
		text string
	}{
		{fmt.Errorf("request: %w", nats.ErrReconnectBufExceeded), ErrUnavailable, "ensure stream LOGS: eventstore: log unavailable: not connected to NATS"},
		{nats.ErrNoServers, ErrUnavailable, "ensure stream LOGS: eventstore: log unavailable: nats: no servers available for connection"},
		{nats.ErrMaxPayload, ErrTooLarge, "ensure stream LOGS: eventstore: event too large: nats: maximum payload exceeded"},
	}
	for _, tt := range tests {
		err := classify("ensure stream LOGS", tt.err)
		require.ErrorIs(t, err, tt.want)
		require.EqualError(t, err, tt.text)
	}
}
