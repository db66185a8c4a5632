package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// Terminal saga statuses of the contract.
var terminalSaga = map[string]bool{"completed": true, "compensated": true, "needs_attention": true, "failed": true}

// sagaClient drives the orders API of one running program. Its methods
// return errors instead of failing the test where they run in goroutines.
type sagaClient struct {
	base string
	http *http.Client
}

func newSagaClient(base string) *sagaClient {
	return &sagaClient{base: base, http: &http.Client{Timeout: 60 * time.Second}}
}

// do sends a JSON request and decodes a JSON answer into out (when not nil
// and the status is 2xx). It returns the status and the raw body.
func (c *sagaClient) do(method, path string, body any, headers map[string]string, out any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, raw, fmt.Errorf("decode %s %s: %w: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, raw, nil
}

// mustCreate posts a creation and returns the new id.
func (c *sagaClient) mustCreate(t *testing.T, path string, body any) string {
	t.Helper()
	var out struct {
		ID string `json:"id"`
	}
	status, raw, err := c.do("POST", path, body, nil, &out)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, status, "POST %s: %s", path, raw)
	require.NotEmpty(t, out.ID)
	return out.ID
}

func (c *sagaClient) user(t *testing.T, name, email string) string {
	t.Helper()
	return c.mustCreate(t, "/api/users", map[string]any{"name": name, "email": email})
}

func (c *sagaClient) product(t *testing.T, name string, stock int64) string {
	t.Helper()
	return c.mustCreate(t, "/api/products", map[string]any{"name": name, "price_cents": 1250, "stock": stock})
}

// productView is GET /api/products/{id}.
type productView struct {
	ID       string `json:"id"`
	Stock    int64  `json:"stock"`
	Reserved int64  `json:"reserved"`
	Sold     int64  `json:"sold"`
}

func (c *sagaClient) getProduct(t *testing.T, id string) productView {
	t.Helper()
	var p productView
	status, raw, err := c.do("GET", "/api/products/"+id, nil, nil, &p)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, "GET product %s: %s", id, raw)
	return p
}

// orderItem is one line of an order.
type orderItem struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// orderBody is POST /api/orders.
func orderBody(userID, token string, items ...orderItem) map[string]any {
	return map[string]any{"user_id": userID, "items": items, "payment": map[string]string{"token": token}}
}

// started is the 202 of POST /api/orders.
type started struct {
	SagaID  string `json:"saga_id"`
	OrderID string `json:"order_id"`
}

// postOrder starts an order saga; key is the Idempotency-Key (none when
// empty). It returns the status, the answer and the raw body.
func (c *sagaClient) postOrder(body map[string]any, key string) (int, started, []byte, error) {
	var s started
	var h map[string]string
	if key != "" {
		h = map[string]string{"Idempotency-Key": key}
	}
	status, raw, err := c.do("POST", "/api/orders", body, h, &s)
	return status, s, raw, err
}

func (c *sagaClient) mustOrder(t *testing.T, body map[string]any) started {
	t.Helper()
	status, s, raw, err := c.postOrder(body, "")
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status, "POST /api/orders: %s", raw)
	require.NotEmpty(t, s.SagaID)
	require.NotEmpty(t, s.OrderID)
	return s
}

// orderView is GET /api/orders/{id}.
type orderView struct {
	ID     string `json:"id"`
	SagaID string `json:"saga_id"`
	Status string `json:"status"`
}

func (c *sagaClient) getOrder(id string) (int, orderView, []byte, error) {
	var o orderView
	status, raw, err := c.do("GET", "/api/orders/"+id, nil, nil, &o)
	return status, o, raw, err
}

// stepView and sagaView are GET /api/sagas/{id}.
type stepView struct {
	Name         string `json:"name"`
	Status       string `json:"status"`
	Attempts     int    `json:"attempts"`
	Error        string `json:"error"`
	Compensation string `json:"compensation"`
}

type sagaView struct {
	ID     string     `json:"id"`
	Type   string     `json:"type"`
	Status string     `json:"status"`
	Reason string     `json:"reason"`
	Steps  []stepView `json:"steps"`
}

func (s sagaView) step(name string) stepView {
	for _, st := range s.Steps {
		if st.Name == name {
			return st
		}
	}
	return stepView{Name: name, Status: "absent"}
}

// waitSaga asks GET /api/sagas/{id}?wait=10s until the saga is terminal or
// timeout is over, and returns its last state (an error when it never got
// an answer).
func (c *sagaClient) waitSaga(id string, timeout time.Duration) (sagaView, error) {
	deadline := time.Now().Add(timeout)
	var v sagaView
	var lastErr error
	for time.Now().Before(deadline) {
		status, raw, err := c.do("GET", "/api/sagas/"+id+"?wait=10s", nil, nil, &v)
		switch {
		case err != nil:
			lastErr = err
			time.Sleep(100 * time.Millisecond)
		case status != http.StatusOK:
			lastErr = fmt.Errorf("GET /api/sagas/%s: %d %s", id, status, raw)
			time.Sleep(100 * time.Millisecond)
		case terminalSaga[v.Status]:
			return v, nil
		default:
			lastErr = nil
		}
	}
	if lastErr != nil {
		return v, lastErr
	}
	return v, fmt.Errorf("saga %s not terminal after %v: %+v", id, timeout, v)
}

func (c *sagaClient) mustWaitSaga(t *testing.T, id string) sagaView {
	t.Helper()
	v, err := c.waitSaga(id, 90*time.Second)
	require.NoError(t, err)
	return v
}

// readModel queries the saga module's read models.
type readModel struct{ pool *pgxpool.Pool }

func openReadModel(t *testing.T, url string) readModel {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return readModel{pool: pool}
}

// sagaRow is a saga as the sagas and saga_steps tables hold it.
type sagaRow struct {
	Status string
	Steps  map[string]stepRow
	Order  []string
}

type stepRow struct {
	Status     string
	Attempts   int
	CompStatus string
}

// saga reads saga id's rows; ok is false while it has none.
func (r readModel) saga(ctx context.Context, id string) (sagaRow, bool, error) {
	var s sagaRow
	err := r.pool.QueryRow(ctx, `SELECT status FROM sagas WHERE id = $1`, id).Scan(&s.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, false, nil // not projected yet
	} else if err != nil {
		return s, false, err
	}
	rows, err := r.pool.Query(ctx, `SELECT name, status, attempts, comp_status FROM saga_steps WHERE saga_id = $1 ORDER BY position`, id)
	if err != nil {
		return s, false, err
	}
	defer rows.Close()
	s.Steps = map[string]stepRow{}
	for rows.Next() {
		var name string
		var st stepRow
		if err := rows.Scan(&name, &st.Status, &st.Attempts, &st.CompStatus); err != nil {
			return s, false, err
		}
		s.Steps[name] = st
		s.Order = append(s.Order, name)
	}
	return s, true, rows.Err()
}

// waitSagaRow polls the read model until saga id's row has status.
func (r readModel) waitSagaRow(t *testing.T, id, status string) sagaRow {
	t.Helper()
	var s sagaRow
	require.Eventually(t, func() bool {
		got, ok, err := r.saga(context.Background(), id)
		require.NoError(t, err)
		s = got
		return ok && got.Status == status && len(got.Steps) == 5
	}, 60*time.Second, 20*time.Millisecond, "saga %s never reached %s in the read model: %+v", id, status, s)
	return s
}

// charged counts the charged payments rows of an order.
func (r readModel) charged(t *testing.T, orderID string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, r.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM payments WHERE order_id = $1 AND status = 'charged'`, orderID).Scan(&n))
	return n
}
