package zuora_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/zuora"
)

// The token exchange runs under the client's bounds: the body limit of a
// token answer and the request timeout of each attempt.
func TestTokenRequestKeepsTheClientsBounds(t *testing.T) {
	t.Run("body over the limit", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) { onePage(w, 1) })
		f.tokenStatus, f.tokenBody = 200, `{"access_token":"`+strings.Repeat("x", 100<<10)+`","token_type":"bearer","expires_in":60}`
		c := newTestClient(t, f.srv.URL, nil)
		_, _, err := c.collect(context.Background())
		require.ErrorIs(t, err, zuora.ErrBadResponse)
		require.Contains(t, err.Error(), "token")
		require.Contains(t, err.Error(), "body over")
		require.Equal(t, int64(1), f.tokenCalls.Load())
	})
	t.Run("request timeout", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) { onePage(w, 1) })
		f.tokenGate = make(chan struct{})
		t.Cleanup(func() { close(f.tokenGate) })
		c := newTestClient(t, f.srv.URL, func(cfg *zuora.Config) {
			cfg.RequestTimeout, cfg.Retry.Attempts = 50*time.Millisecond, 2
		})
		began := time.Now()
		_, _, err := c.collect(context.Background())
		require.ErrorIs(t, err, zuora.ErrUnavailable)
		require.Contains(t, err.Error(), "deadline exceeded")
		require.Less(t, time.Since(began), 5*time.Second)
		require.Len(t, c.sleeps.Delays(), 1)
	})
}
