package zuora

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/singleflight"
)

// tokenCache holds the client's access token, fetched with the OAuth client
// credentials grant (golang.org/x/oauth2/clientcredentials), and refreshes
// it TokenRefreshMargin before it runs out (half its lifetime for tokens
// shorter than twice the margin). Concurrent callers share one refresh.
//
// The exchange (its request, the parsing of its answer) is the library's;
// the cache is not oauth2.ReuseTokenSource because expiry follows
// Config.Now and the margin depends on the token's lifetime. Each attempt
// goes through the client's retry policy, request timeout and body limit.
type tokenCache struct {
	client *Client
	oauth  clientcredentials.Config
	group  singleflight.Group

	mu        sync.Mutex
	value     string
	refreshAt time.Time
}

// init sets the exchange up for c's credentials. The secret goes in the
// form body, as Zuora takes it: never in a URL, a header or an error.
func (t *tokenCache) init(c *Client) {
	t.client = c
	t.oauth = clientcredentials.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret,
		AuthStyle: oauth2.AuthStyleInParams}
	if c.base != nil {
		t.oauth.TokenURL = c.tokenURL().String()
	}
}

// tokenURL is the tenant's OAuth token endpoint.
func (c *Client) tokenURL() *url.URL { return c.base.JoinPath("oauth", "token") }

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
	var tok *oauth2.Token
	var bad error
	_, err := c.do(ctx, request{op: "token", method: http.MethodPost, url: c.tokenURL(), limit: maxErrorBody,
		send: func(ctx context.Context, _, trackID string) (answer, error) {
			var ans answer
			var err error
			tok, bad, ans, err = t.exchange(ctx, trackID)
			return ans, err
		}})
	if err != nil {
		return "", err
	}
	if bad != nil {
		return "", bad
	}
	ttl, err := tokenLifetime(tok)
	if err != nil {
		return "", err
	}
	margin := min(TokenRefreshMargin, ttl/2)
	t.mu.Lock()
	t.value, t.refreshAt = tok.AccessToken, c.cfg.Now().Add(ttl-margin)
	t.mu.Unlock()
	return tok.AccessToken, nil
}

// exchange makes one client credentials request. ans is what the endpoint
// answered (a non-2xx one is for the retry policy to judge); err a
// transport failure; bad a 2xx answer without a usable token, described
// without any of the endpoint's free text (it may echo what it was sent).
func (t *tokenCache) exchange(ctx context.Context, trackID string) (tok *oauth2.Token, bad error, ans answer, err error) {
	rt := &tokenTransport{client: t.client.cfg.HTTPClient, trackID: trackID, limit: maxErrorBody}
	tok, oerr := t.oauth.Token(context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: rt}))
	switch {
	case rt.err != nil:
		return nil, nil, rt.ans, rt.err
	case rt.ans.status == 0:
		return nil, nil, answer{}, fmt.Errorf("token request: %w", oerr) // never sent
	case rt.ans.status < 200 || rt.ans.status > 299:
		return nil, nil, rt.ans, nil
	}
	var rerr *oauth2.RetrieveError
	switch {
	case errors.As(oerr, &rerr):
		// A 2xx answer with an OAuth "error": keep its standard code only.
		return nil, fmt.Errorf("token: %w: no access_token (error %q)", ErrBadResponse, oauthErrorCode(rerr.ErrorCode)), rt.ans, nil
	case oerr != nil && strings.Contains(oerr.Error(), "missing access_token"):
		return nil, fmt.Errorf("token: %w: no access_token", ErrBadResponse), rt.ans, nil
	case oerr != nil:
		// A decoding error names a type or one character, never the body.
		return nil, fmt.Errorf("token: %w: decode answer: %v", ErrBadResponse, oerr), rt.ans, nil
	case tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer"):
		return nil, fmt.Errorf("token: %w: token_type %q, want bearer", ErrBadResponse, cut(tok.TokenType)), rt.ans, nil
	}
	return tok, nil, rt.ans, nil
}

// tokenLifetime is how long tok lives after it was answered: its
// expires_in, which must be a positive number of seconds.
func tokenLifetime(tok *oauth2.Token) (time.Duration, error) {
	var secs float64
	var err error
	raw := tok.Extra("expires_in")
	switch v := raw.(type) {
	case float64:
		secs = v
	case string:
		secs, err = strconv.ParseFloat(v, 64)
	default:
		err = errors.New("not a number")
	}
	if err != nil || secs <= 0 {
		return 0, fmt.Errorf("token: %w: expires_in %q, want a positive number", ErrBadResponse, cut(fmt.Sprint(raw)))
	}
	return time.Duration(secs * float64(time.Second)), nil
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

// tokenTransport sends the token request with the client's headers
// through Config.HTTPClient, and records the answer under the client's
// body limit for the retry policy. oauth2 then parses that answer as
// JSON, as Zuora sends it whatever its Content-Type says.
type tokenTransport struct {
	client  *http.Client
	trackID string
	limit   int64
	ans     answer
	err     error
}

// RoundTrip sends req once.
func (rt *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	setHeaders(req.Header, rt.trackID)
	resp, err := rt.client.Do(req)
	if err != nil {
		rt.err = err
		return nil, err
	}
	rt.ans, rt.err = readAnswer(resp, rt.limit)
	if rt.err != nil {
		return nil, rt.err
	}
	resp.Header = resp.Header.Clone()
	resp.Header.Set("Content-Type", "application/json")
	resp.Body = io.NopCloser(bytes.NewReader(rt.ans.body))
	return resp, nil
}
