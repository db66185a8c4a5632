package main

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

// requestTimeout bounds each request; a saga wait asks for 10 s.
const requestTimeout = 30 * time.Second

// sagaTimeout bounds how long one saga is awaited (several waits of 10 s)
// before it counts as an error.
const sagaTimeout = time.Minute

// hugeStock is every product's stock: no order of the benchmark ever runs
// out of it.
const hugeStock = int64(1_000_000_000_000) // the API's bound

// errEmptyAnswer is an answer of the expected status without a body.
var errEmptyAnswer = errors.New("empty answer")

// errTimeoutAnswer is a 503 answer of code "timeout".
var errTimeoutAnswer = errors.New("503 timeout")

// terminal are the saga statuses GET /api/sagas/{id}?wait= stops at.
var terminal = map[string]bool{"completed": true, "compensated": true, "needs_attention": true, "failed": true}

// client drives the orders API of one serve process with keep-alive
// connections.
type client struct {
	base     string
	http     *http.Client
	users    []string
	products []string
	// emptyWaits counts GET /api/sagas/{id}?wait=10s answered 200 with an
	// empty body, timeoutWaits those answered 503 "timeout": the server
	// cut the wait short (its 5 s limit on GETs) without the saga's state.
	// The saga is then awaited again.
	emptyWaits, timeoutWaits atomic.Int64
}

func newClient(base string, conns int) *client {
	return &client{base: base, http: benchserve.NewClient(conns+4, requestTimeout)}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// setup creates the users (normal emails) and products (huge stock) the
// orders are spread over.
func (c *client) setup(ctx context.Context, users, products int) error {
	for i := range users {
		id, err := c.create(ctx, "/api/users", map[string]any{"name": fmt.Sprintf("Bench User %d", i),
			"email": fmt.Sprintf("bench.user%d@example.com", i)})
		if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		c.users = append(c.users, id)
	}
	for i := range products {
		id, err := c.create(ctx, "/api/products", map[string]any{"name": fmt.Sprintf("Bench Product %d", i),
			"price_cents": 100 + i, "stock": hugeStock})
		if err != nil {
			return fmt.Errorf("create product: %w", err)
		}
		c.products = append(c.products, id)
	}
	return nil
}

func (c *client) create(ctx context.Context, path string, body any) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, path, body, http.StatusCreated, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// saga places order n (one item of one product, paid with tok_ok) and
// awaits its saga's terminal status.
func (c *client) saga(ctx context.Context, worker, n int) (string, error) {
	body := map[string]any{
		"user_id": c.users[n%len(c.users)],
		"items":   []map[string]any{{"product_id": c.products[(n/len(c.users)+worker)%len(c.products)], "quantity": 1}},
		"payment": map[string]string{"token": "tok_ok"},
	}
	var started struct {
		SagaID string `json:"saga_id"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/orders", body, http.StatusAccepted, &started); err != nil {
		return "", fmt.Errorf("place order: %w", err)
	}
	if started.SagaID == "" {
		return "", fmt.Errorf("place order: no saga_id in the answer")
	}
	deadline := time.Now().Add(sagaTimeout)
	for {
		var s struct {
			Status string `json:"status"`
		}
		err := c.do(ctx, http.MethodGet, "/api/sagas/"+started.SagaID+"?wait=10s", nil, http.StatusOK, &s)
		switch {
		case errors.Is(err, errEmptyAnswer):
			c.emptyWaits.Add(1)
		case errors.Is(err, errTimeoutAnswer):
			c.timeoutWaits.Add(1)
		case err != nil:
			return "", fmt.Errorf("await saga: %w", err)
		}
		if terminal[s.Status] {
			return s.Status, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("saga %s still %s after %s", started.SagaID, s.Status, sagaTimeout)
		}
	}
}

// do sends one request and decodes a JSON answer of status want into out.
func (c *client) do(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode == want && len(b) == 0 {
		return fmt.Errorf("%s %s: %w", method, path, errEmptyAnswer)
	}
	if resp.StatusCode == http.StatusServiceUnavailable && bytes.Contains(b, []byte(`"code":"timeout"`)) {
		return fmt.Errorf("%s %s: %w", method, path, errTimeoutAnswer)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %.200s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
