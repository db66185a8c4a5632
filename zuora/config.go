package zuora

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Defaults and limits of Config.
const (
	// MaxPageLength is the largest page Zuora's Workflow API serves.
	MaxPageLength = 50
	// DefaultRequestTimeout bounds one HTTP attempt, body included.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMaxPages bounds one listing (500,000 workflows at 50 a page).
	DefaultMaxPages = 10_000
	// DefaultMaxBodyBytes bounds one response body.
	DefaultMaxBodyBytes = 8 << 20
	// TokenRefreshMargin is how long before its expiry a token is replaced
	// (half its lifetime for a token that lives less than twice as long).
	TokenRefreshMargin = 5 * time.Minute
)

// RetryPolicy bounds how a failed request is sent again: 429 waits what
// Retry-After asks (at most MaxRetryAfter), 5xx and transport failures back
// off exponentially from FirstDelay to MaxDelay with jitter.
type RetryPolicy struct {
	// Attempts per request, the first included (default 5).
	Attempts int
	// FirstDelay is the backoff before the second attempt (default 500ms).
	FirstDelay time.Duration
	// MaxDelay caps one backoff (default 30s).
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits; a longer one
	// fails the request at once with ErrRateLimited and the asked delay in
	// APIError.RetryAfter (default 2m).
	MaxRetryAfter time.Duration
}

// backOff returns the delays between attempts of one request: the n-th
// is random between half and all of FirstDelay·2^(n-1), that bound capped
// at MaxDelay. (ExponentialBackOff draws within ±RandomizationFactor of
// its interval: an interval of 3/4 of the bound, ±1/3, is half to all.)
func (p RetryPolicy) backOff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{InitialInterval: p.FirstDelay * 3 / 4, RandomizationFactor: 1.0 / 3,
		Multiplier: 2, MaxInterval: p.MaxDelay * 3 / 4}
	b.Reset()
	return b
}

// Config configures a Client. Zero fields take their defaults.
type Config struct {
	// BaseURL is the tenant's API root, e.g. https://rest.zuora.com; the
	// client calls {BaseURL}/oauth/token and {BaseURL}/workflows.
	BaseURL string
	// ClientID and ClientSecret are the OAuth client credentials.
	ClientID     string
	ClientSecret string
	// PageLength is the page_length asked for, 1..50 (default 50).
	PageLength int
	// HTTPClient sends the requests (default: a client of its own with
	// http.DefaultTransport's settings). Its Timeout is left alone;
	// RequestTimeout bounds each attempt.
	HTTPClient *http.Client
	// RequestTimeout bounds one attempt, response body included (default 30s).
	RequestTimeout time.Duration
	// Retry is the retry policy.
	Retry RetryPolicy
	// MaxPages bounds one listing (default 10,000).
	MaxPages int
	// MaxBodyBytes bounds one response body (default 8 MiB).
	MaxBodyBytes int64
	// Logger receives one line per failed attempt (default: discard).
	Logger *slog.Logger
	// Now is the clock used for token expiry and HTTP-date Retry-After (default time.Now).
	Now func() time.Time
	// Sleep waits between attempts (default: a timer that stops with ctx).
	// Tests inject one to observe the delays without waiting them.
	Sleep func(ctx context.Context, d time.Duration) error
}

// withDefaults returns the config with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.PageLength == 0 {
		c.PageLength = MaxPageLength
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Retry.Attempts == 0 {
		c.Retry.Attempts = 5
	}
	if c.Retry.FirstDelay == 0 {
		c.Retry.FirstDelay = 500 * time.Millisecond
	}
	if c.Retry.MaxDelay == 0 {
		c.Retry.MaxDelay = 30 * time.Second
	}
	if c.Retry.MaxRetryAfter == 0 {
		c.Retry.MaxRetryAfter = 2 * time.Minute
	}
	if c.MaxPages == 0 {
		c.MaxPages = DefaultMaxPages
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	return c
}

// Validate reports every problem of the config (after defaults) at once.
// It never repeats the client secret.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("base url %q: want an absolute http or https url", c.BaseURL))
	} else if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		errs = append(errs, fmt.Errorf("base url %q: no query, fragment or user info allowed", u.Redacted()))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client id is empty"))
	}
	if c.ClientSecret == "" {
		errs = append(errs, errors.New("client secret is empty"))
	}
	if c.PageLength < 1 || c.PageLength > MaxPageLength {
		errs = append(errs, fmt.Errorf("page length %d: want 1..%d", c.PageLength, MaxPageLength))
	}
	if c.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("request timeout %s is negative", c.RequestTimeout))
	}
	if c.Retry.Attempts < 1 {
		errs = append(errs, fmt.Errorf("retry attempts %d: want at least 1", c.Retry.Attempts))
	}
	if c.Retry.FirstDelay < 0 || c.Retry.MaxDelay < c.Retry.FirstDelay {
		errs = append(errs, fmt.Errorf("retry delays %s..%s: want 0 <= first <= max", c.Retry.FirstDelay, c.Retry.MaxDelay))
	}
	if c.Retry.MaxRetryAfter < 0 {
		errs = append(errs, fmt.Errorf("max retry-after %s is negative", c.Retry.MaxRetryAfter))
	}
	if c.MaxPages < 1 {
		errs = append(errs, fmt.Errorf("max pages %d: want at least 1", c.MaxPages))
	}
	if c.MaxBodyBytes < 1 {
		errs = append(errs, fmt.Errorf("max body bytes %d: want at least 1", c.MaxBodyBytes))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
