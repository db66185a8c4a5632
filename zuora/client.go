package zuora

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// errBodyTooLarge marks a successful answer whose body passed the limit.
var errBodyTooLarge = errors.New("response body over the size limit")

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// Client talks to one Zuora tenant with one set of client credentials. It
// caches that tenant's access token, so use one Client per customer. It is
// safe for concurrent use.
type Client struct {
	cfg    Config
	err    error
	base   *url.URL
	tokens tokenCache
}

// New returns a client for cfg, with defaults filled in. A config that does
// not validate makes every call return its ErrInvalidConfig error.
func New(cfg Config) *Client {
	cfg = cfg.withDefaults()
	c := &Client{cfg: cfg, err: cfg.Validate()}
	if c.err == nil {
		c.base, _ = url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	}
	c.tokens.init(c)
	return c
}

// request is one logical call, sent again according to the retry policy.
type request struct {
	op     string
	method string
	url    *url.URL
	auth   bool  // send the access token, refresh it once on a 401
	limit  int64 // body limit of a successful answer
	// send, when set, makes one attempt instead of c.send (the token
	// exchange); ctx carries the request timeout.
	send func(ctx context.Context, token, trackID string) (answer, error)
}

// answer is what one attempt got back.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends req until it succeeds, fails for good or the retries are spent,
// and returns the successful body.
func (c *Client) do(ctx context.Context, req request) ([]byte, error) {
	send := req.send
	if send == nil {
		send = func(ctx context.Context, token, trackID string) (answer, error) {
			return c.send(ctx, req, token, trackID)
		}
	}
	delays := c.cfg.Retry.backOff()
	refreshed := false
	sent := 0
	for try := 1; ; try++ {
		var token string
		if req.auth {
			var err error
			if token, err = c.tokens.get(ctx); err != nil {
				return nil, fmt.Errorf("%s: %w", req.op, err)
			}
		}
		trackID := uuid.NewString()
		sent++
		actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		ans, err := send(actx, token, trackID)
		cancel()
		if err == nil && ans.status >= 200 && ans.status < 300 {
			return ans.body, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", req.op, context.Cause(ctx))
		}
		fail := &APIError{Op: req.op, TrackID: trackID, Attempts: sent}
		retryable := false
		switch {
		case errors.Is(err, errBodyTooLarge):
			fail.Status, fail.Err = ans.status, ErrBadResponse
			fail.Message = fmt.Sprintf("body over %d bytes", req.limit)
		case err != nil:
			// A transport error names the URL, which holds neither the
			// secret (sent in the token request's body only) nor the token
			// (a header): nothing to cut out.
			fail.Err, fail.Cause, retryable = ErrUnavailable, err, true
		default:
			fail.Status, fail.Err, retryable = ans.status, statusSentinel(ans.status), retryableStatus(ans.status)
			fail.Code, fail.Message = errorBody(ans.body)
			if !req.auth {
				// The token endpoint got the secret: none of its free text
				// goes into an error (it may echo what it was sent), only
				// a standard OAuth error code.
				fail.Code, fail.Message = oauthErrorCode(fail.Code), ""
			} else {
				// A page request never carries the secret; a server that
				// quotes the token (or, knowing it, the secret) still gets
				// them cut out.
				fail.Code = c.scrub(fail.Code, token)
				fail.Message = c.scrub(fail.Message, token)
			}
			if !req.auth && ans.status >= 400 && ans.status < 500 && ans.status != 429 {
				fail.Err = ErrUnauthorized // the token endpoint refused the credentials
			}
		}
		if fail.Status == http.StatusUnauthorized && req.auth && !refreshed {
			// The token may have expired or been revoked early: refresh once.
			refreshed = true
			c.tokens.drop(token)
			c.logFailure(req, fail, "refreshing the token and retrying once", 0)
			try--
			continue
		}
		if !retryable || try >= c.cfg.Retry.Attempts {
			c.logFailure(req, fail, "giving up", 0)
			return nil, fail
		}
		delay := delays.NextBackOff()
		if fail.Status == http.StatusTooManyRequests {
			if ra, ok := parseRetryAfter(ans.header.Get("Retry-After"), c.cfg.Now()); ok {
				fail.RetryAfter = ra
				if ra > c.cfg.Retry.MaxRetryAfter {
					c.logFailure(req, fail, "retry-after over the limit, giving up", 0)
					return nil, fail
				}
				delay = ra
			}
		}
		c.logFailure(req, fail, "retrying", delay)
		if err := c.cfg.Sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("%s: waiting to retry: %w (last failure: %w)", req.op, err, fail)
		}
	}
}

