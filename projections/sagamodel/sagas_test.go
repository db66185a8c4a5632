package sagamodel_test

import (
	"context"
	json "github.com/go-json-experiment/json/v1"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/projections"
	"github.com/eventline/eventline/projections/sagamodel"
)

// script appends the events of one order saga and folds them with
// saga.Evolve, as the process manager would: the rows must show the fold.
type script struct {
	t   *testing.T
	e   *env
	id  string
	min int
	s   saga.State
}

func newScript(t *testing.T, e *env) *script {
	t.Helper()
	s := &script{t: t, e: e, id: uuid.NewString()}
	s.emit(saga.StartedV1, saga.Started{SagaID: s.id, Definition: saga.OrderSaga(saga.Policy{Attempts: 3,
		FirstDelay: time.Second, AttemptTimeout: 10 * time.Second, CompensationTimeout: 30 * time.Second}),
		Input: json.RawMessage(`{"user_id":"u1"}`), At: s.next()})
	return s
}

func (s *script) next() time.Time { s.min++; return at(s.min) }

func (s *script) emit(typ string, data any) {
	s.t.Helper()
	s.e.emit(s.t, saga.Stream, saga.Subject(s.id), typ, data)
	raw, err := json.Marshal(data)
	require.NoError(s.t, err)
	dec, err := saga.Events()[typ](raw)
	require.NoError(s.t, err)
	s.s = saga.Evolve(s.s, typ, dec)
}

func (s *script) start(step string, attempt int) {
	s.emit(saga.StepStartedV1, saga.StepStarted{Step: step, Attempt: attempt, RoundStart: 1, Deadline: at(s.min + 10),
		At: s.next()})
}

func (s *script) ok(step string, attempt int) {
	s.start(step, attempt)
	s.emit(saga.StepCompletedV1, saga.StepCompleted{Step: step, Attempt: attempt, Output: json.RawMessage(`{"ok":true}`),
		At: s.next()})
}

func (s *script) fail(step string, attempt int, f saga.Failure, msg string, final bool) {
	s.start(step, attempt)
	s.emit(saga.StepFailedV1, saga.StepFailed{Step: step, Attempt: attempt, Failure: f, Error: msg, Final: final, At: s.next()})
	if !final {
		s.emit(saga.RetryScheduledV1, saga.RetryScheduled{Step: step, Attempt: attempt + 1, Due: at(s.min + 1), At: s.next()})
	}
}

func (s *script) compensate(step string, failures int) {
	for a := 1; a <= failures+1; a++ {
		s.emit(saga.CompensationStartedV1, saga.CompensationStarted{Step: step, Attempt: a, RoundStart: 1,
			Deadline: at(s.min + 10), GiveUpAt: at(s.min + 30), At: s.next()})
		if a <= failures {
			s.emit(saga.CompensationFailedV1, saga.CompensationFailed{Step: step, Attempt: a, Failure: saga.Transient,
				Error: "inventory busy", At: s.next()})
			continue
		}
		s.emit(saga.StepCompensatedV1, saga.StepCompensated{Step: step, Attempt: a, At: s.next()})
	}
}

// The three endings of the order saga.
func happySaga(t *testing.T, e *env) *script {
	s := newScript(t, e)
	s.ok(saga.StepValidateUser, 1)
	s.ok(saga.StepReserveInventory, 1)
	s.ok(saga.StepCreateOrder, 1)
	s.fail(saga.StepProcessPayment, 1, saga.Transient, "processor unavailable", false)
	s.ok(saga.StepProcessPayment, 2)
	s.ok(saga.StepSendNotification, 1)
	s.emit(saga.CompletedV1, saga.Completed{At: s.next()})
	return s
}

func compensatedSaga(t *testing.T, e *env) *script {
	s := newScript(t, e)
	s.ok(saga.StepValidateUser, 1)
	s.ok(saga.StepReserveInventory, 1)
	s.ok(saga.StepCreateOrder, 1)
	s.fail(saga.StepProcessPayment, 1, saga.Permanent, "card declined", true)
	s.compensate(saga.StepCreateOrder, 0)
	s.compensate(saga.StepReserveInventory, 1)
	s.emit(saga.CompensatedV1, saga.Compensated{At: s.next()})
	return s
}

