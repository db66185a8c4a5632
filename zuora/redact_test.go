package zuora_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// TestTokenExchangeNeverRepeatsTheSecret: the client credentials exchange
// (golang.org/x/oauth2) sends the secret in the form body only, and a 2xx
// answer that is not a token (an OAuth error that echoes what was sent, a
// form-encoded body) fails with a bad response that holds none of it.
func TestTokenExchangeNeverRepeatsTheSecret(t *testing.T) {
	t.Run("secret in the body only", func(t *testing.T) {
		var auth, query string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oauth/token" {
				auth, query = r.Header.Get("Authorization"), r.URL.RawQuery
				require.Equal(t, testSecret, r.PostFormValue("client_secret"))
				fmt.Fprint(w, `{"access_token":"an-access-token-of-some-length","token_type":"bearer","expires_in":3599}`)
				return
			}
			onePage(w, 1)
		}))
		t.Cleanup(srv.Close)
		c := newTestClient(t, srv.URL, nil)
		_, _, err := c.collect(context.Background())
		require.NoError(t, err)
		require.Empty(t, auth, "no basic auth header")
		require.NotContains(t, query, testSecret)
	})
	for _, tt := range []struct{ name, body, want string }{
		{"2xx oauth error echoes the secret", `{"error":"invalid_client","error_description":"secret ` + testSecret + ` is wrong"}`, "invalid_client"},
		{"2xx form body with the secret", `access_token=x&token_type=bearer&expires_in=60&echo=` + testSecret, "decode answer"},
		{"2xx without expires_in", `{"access_token":"x","token_type":"bearer","echo":"` + testSecret + `"}`, "expires_in"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeZuora(t, func(w http.ResponseWriter, _ *http.Request, _ int64) { onePage(w, 1) })
			f.tokenStatus, f.tokenBody = 200, tt.body
			c := newTestClient(t, f.srv.URL, nil)
			_, _, err := c.collect(context.Background())
			require.ErrorIs(t, err, zuora.ErrBadResponse)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, fmt.Sprintf("%+v", err), testSecret)
			require.NotContains(t, c.logs.String(), testSecret)
			require.Equal(t, int64(1), f.tokenCalls.Load(), "a bad answer is not retried")
		})
	}
}
