package orders

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/platform/httpapi"
)

// sagaData is what /sagas/{id} shows.
type sagaData struct {
	ID, Type, Status, CurrentStep, Reason string
	CreatedAt, UpdatedAt                  time.Time
	// OrderStatus and OrderTotal are the order's, from the orders read
	// model ("" when it has not recorded the order).
	OrderStatus string
	OrderTotal  int64
	Steps       []stepRow
	Timeline    []timelineItem
	// Truncated is true when the history goes on past the timeline.
	Truncated bool
	// NoHistory is true when the saga is known to the read model only
	// (its history is not in the log this process reads).
	NoHistory bool
	Terminal  bool
	// CanRetry and CanAbort are what POST /api/sagas/{id}/retry|abort
	// would accept now; Actions says so for each action, with the
	// engine's reason when it would refuse (nil for a saga known to the
	// read model only).
	CanRetry, CanAbort bool
	Actions            *sagaActions
	// Input is the saga's input as indented JSON, the payment token
	// hidden.
	Input string
	// Message is an action's answer, shown with the refreshed state.
	Message string
	Refused bool
	// OOB is true when the live part is sent with an action's answer, to
	// replace the page's out of band.
	OOB bool
}

// stepRow is a step of the saga as its table shows it.
type stepRow struct {
	Name, Status                 string
	Attempts                     int
	StartedAt, FinishedAt        time.Time
	Error                        string
	Compensation, CompError      string
	CompAttempts                 int
	CompensationCommand, Current string
	// Input is what the step's command carries (the saga's input and the
	// outputs of the steps before it), Output its output, as indented
	// JSON ("" when none).
	Input, Output string
	// CompensatedAt is when its compensation succeeded; RetryAt when its
	// next attempt starts (zero when none waits).
	CompensatedAt, RetryAt time.Time
	// ResolvedBy and Resolution say who marked it resolved and why.
	ResolvedBy, Resolution string
}

// Duration is the step's duration (-1 when it has not finished).
func (s stepRow) Duration() time.Duration {
	if s.StartedAt.IsZero() || s.FinishedAt.IsZero() {
		return -1
	}
	return s.FinishedAt.Sub(s.StartedAt)
}

// dashID reads the {id} of a saga page: a malformed one is a 400.
func dashID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !validID(id) {
		return "", httpapi.Errorf(http.StatusBadRequest, "invalid_id",
			"A saga's id is 1 to 128 letters, digits, '-' or '_'.")
	}
	return id, nil
}

// readSaga reads saga id: its state from its command loop (what the API
// answers, and what decides whether retry and abort are allowed), its
// history from the log, and the order and, for a saga whose history this
// process cannot read, the saga and its steps from the read models. A saga
// neither knows is a 404.
func (a *API) readSaga(ctx context.Context, id string) (sagaData, error) {
	s, _, err := a.manager.Sagas().Load(ctx, id)
	if err != nil {
		return sagaData{}, err
	}
	var sd sagaData
	if s.Exists() {
		sd = fromState(s)
	} else {
		var ok bool
		if sd, ok, err = a.readModelSaga(ctx, id); err != nil {
			return sagaData{}, err
		} else if !ok {
			return sagaData{}, httpapi.Errorf(http.StatusNotFound, "not_found", "There is no saga "+id+".")
		}
	}
	if err := a.readOrder(ctx, &sd); err != nil {
		return sagaData{}, err
	}
	if !s.Exists() || a.reads.Events == nil {
		sd.NoHistory = true
		return sd, nil
	}
	page, err := a.readHistory(ctx, id, 0, eventsMaxLimit)
	if e, ok := errors.AsType[*httpapi.Error](err); ok && e.Status == http.StatusNotFound {
		sd.NoHistory = true
		return sd, nil
	}
	if err != nil {
		return sagaData{}, err
	}
	sd.Timeline, sd.Truncated = buildTimeline(page.Events, compensations(s.Definition)), page.Truncated
	return sd, nil
}

// fromState describes a saga from its state.
func fromState(s saga.State) sagaData {
	acts := actionsOf(s)
	sd := sagaData{ID: s.ID, Type: s.Definition.Type, Status: string(s.Status), Reason: s.Reason,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, Terminal: s.Status.Terminal(),
		CanRetry: acts.Retry.Allowed, CanAbort: acts.Abort.Allowed, Actions: &acts, Input: prettyJSON(redactInput(s.Input))}
	outputs := map[string]json.RawMessage{}
	for i, st := range s.Steps {
		row := stepRow{Name: st.Name, Status: string(st.Status), Attempts: st.Action.Attempts, StartedAt: st.StartedAt,
			FinishedAt: st.FinishedAt, Error: st.Action.Error, Compensation: string(st.Compensation),
			CompAttempts: st.Comp.Attempts, CompError: st.Comp.Error, Output: prettyJSON(st.Output),
			CompensatedAt: st.CompensatedAt, RetryAt: retryAt(s, i), ResolvedBy: st.ResolvedBy, Resolution: st.Resolution}
		if st.Status != saga.StepStatusPending && st.Status != saga.StepStatusSkipped {
			in := map[string]any{"input": json.RawMessage(redactInput(s.Input))}
			if len(outputs) > 0 {
				in["outputs"] = maps.Clone(outputs)
			}
			b, _ := json.Marshal(in)
			row.Input = prettyJSON(b)
		}
		if len(rawOutput(st.Output)) > 0 {
			outputs[st.Name] = st.Output
		}
		if i < len(s.Definition.Steps) {
			row.CompensationCommand = s.Definition.Steps[i].Compensation
		}
		if i == s.Current && (!sd.Terminal || sd.CanRetry) {
			row.Current = "current"
			sd.CurrentStep = st.Name
		}
		sd.Steps = append(sd.Steps, row)
	}
	return sd
}