func attentionSaga(t *testing.T, e *env) *script {
	s := newScript(t, e)
	s.ok(saga.StepValidateUser, 1)
	s.ok(saga.StepReserveInventory, 1)
	s.ok(saga.StepCreateOrder, 1)
	s.ok(saga.StepProcessPayment, 1)
	s.fail(saga.StepSendNotification, 1, saga.Permanent, "mailbox bounced", true)
	s.emit(saga.NeedsAttentionV1, saga.NeedsAttention{Step: saga.StepSendNotification, Reason: "send_notification: mailbox bounced",
		At: s.next()})
	return s
}

// sagaRow is a sagas row with its steps, as the tests check them.
type sagaRow struct {
	Type, Status, Current, Reason string
	Aborted                       bool
	CreatedAt, UpdatedAt          time.Time
	Steps                         []stepRow
}

type stepRow struct {
	Name, Status          string
	Attempts              int
	StartedAt, FinishedAt *time.Time
	Error, CompStatus     string
	CompAttempts          int
	CompError             string
}

func utcPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// want is the row the fold shows.
func (s *script) want() sagaRow {
	st := s.s
	r := sagaRow{Type: st.Definition.Type, Status: string(st.Status), Current: st.Steps[st.Current].Name, Reason: st.Reason,
		Aborted: st.Aborted, CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt}
	for _, x := range st.Steps {
		r.Steps = append(r.Steps, stepRow{Name: x.Name, Status: string(x.Status), Attempts: x.Action.Attempts,
			StartedAt: utcPtr(x.StartedAt), FinishedAt: utcPtr(x.FinishedAt), Error: x.Action.Error,
			CompStatus: string(x.Compensation), CompAttempts: x.Comp.Attempts, CompError: x.Comp.Error})
	}
	return r
}

func readSaga(t *testing.T, pool *pgxpool.Pool, id string) sagaRow {
	t.Helper()
	ctx := context.Background()
	var r sagaRow
	require.NoError(t, pool.QueryRow(ctx, `SELECT type, status, current_step, reason, aborted, created_at, updated_at
		FROM sagas WHERE id = $1`, id).Scan(&r.Type, &r.Status, &r.Current, &r.Reason, &r.Aborted, &r.CreatedAt, &r.UpdatedAt))
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	rows, err := pool.Query(ctx, `SELECT name, status, attempts, started_at, finished_at, error, comp_status, comp_attempts,
		comp_error FROM saga_steps WHERE saga_id = $1 ORDER BY position`, id)
	require.NoError(t, err)
	defer rows.Close()
	r.Steps, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (stepRow, error) {
		var s stepRow
		err := row.Scan(&s.Name, &s.Status, &s.Attempts, &s.StartedAt, &s.FinishedAt, &s.Error, &s.CompStatus,
			&s.CompAttempts, &s.CompError)
		s.StartedAt, s.FinishedAt = utcPtrP(s.StartedAt), utcPtrP(s.FinishedAt)
		return s, err
	})
	require.NoError(t, err)
	return r
}

func utcPtrP(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return utcPtr(*t)
}

func stepStatuses(r sagaRow) []string {
	var out []string
	for _, s := range r.Steps {
		out = append(out, s.Name+"="+s.Status+"/"+s.CompStatus)
	}
	return out
}