// send makes one attempt of req: a request with the client's headers and,
// when auth, the access token; its answer read under the body limit.
func (c *Client) send(ctx context.Context, req request, token, trackID string) (answer, error) {
	hreq, err := http.NewRequestWithContext(ctx, req.method, req.url.String(), nil)
	if err != nil {
		return answer{}, fmt.Errorf("build request: %w", err)
	}
	setHeaders(hreq.Header, trackID)
	if token != "" {
		hreq.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.cfg.HTTPClient.Do(hreq)
	if err != nil {
		return answer{}, err
	}
	return readAnswer(resp, req.limit)
}

// setHeaders sets the headers every request carries.
func setHeaders(h http.Header, trackID string) {
	h.Set("Accept", "application/json")
	h.Set("User-Agent", "eventline-zuora/1")
	h.Set("Zuora-Track-Id", trackID)
}

// readAnswer reads and closes resp's body: at most limit bytes of a
// successful answer (errBodyTooLarge past it), the first maxErrorBody of
// another.
func readAnswer(resp *http.Response, limit int64) (answer, error) {
	defer resp.Body.Close()
	ans := answer{status: resp.StatusCode, header: resp.Header}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if !ok {
		limit = maxErrorBody
	}
	var err error
	ans.body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return ans, fmt.Errorf("read body: %w", err)
	}
	if int64(len(ans.body)) > limit {
		if ok {
			return ans, errBodyTooLarge
		}
		ans.body = ans.body[:limit]
	}
	return ans, nil
}

// logFailure logs one failed attempt; the error never holds a secret.
func (c *Client) logFailure(req request, fail *APIError, what string, delay time.Duration) {
	attrs := []any{
		"op", req.op, "path", req.url.RequestURI(), "status", fail.Status, "track_id", fail.TrackID,
		"attempt", fail.Attempts, "error", fail.Error(),
	}
	if delay > 0 {
		attrs = append(attrs, "retry_in", delay)
	}
	c.cfg.Logger.Warn("zuora request failed, "+what, attrs...)
}

// errorBody extracts a code and message from the error shapes Zuora and the
// stand-in use; the message is cut to a sane length.
func errorBody(body []byte) (code, message string) {
	var shapes struct {
		Error   json.RawMessage `json:"error"`
		Desc    string          `json:"error_description"`
		Message string          `json:"message"`
		Reasons []struct {
			Code    json.RawMessage `json:"code"`
			Message string          `json:"message"`
		} `json:"reasons"`
		Errors []struct {
			Code    json.RawMessage `json:"code"`
			Title   string          `json:"title"`
			Message string          `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &shapes) != nil {
		return "", cut(string(bytes.TrimSpace(body)))
	}
	var nested struct{ Code, Message string }
	var flat string
	switch {
	case json.Unmarshal(shapes.Error, &nested) == nil && (nested.Code != "" || nested.Message != ""):
		code, message = nested.Code, nested.Message
	case json.Unmarshal(shapes.Error, &flat) == nil && flat != "":
		code, message = flat, shapes.Desc
	case len(shapes.Reasons) > 0:
		code, message = rawCode(shapes.Reasons[0].Code), shapes.Reasons[0].Message
	case len(shapes.Errors) > 0:
		code, message = rawCode(shapes.Errors[0].Code), shapes.Errors[0].Title+shapes.Errors[0].Message
	default:
		message = shapes.Message
	}
	return cut(code), cut(message)
}

// rawCode renders a JSON code (a string or a number) as text.
func rawCode(raw json.RawMessage) string {
	if string(raw) == "null" {
		return ""
	}
	return strings.Trim(string(raw), `"`)
}

// cut keeps a server-provided string to one short line.
func cut(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// MinClientSecretLen is the shortest client secret the API accepts: one
// that short could not be told from ordinary text in a server's message.
const MinClientSecretLen = 8

// scrub cuts the access token, and the client secret when it is at least
// MinClientSecretLen long (shorter ones, stored before that rule, would
// garble the text and reveal themselves), out of text a server sent.
func (c *Client) scrub(s, token string) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, "[redacted]")
	}
	if len(c.cfg.ClientSecret) >= MinClientSecretLen {
		s = strings.ReplaceAll(s, c.cfg.ClientSecret, "[redacted]")
	}
	return s
}

// oauthErrorCode keeps an OAuth 2.0 error code (RFC 6749 section 5.2) and
// drops anything else a token endpoint put in its "error".
func oauthErrorCode(code string) string {
	switch code {
	case "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_scope":
		return code
	}
	return ""
}
