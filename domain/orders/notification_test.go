package orders_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
)

func TestSend(t *testing.T) {
	tests := []struct {
		email   string
		event   string
		failure saga.Failure
	}{
		{"ada@example.com", orders.NotificationSentV1, ""},
		{"bo@bounce.test", orders.NotificationBouncedV1, saga.Permanent},
		{"Bo@BOUNCE.TEST", orders.NotificationBouncedV1, saga.Permanent},
		{"bo@notbounce.test.example.com", orders.NotificationSentV1, ""},
		{"not an address", orders.NotificationBouncedV1, saga.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			send := orders.Send{OrderID: "o1", Key: "s1:send_notification", Email: tt.email, Now: t0}
			s, res := run[orders.Notifications](t, send, send, send)
			require.Equal(t, []string{tt.event}, types(res[0].events))
			for _, r := range res {
				require.Equal(t, tt.failure, r.outcome.Failure)
				require.Equal(t, res[0].outcome, r.outcome, "every attempt answers the same")
			}
			for _, r := range res[1:] {
				require.Empty(t, r.events, "sent once per key")
			}
			if tt.failure == "" {
				require.Equal(t, 1, s.Sent)
				require.Equal(t, orders.NotificationOutput{Key: send.Key, Email: tt.email, Status: "sent"},
					output[orders.NotificationOutput](t, res[0].outcome))
			} else {
				require.Zero(t, s.Sent)
			}
		})
	}
	s, _ := run[orders.Notifications](t, orders.Send{OrderID: "o1", Key: "a", Email: "ada@example.com"},
		orders.Send{OrderID: "o1", Key: "b", Email: "ada@example.com"})
	require.Equal(t, 2, s.Sent, "one per key")
	_, res := run[orders.Notifications](t, orders.Reserve{})
	require.ErrorIs(t, res[0].err, orders.ErrUnknownCommand)
	require.Equal(t, saga.Permanent, s.Answer(orders.Reserve{}).Failure)
	require.Equal(t, saga.Transient, s.Answer(orders.Send{Key: "never"}).Failure)
}
