package zuora

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// tokenCache holds the client's access token and refreshes it
// TokenRefreshMargin before it runs out (half its lifetime for tokens shorter
// than twice the margin). Concurrent callers share one refresh.
type tokenCache struct {
	client *Client
	group  singleflight.Group

	mu        sync.Mutex
	value     string
	refreshAt time.Time
}

// tokenAnswer is the OAuth token endpoint's answer.
type tokenAnswer struct {
	AccessToken string      `json:"access_token"`
	TokenType   string      `json:"token_type"`
	ExpiresIn   json.Number `json:"expires_in"`
}

// get returns a valid token, fetching one when none is cached or it is due.
func (t *tokenCache) get(ctx context.Context) (string, error) {
	now := t.client.cfg.Now()
	t.mu.Lock()
	if t.value != "" && now.Before(t.refreshAt) {
		v := t.value
		t.mu.Unlock()
		return v, nil
	}
	t.mu.Unlock()
	// The refresh is shared by every waiting caller, so one caller giving
	// up must not cancel it for the others: it runs without ctx's
	// cancellation, still bounded by the retry policy and request timeout.
	ch := t.group.DoChan("token", func() (any, error) {
		return t.refresh(context.WithoutCancel(ctx))
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("wait for access token: %w", context.Cause(ctx))
	}
}

// refresh fetches a new token and caches it.
func (t *tokenCache) refresh(ctx context.Context) (string, error) {
	c := t.client
	u := c.base.JoinPath("oauth", "token")
	body, err := c.do(ctx, request{
		op:     "token",
		method: http.MethodPost,
		url:    u,
		form: url.Values{
			"client_id":     {c.cfg.ClientID},
			"client_secret": {c.cfg.ClientSecret},
			"grant_type":    {"client_credentials"},
		},
		limit: maxErrorBody,
	})
	if err != nil {
		return "", err
	}
	var ans tokenAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		// A decoding error names a type or one character, never the body.
		return "", fmt.Errorf("token: %w: decode answer: %v", ErrBadResponse, err)
	}
	secs, err := ans.ExpiresIn.Float64()
	switch {
	case ans.AccessToken == "":
		return "", fmt.Errorf("token: %w: no access_token", ErrBadResponse)
	case ans.TokenType != "" && !strings.EqualFold(ans.TokenType, "bearer"):
		return "", fmt.Errorf("token: %w: token_type %q, want bearer", ErrBadResponse, cut(ans.TokenType))
	case err != nil || secs <= 0:
		return "", fmt.Errorf("token: %w: expires_in %q, want a positive number", ErrBadResponse, cut(ans.ExpiresIn.String()))
	}
	ttl := time.Duration(secs * float64(time.Second))
	margin := min(TokenRefreshMargin, ttl/2)
	t.mu.Lock()
	t.value, t.refreshAt = ans.AccessToken, c.cfg.Now().Add(ttl-margin)
	t.mu.Unlock()
	return ans.AccessToken, nil
}

// drop forgets the token if it is still the one a refused request used, so
// that a token another caller has just refreshed survives.
func (t *tokenCache) drop(used string) {
	t.mu.Lock()
	if t.value == used {
		t.value = ""
	}
	t.mu.Unlock()
}
