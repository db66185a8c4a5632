package orders_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	order "github.com/eventline/eventline/domain/orders"
	"github.com/eventline/eventline/domain/saga"
)

// An operator marks the failed step after the pivot resolved, with who
// and why: the saga completes, the step is resolved and the history
// records it. The engine's refusals come back as 409 saying why, and
// GET /api/sagas/{id} says beforehand which actions are allowed.
func TestAPIResolveAStepAfterThePivot(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	srv := e.api(t)
	e.start(t, "r1", input("r1", "bounce", order.TokenOK, 1))
	require.Equal(t, saga.StatusNeedsAttention, e.finish(t, "r1").Status)

	code, v := call(t, "GET", srv.URL+"/api/sagas/r1", "", "")
	require.Equal(t, http.StatusOK, code, v)
	acts := v["actions"].(map[string]any)
	require.Equal(t, true, acts["resolve"].(map[string]any)["allowed"], acts)
	require.Equal(t, true, acts["retry"].(map[string]any)["allowed"], acts)
	abort := acts["abort"].(map[string]any)
	require.Equal(t, false, abort["allowed"])
	require.Contains(t, abort["why"], "Only a running saga can be aborted")

	code, v = call(t, "POST", srv.URL+"/api/sagas/r1/resolve", `{"by":"ops"}`, "")
	require.Equal(t, http.StatusBadRequest, code, v)
	require.Equal(t, "reason", v["error"].(map[string]any)["field"])
	code, v = call(t, "POST", srv.URL+"/api/sagas/r1/resolve", `{"by":"ops","reason":"x","extra":1}`, "")
	require.Equal(t, http.StatusBadRequest, code, v)

	code, v = call(t, "POST", srv.URL+"/api/sagas/r1/resolve", `{"by":"ops","reason":"customer called by phone"}`, "")
	require.Equal(t, http.StatusAccepted, code, v)
	require.Equal(t, "completed", v["status"])
	step := v["steps"].([]any)[4].(map[string]any)
	require.Equal(t, "resolved", step["status"])
	require.Equal(t, "ops", step["resolved_by"])
	require.Equal(t, "customer called by phone", step["resolution"])

	code, v = call(t, "POST", srv.URL+"/api/sagas/r1/resolve", `{"by":"ops","reason":"again"}`, "")
	require.Equal(t, http.StatusConflict, code, v)
	require.Equal(t, "not_allowed", v["error"].(map[string]any)["code"])
	require.Contains(t, v["error"].(map[string]any)["message"], "completed")

	_, h := call(t, "GET", srv.URL+"/api/sagas/r1/events", "", "")
	var found bool
	for _, ev := range h["events"].([]any) {
		en := ev.(map[string]any)
		if en["type"] == saga.ResolvedV1 {
			found = true
			require.Equal(t, "ops", en["by"])
			require.Equal(t, "customer called by phone", en["reason"])
			require.Equal(t, saga.StepSendNotification, en["step"])
		}
	}
	require.True(t, found, "the resolution is recorded: %v", h)
}

// A saga whose step waits an hour for its retry is retried now: the
// attempt starts at once and the saga completes long before the hour.
// A declined payment's saga shows when each compensation finished and
// why it compensated.
func TestAPIRetryNowAndCompensatedAt(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	srv := e.api(t)
	slow := policy
	slow.FirstDelay, slow.MaxDelay = time.Hour, time.Hour
	_, err := e.manager.Start(context.Background(), "n1", saga.OrderSaga(slow), input("n1", "u1", order.TokenFlaky, 1), "")
	require.NoError(t, err)
	var v map[string]any
	require.Eventually(t, func() bool {
		_, v = call(t, "GET", srv.URL+"/api/sagas/n1", "", "")
		return v["steps"].([]any)[3].(map[string]any)["retry_at"] != nil
	}, 20*time.Second, 20*time.Millisecond, "the payment waits for its retry")
	acts := v["actions"].(map[string]any)
	require.Equal(t, true, acts["retry_now"], acts)

	// tok_flaky fails twice: retry now twice.
	for i := 0; ; i++ {
		code, r := call(t, "POST", srv.URL+"/api/sagas/n1/retry", `{"by":"ops","reason":"now"}`, "")
		require.Equal(t, http.StatusAccepted, code, r)
		s := e.until(t, "n1", func(s saga.State) bool {
			st := s.Steps[3]
			return s.Status.Terminal() || (!st.Action.InFlight && !st.Action.RetryAt.IsZero())
		})
		if s.Status.Terminal() {
			require.Equal(t, saga.StatusCompleted, s.Status, s.Reason)
			break
		}
		require.Less(t, i, 3)
	}
	code, r := call(t, "POST", srv.URL+"/api/sagas/n1/retry", "", "")
	require.Equal(t, http.StatusConflict, code, r)

	e.start(t, "d1", input("d1", "u1", order.TokenDeclined, 1))
	require.Equal(t, saga.StatusCompensated, e.finish(t, "d1").Status)
	_, v = call(t, "GET", srv.URL+"/api/sagas/d1", "", "")
	require.Equal(t, "process_payment failed: card declined", v["reason"])
	steps := v["steps"].([]any)
	for _, i := range []int{1, 2} {
		st := steps[i].(map[string]any)
		require.Equal(t, "compensated", st["status"], st)
		require.NotEmpty(t, st["compensated_at"], st)
	}
	require.NotContains(t, steps[0].(map[string]any), "compensated_at", "validate_user has nothing to compensate")
}