// redactInput returns a saga's input with its payment token hidden (an
// order saga's payment.token): the page shows what each step receives,
// not the customer's means of payment.
func redactInput(in []byte) []byte {
	var v map[string]any
	if json.Unmarshal(in, &v) != nil {
		return in
	}
	if p, ok := v["payment"].(map[string]any); ok {
		if _, has := p["token"]; has {
			p["token"] = "(hidden)"
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return in
	}
	return b
}

// maxShownJSON bounds a step's input or output as the page shows it.
const maxShownJSON = 16 << 10

// prettyJSON indents b for people, "" when it is empty or null; past
// maxShownJSON it is cut, saying so.
func prettyJSON(b []byte) string {
	if len(rawOutput(b)) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return string(b)
	}
	if buf.Len() > maxShownJSON {
		return buf.String()[:maxShownJSON] + "\n… (cut at 16 KiB; GET /api/sagas/{id} has it whole)"
	}
	return buf.String()
}

// readModelSaga reads saga id and its steps from the sagas read model.
func (a *API) readModelSaga(ctx context.Context, id string) (sagaData, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(`SELECT type, status, current_step, reason, created_at, updated_at FROM sagas WHERE id = $1`, id)
	b.Queue(`SELECT name, status, attempts, started_at, finished_at, error, comp_status, comp_attempts, comp_error
		FROM saga_steps WHERE saga_id = $1 ORDER BY position LIMIT 100`, id)
	res := a.reads.Pool.SendBatch(ctx, b)
	defer res.Close()
	sd := sagaData{ID: id}
	err := res.QueryRow().Scan(&sd.Type, &sd.Status, &sd.CurrentStep, &sd.Reason, &sd.CreatedAt, &sd.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return sagaData{}, false, nil
	}
	if err != nil {
		return sagaData{}, false, fmt.Errorf("read saga from read model: %w", err)
	}
	rows, err := res.Query()
	if err != nil {
		return sagaData{}, false, fmt.Errorf("read saga steps: %w", err)
	}
	sd.Steps, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (stepRow, error) {
		var s stepRow
		var started, finished *time.Time
		err := row.Scan(&s.Name, &s.Status, &s.Attempts, &started, &finished, &s.Error, &s.Compensation, &s.CompAttempts, &s.CompError)
		if started != nil {
			s.StartedAt = started.UTC()
		}
		if finished != nil {
			s.FinishedAt = finished.UTC()
		}
		if s.Name == sd.CurrentStep {
			s.Current = "current"
		}
		return s, err
	})
	if err != nil {
		return sagaData{}, false, fmt.Errorf("read saga steps: %w", err)
	}
	st := saga.Status(sd.Status)
	sd.Terminal = st.Terminal()
	sd.CreatedAt, sd.UpdatedAt = sd.CreatedAt.UTC(), sd.UpdatedAt.UTC()
	return sd, true, nil
}

// readOrder adds the order's status and total from the orders read model.
func (a *API) readOrder(ctx context.Context, sd *sagaData) error {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	err := a.reads.Pool.QueryRow(ctx, `SELECT status, total_cents FROM orders WHERE id = $1`, sd.ID).
		Scan(&sd.OrderStatus, &sd.OrderTotal)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read order: %w", err)
	}
	return nil
}

// sagaPage renders /sagas/{id}, and with live its live part (the
// fragment the page refreshes).
func (p *dashPages) sagaPage(live bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := dashID(r)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		sd, err := p.a.readSaga(r.Context(), id)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		if live {
			p.d.Fragment(w, r, p.detail, "live", sd)
			return
		}
		p.d.Render(w, r, p.detail, "Saga "+id, sd)
	}
}

// operate is the dashboard's retry, abort or resolve button: the same
// call as POST /api/sagas/{id}/retry|abort|resolve, with who (the form's
// "by", else "dashboard") and why; it answers the refreshed live part with
// the outcome, or the engine's refusal, in it.
func (p *dashPages) operate(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := dashID(r)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		if err := formValues(w, r); err != nil {
			p.fail(w, r, err)
			return
		}
		b := operateBody{By: strings.TrimSpace(r.PostFormValue("by")), Reason: strings.TrimSpace(r.PostFormValue("reason")),
			Step: r.PostFormValue("step")}
		msg, refused := "", false
		if err := b.validate(action == "resolve"); err != nil {
			msg, refused = "Refused: "+err.(*httpapi.Error).Message, true
		} else {
			if b.By == "" {
				b.By = "dashboard"
			}
			in := map[string]operatorInput{"retry": retryInput, "abort": abortInput, "resolve": resolveInput}[action]
			if _, err := p.a.operateSaga(r.Context(), id, in(b, time.Now())); err != nil {
				e, ok := errors.AsType[*httpapi.Error](err)
				if !ok {
					p.fail(w, r, err)
					return
				}
				msg, refused = "Refused: "+e.Message, true
			} else {
				msg = map[string]string{"retry": "Retried: the saga runs again.",
					"abort":   "Aborted: the saga compensates what it did.",
					"resolve": "Marked resolved by " + b.By + ": the saga goes on."}[action]
			}
		}
		sd, err := p.a.readSaga(r.Context(), id)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		sd.Message, sd.Refused, sd.OOB = msg, refused, true
		p.d.Fragment(w, r, p.detail, "action", sd)
	}
}
