package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/eventline/eventline/bench/internal/benchserve"
)

// requestTimeout bounds each request; a saga wait asks for 10 s.
const requestTimeout = 30 * time.Second

// sagaTimeout bounds how long one saga is awaited before it counts as an
// error.
const sagaTimeout = 2 * time.Minute

// hugeStock is every product's stock: no order of the benchmark runs out.
const hugeStock = int64(1_000_000_000_000) // the API's bound

// terminal are the saga statuses GET /api/sagas/{id}?wait= stops at.
var terminal = map[string]bool{"completed": true, "compensated": true, "needs_attention": true, "failed": true}

// errRetryWait is a saga wait the server cut short (an empty 200 or a 503
// "timeout"): the saga is awaited again.
var errRetryWait = errors.New("wait cut short")

// api is a keep-alive client of the orders and logs APIs of serve
// processes.
type api struct {
	http *http.Client
}

func newAPI(conns int) *api { return &api{http: benchserve.NewClient(conns+4, requestTimeout)} }

// create posts body to base+path and returns the id of what was created.
func (a *api) create(ctx context.Context, base, path string, body any) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, http.MethodPost, base+path, body, http.StatusCreated, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// placeOrder places an order of one unit of product for user, paid with
// token, and returns its saga id.
func (a *api) placeOrder(ctx context.Context, base, user, product, token string) (string, error) {
	body := map[string]any{
		"user_id": user,
		"items":   []map[string]any{{"product_id": product, "quantity": 1}},
		"payment": map[string]string{"token": token},
	}
	var started struct {
		SagaID string `json:"saga_id"`
	}
	if err := a.do(ctx, http.MethodPost, base+"/api/orders", body, http.StatusAccepted, &started); err != nil {
		return "", fmt.Errorf("place order: %w", err)
	}
	if started.SagaID == "" {
		return "", errors.New("place order: no saga_id in the answer")
	}
	return started.SagaID, nil
}

// awaitSaga waits (GET /api/sagas/{id}?wait=10s, again and again) until
// saga id is terminal, at most timeout, and returns its status.
func (a *api) awaitSaga(ctx context.Context, base, id string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		var s struct {
			Status string `json:"status"`
		}
		err := a.do(ctx, http.MethodGet, base+"/api/sagas/"+id+"?wait=10s", nil, http.StatusOK, &s)
		if err != nil && !errors.Is(err, errRetryWait) {
			return "", fmt.Errorf("await saga: %w", err)
		}
		if terminal[s.Status] {
			return s.Status, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("saga %s still %q after %s", id, s.Status, timeout)
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// do sends one request and decodes a JSON answer of status want into out.
func (a *api) do(ctx context.Context, method, url string, body any, want int, out any) error {
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
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, url, err)
	}
	if (resp.StatusCode == want && len(b) == 0) ||
		(resp.StatusCode == http.StatusServiceUnavailable && bytes.Contains(b, []byte(`"code":"timeout"`))) {
		return fmt.Errorf("%s %s: %w", method, url, errRetryWait)
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
