package zuora_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/zuora"
)

// TestShortSecretNeitherGarblesNorRevealsErrors: the secret is never put
// into an error, so nothing has to be cut out of the text a server sends.
// With a one-character secret, the token endpoint's refusal keeps its OAuth
// code whole and none of its free text (which could echo what was sent),
// and a page's error message from the server is not garbled.
func TestShortSecretNeitherGarblesNorRevealsErrors(t *testing.T) {
	t.Run("token endpoint refuses", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) { onePage(w, 1) })
		f.tokenStatus, f.tokenBody = 401, `{"error":"invalid_client","error_description":"client secret e is wrong, we got e"}`
		c := newTestClient(t, f.srv.URL, func(cfg *zuora.Config) { cfg.ClientSecret = "e" })
		_, _, err := c.collect(context.Background())
		require.ErrorIs(t, err, zuora.ErrUnauthorized)
		require.Contains(t, err.Error(), "invalid_client")
		require.NotContains(t, err.Error(), "[redacted]")
		require.NotContains(t, err.Error(), "secret e", "the endpoint's echo of what was sent")
		require.NotContains(t, c.logs.String(), "secret e")
	})
	t.Run("page fails", func(t *testing.T) {
		f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"message":"Service temporarily unavailable, please retry later"}`)
		})
		f.tokenStatus, f.tokenBody = 200, `{"access_token":"an-access-token-of-some-length","token_type":"bearer","expires_in":3599}`
		c := newTestClient(t, f.srv.URL, func(cfg *zuora.Config) { cfg.ClientSecret = "e"; cfg.Retry.Attempts = 1 })
		_, _, err := c.collect(context.Background())
		require.ErrorIs(t, err, zuora.ErrUnavailable)
		require.Contains(t, err.Error(), "Service temporarily unavailable, please retry later")
		require.NotContains(t, err.Error(), "[redacted]")
	})
}