// Sagas are searched by user, the first characters of their id, status
// and a range of creation times; every list answers {"items", "next_cursor"}
// and keeps its old key for one release.
func TestAPISearchesSagas(t *testing.T) {
	e := newEnv(t)
	srv := e.api(t)
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	rows := []struct{ id, user, status string }{
		{"ab_1", "u1", "completed"}, {"abx1", "u1", "compensated"}, {"ab_2", "u2", "completed"}, {"zz", "u1", "needs_attention"},
	}
	for i, r := range rows {
		e.exec(t, `INSERT INTO sagas (id, type, status, current_step, reason, aborted, created_at, updated_at, seq, user_id)
			VALUES ($1, 'create_order', $2, 'send_notification', '', false, $3, $3, $4, $5)`,
			r.id, r.status, base.Add(time.Duration(i)*time.Hour), i+1, r.user)
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"user_id=u1", []string{"zz", "abx1", "ab_1"}},
		{"id=ab_", []string{"ab_2", "ab_1"}}, // '_' is no wildcard
		{"id=ab", []string{"ab_2", "abx1", "ab_1"}},
		{"id=zz", []string{"zz"}},
		{"user_id=u1&status=completed", []string{"ab_1"}},
		{"since=2026-03-01T11:00:00Z", []string{"zz", "ab_2", "abx1"}},
		{"since=2026-03-01T11:00&until=2026-03-01T13:00:00Z", []string{"ab_2", "abx1"}},
		{"until=2026-03-01T11:00:00Z", []string{"ab_1"}},
		{"since=1h", nil},
		{"user_id=nobody", nil},
	}
	for _, tt := range tests {
		ids, _ := page(t, srv.URL, "/api/sagas?limit=2&"+tt.query, "items")
		require.Equal(t, tt.want, ids, tt.query)
	}
	code, v := call(t, "GET", srv.URL+"/api/sagas?user_id=u2", "", "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, v["items"], v["sagas"], "the old key, deprecated, holds the same items")
	require.Equal(t, "u2", v["items"].([]any)[0].(map[string]any)["user_id"])

	for _, bad := range []struct{ query, field string }{
		{"user_id=a.b", "user_id"}, {"id=%25", "id"}, {"since=yesterday", "since"}, {"until=-5m", "until"},
		{"since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", "until"},
	} {
		code, v := call(t, "GET", srv.URL+"/api/sagas?"+bad.query, "", "")
		require.Equal(t, http.StatusBadRequest, code, bad.query)
		require.Equal(t, bad.field, v["error"].(map[string]any)["field"], bad.query)
	}

	e.exec(t, `INSERT INTO products (id, name, price_cents, stock, reserved, sold, created_at, seq) VALUES ('pq', 'pq', 1, 5, 2, 0, $1, 1)`, base)
	code, v = call(t, "GET", srv.URL+"/api/products?limit=1", "", "")
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 3, v["items"].([]any)[0].(map[string]any)["available"], "stock 5, 2 reserved")
	code, v = call(t, "GET", srv.URL+"/api/products/p1", "", "")
	require.Equal(t, http.StatusOK, code, v)
	require.EqualValues(t, 40, v["available"])
	for _, path := range []string{"/api/products?limit=1", "/api/orders?user_id=u1"} {
		code, v := call(t, "GET", srv.URL+path, "", "")
		require.Equal(t, http.StatusOK, code, path)
		require.Contains(t, v, "items", path)
		require.Contains(t, v, "next_cursor", path)
	}
}
