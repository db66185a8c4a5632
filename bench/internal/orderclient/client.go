package orderclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/eventline/eventline/bench/internal/benchserve"
)

// RequestTimeout bounds each request; a saga wait asks for 10 s.
const RequestTimeout = 30 * time.Second

// HugeStock is every product's stock: no order of a benchmark runs out of
// it.
const HugeStock = int64(1_000_000_000_000) // the API's bound

// Terminal are the saga statuses GET /api/sagas/{id}?wait= stops at.
var Terminal = map[string]bool{"completed": true, "compensated": true, "needs_attention": true, "failed": true}

// ErrEmptyAnswer is an answer of the expected status without a body.
var ErrEmptyAnswer = errors.New("empty answer")

// ErrTimeoutAnswer is a 503 answer of code "timeout".
var ErrTimeoutAnswer = errors.New("503 timeout")

// Client is a keep-alive client of the orders (and logs) APIs of serve
// processes: every method takes the base URL of the process to ask.
type Client struct {
	// HTTP is the client every request goes through.
	HTTP *http.Client
	// RetryPause is how long AwaitSaga waits before asking again after a
	// wait the server cut short.
	RetryPause time.Duration
	// EmptyWaits counts waits answered 200 with an empty body,
	// TimeoutWaits those answered 503 "timeout": the server cut the wait
	// short without the saga's state, and the saga was awaited again.
	EmptyWaits, TimeoutWaits atomic.Int64
}

// New is a Client for conns concurrent requests.
func New(conns int) *Client {
	return &Client{HTTP: benchserve.NewClient(conns+4, RequestTimeout)}
}

// Close closes the client's idle connections.
func (c *Client) Close() { c.HTTP.CloseIdleConnections() }

// Setup creates users (normal emails) and products (HugeStock) through
// base and returns their ids.
func (c *Client) Setup(ctx context.Context, base string, users, products int) (userIDs, productIDs []string, err error) {
	for i := range users {
		id, err := c.Create(ctx, base+"/api/users", map[string]any{"name": fmt.Sprintf("Bench User %d", i),
			"email": fmt.Sprintf("bench.user%d@example.com", i)})
		if err != nil {
			return nil, nil, fmt.Errorf("create user: %w", err)
		}
		userIDs = append(userIDs, id)
	}
	for i := range products {
		id, err := c.Create(ctx, base+"/api/products", map[string]any{"name": fmt.Sprintf("Bench Product %d", i),
			"price_cents": 100 + i, "stock": HugeStock})
		if err != nil {
			return nil, nil, fmt.Errorf("create product: %w", err)
		}
		productIDs = append(productIDs, id)
	}
	return userIDs, productIDs, nil
}

// Create posts body to url and returns the id of what was created.
func (c *Client) Create(ctx context.Context, url string, body any) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if err := c.Do(ctx, http.MethodPost, url, body, http.StatusCreated, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// PlaceOrder places an order of one unit of product for user, paid with
// token, through base and returns its saga id.
func (c *Client) PlaceOrder(ctx context.Context, base, user, product, token string) (string, error) {
	body := map[string]any{
		"user_id": user,
		"items":   []map[string]any{{"product_id": product, "quantity": 1}},
		"payment": map[string]string{"token": token},
	}
	var started struct {
		SagaID string `json:"saga_id"`
	}
	if err := c.Do(ctx, http.MethodPost, base+"/api/orders", body, http.StatusAccepted, &started); err != nil {
		return "", fmt.Errorf("place order: %w", err)
	}
	if started.SagaID == "" {
		return "", errors.New("place order: no saga_id in the answer")
	}
	return started.SagaID, nil
}

// AwaitSaga waits (GET /api/sagas/{id}?wait=10s, again and again) until
// saga id is terminal, at most timeout, and returns its status.
func (c *Client) AwaitSaga(ctx context.Context, base, id string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		var s struct {
			Status string `json:"status"`
		}
		err := c.Do(ctx, http.MethodGet, base+"/api/sagas/"+id+"?wait=10s", nil, http.StatusOK, &s)
		switch {
		case errors.Is(err, ErrEmptyAnswer):
			c.EmptyWaits.Add(1)
		case errors.Is(err, ErrTimeoutAnswer):
			c.TimeoutWaits.Add(1)
		case err != nil:
			return "", fmt.Errorf("await saga: %w", err)
		}
		if Terminal[s.Status] {
			return s.Status, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("saga %s still %q after %s", id, s.Status, timeout)
		}
		if err != nil && c.RetryPause > 0 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(c.RetryPause):
			}
		}
	}
}

// Do sends one request (body as JSON when not nil) and decodes a JSON
// answer of status want into out (when not nil). An answer of status want
// without a body is ErrEmptyAnswer, a 503 "timeout" ErrTimeoutAnswer.
func (c *Client) Do(ctx context.Context, method, url string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, url, err)
	}
	if resp.StatusCode == want && len(b) == 0 && out != nil {
		return fmt.Errorf("%s %s: %w", method, url, ErrEmptyAnswer)
	}
	if resp.StatusCode == http.StatusServiceUnavailable && bytes.Contains(b, []byte(`"code":"timeout"`)) {
		return fmt.Errorf("%s %s: %w", method, url, ErrTimeoutAnswer)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %.200s", method, url, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, url, err)
	}
	return nil
}
