package orders_test

import (
	"context"
	json "github.com/go-json-experiment/json/v1"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/handlers/orders"
	"github.com/eventline/eventline/platform/httpapi"
)

// apiWith serves the orders API of e with the read side rs.
func (e *env) apiWith(t *testing.T, rs orders.ReadSide) *httptest.Server {
	t.Helper()
	return e.apiServer(t, httpapi.ServerConfig{}, rs)
}

// apiServer serves the orders API of e on a server configured by cfg.
func (e *env) apiServer(t *testing.T, cfg httpapi.ServerConfig, rs orders.ReadSide) *httptest.Server {
	t.Helper()
	s := httpapi.NewServer(cfg)
	orders.NewAPI(e.manager, e.parts, nil, policy, rs).Mount(s)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

// getAsync sends GET url and delivers the status and decoded body on the
// returned channel; cancel abandons the request.
func getAsync(t *testing.T, url string) (answers <-chan map[string]any, cancel func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan map[string]any, 1)
	go func() {
		v := map[string]any{}
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- map[string]any{"client_error": err.Error()}
			return
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&v)
		v["http_status"] = resp.StatusCode
		ch <- v
	}()
	return ch, cancel
}

// subscriptions waits until e's connection holds want subscriptions.
func (e *env) subscriptions(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.store.Conn().NumSubscriptions() != want {
		require.True(t, time.Now().Before(deadline), "subscriptions: %d, want %d", e.store.Conn().NumSubscriptions(), want)
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAPIWaitAnswersWhenTheSagaEnds(t *testing.T) {
	e := newHandOverEnv(t)
	srv := e.api(t)
	e.start(t, "w1", input("w1", "u1", "tok_ok", 1))
	base := e.store.Conn().NumSubscriptions()

	start := time.Now()
	answers, _ := getAsync(t, srv.URL+"/api/sagas/w1?wait=30s")
	e.subscriptions(t, base+1)     // the waiter listens: the saga has not moved yet
	stop := e.runWith(t, e.runner) // now it runs to the end
	t.Cleanup(stop)

	v := <-answers
	require.Equal(t, http.StatusOK, v["http_status"], v)
	require.Equal(t, "completed", v["status"], v)
	// Loose bound: the answer came with the saga's end, not with the wait's.
	require.Less(t, time.Since(start), 25*time.Second)
	stop() // the reactors' subscriptions go too
	e.subscriptions(t, base)
}

func TestAPIWaitAnswersTheCurrentStateWhenTheWaitEnds(t *testing.T) {
	e := newHandOverEnv(t)
	srv := e.api(t)
	e.start(t, "w2", input("w2", "u1", "tok_ok", 1)) // no reactors: it stays running
	base := e.store.Conn().NumSubscriptions()

	code, v := call(t, "GET", srv.URL+"/api/sagas/w2?wait=200ms", "", "")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, "running", v["status"], v)
	e.subscriptions(t, base)

	code, v = call(t, "GET", srv.URL+"/api/sagas/w2", "", "")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, "running", v["status"])
	code, v = call(t, "GET", srv.URL+"/api/sagas/nope?wait=1s", "", "")
	require.Equal(t, http.StatusNotFound, code, v)
	e.subscriptions(t, base)
}

func TestAPIWaitLeavesNoSubscriptionWhenTheClientGoes(t *testing.T) {
	e := newHandOverEnv(t)
	srv := e.api(t)
	e.start(t, "w3", input("w3", "u1", "tok_ok", 1))
	base := e.store.Conn().NumSubscriptions()

	answers, cancel := getAsync(t, srv.URL+"/api/sagas/w3?wait=30s")
	e.subscriptions(t, base+1)
	cancel()
	require.Contains(t, <-answers, "client_error")
	e.subscriptions(t, base)
}

func TestAPIWaitBeyondTheWaitersAnswersAtOnce(t *testing.T) {
	e := newHandOverEnv(t)
	srv := e.apiWith(t, orders.ReadSide{MaxWaiters: 1})
	e.start(t, "w4", input("w4", "u1", "tok_ok", 1))
	base := e.store.Conn().NumSubscriptions()

	first, cancel := getAsync(t, srv.URL+"/api/sagas/w4?wait=30s")
	e.subscriptions(t, base+1)
	code, v := call(t, "GET", srv.URL+"/api/sagas/w4?wait=30s", "", "")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, "running", v["status"], "no slot left: the current state at once")
	require.Equal(t, base+1, e.store.Conn().NumSubscriptions())

	cancel()
	<-first
	e.subscriptions(t, base)
	second, _ := getAsync(t, srv.URL+"/api/sagas/w4?wait=30s")
	e.subscriptions(t, base+1) // the slot is free again
	stop := e.runWith(t, e.runner)
	t.Cleanup(stop)
	require.Equal(t, "completed", (<-second)["status"])
	stop()
	e.subscriptions(t, base)
}

func TestAPIWaitAnswersBeforeTheServersReadTimeout(t *testing.T) {
	e := newHandOverEnv(t)
	srv := e.apiServer(t, httpapi.ServerConfig{ReadTimeout: time.Second}, orders.ReadSide{})
	e.start(t, "w5", input("w5", "u1", "tok_ok", 1))
	base := e.store.Conn().NumSubscriptions()

	// The wait is deliberate: it outlasts the read timeout of other GETs.
	code, v := call(t, "GET", srv.URL+"/api/sagas/w5?wait=2s", "", "")
	require.Equal(t, http.StatusOK, code, v)
	require.Equal(t, "running", v["status"], "the current state, not an empty answer cut by the read timeout")
	e.subscriptions(t, base)
}

// newHandOverEnv is newEnv whose process manager hands every command to
// the reactors: a saga stays where it is until the test runs them.
func newHandOverEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	runner, err := orders.NewRunner(e.store, orders.HandOver())
	require.NoError(t, err)
	e.runner = runner
	t.Cleanup(e.runner.Close)
	e.manager = e.runner.Manager()
	return e
}