func TestSagaRowsShowTheFold(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	happy, comp, attention := happySaga(t, e), compensatedSaga(t, e), attentionSaga(t, e)
	e.wait(t)

	for _, tc := range []struct {
		name     string
		s        *script
		status   string
		statuses []string
	}{
		{"happy", happy, "completed", []string{"validate_user=completed/", "reserve_inventory=completed/",
			"create_order=completed/", "process_payment=completed/", "send_notification=completed/"}},
		{"compensated", comp, "compensated", []string{"validate_user=completed/", "reserve_inventory=compensated/compensated",
			"create_order=compensated/compensated", "process_payment=failed/", "send_notification=skipped/"}},
		{"needs attention", attention, "needs_attention", []string{"validate_user=completed/", "reserve_inventory=completed/",
			"create_order=completed/", "process_payment=completed/", "send_notification=failed/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readSaga(t, e.pool, tc.s.id)
			require.Equal(t, tc.s.want(), got, "the rows show the fold")
			require.Equal(t, tc.status, got.Status)
			require.Equal(t, saga.OrderSagaType, got.Type)
			require.Equal(t, tc.statuses, stepStatuses(got))
		})
	}
	require.Equal(t, 2, readSaga(t, e.pool, happy.id).Steps[3].Attempts, "the transient failure counts as an attempt")
	reserve := readSaga(t, e.pool, comp.id).Steps[1]
	require.Equal(t, 2, reserve.CompAttempts, "one failed compensation attempt, then one that worked")
	require.Equal(t, "card declined", readSaga(t, e.pool, comp.id).Steps[3].Error)
	require.Equal(t, "send_notification: mailbox bounced", readSaga(t, e.pool, attention.id).Reason)
}

func TestSagaRowsFollowARetryAfterAttention(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	s := attentionSaga(t, e)
	e.wait(t)
	require.Equal(t, s.want(), readSaga(t, e.pool, s.id))

	s.emit(saga.RetriedV1, saga.Retried{By: "ops", At: s.next()})
	s.ok(saga.StepSendNotification, 2)
	s.emit(saga.CompletedV1, saga.Completed{At: s.next()})
	e.wait(t)
	got := readSaga(t, e.pool, s.id)
	require.Equal(t, s.want(), got)
	require.Equal(t, "completed", got.Status)
	require.Equal(t, 2, got.Steps[4].Attempts)
	require.Empty(t, got.Reason)
}

func TestApplyingSagaEventsAgainChangesNothing(t *testing.T) {
	e := newEnv(t)
	happySaga(t, e)
	compensatedSaga(t, e)
	attentionSaga(t, e)
	events := streamEvents(t, e, saga.Stream)
	p := sagamodel.NewSagas(nil)

	// Applied one event at a time, the rows are those of one batch.
	for i := range events {
		apply(t, e, p, events[i:i+1])
	}
	want := dump(t, e.pool)
	require.NotEmpty(t, want)
	for name, again := range map[string][]projections.Event{
		"the whole stream": events,
		"the first saga":   events[:10],
		"one event":        events[7:8],
		"the last events":  events[len(events)-5:],
	} {
		apply(t, e, p, again)
		require.Equal(t, want, dump(t, e.pool), name)
	}
}

// Issue 26: a compensated saga's row says why (the step that failed and its
// error), the row carries the saga input's user, and a step after the
// pivot an operator resolved is written as resolved (the CHECK of
// saga_steps allowed no such status before migration 00018).
func TestSagaRowsSayWhyAndWhoseAndResolved(t *testing.T) {
	e := newEnv(t)
	e.run(t)
	comp := compensatedSaga(t, e)
	attention := attentionSaga(t, e)
	attention.emit(saga.ResolvedV1, saga.Resolved{Step: saga.StepSendNotification, By: "ops", Reason: "called", At: attention.next()})
	attention.emit(saga.CompletedV1, saga.Completed{At: attention.next()})
	e.wait(t)

	require.Equal(t, "process_payment failed: card declined", readSaga(t, e.pool, comp.id).Reason)
	got := readSaga(t, e.pool, attention.id)
	require.Equal(t, attention.want(), got, "the rows show the fold")
	require.Equal(t, "completed", got.Status)
	require.Equal(t, "resolved", got.Steps[4].Status)
	var user string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT user_id FROM sagas WHERE id = $1`, comp.id).Scan(&user))
	require.Equal(t, "u1", user)
	var parked int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM projection_parked`).Scan(&parked))
	require.Zero(t, parked)
}
