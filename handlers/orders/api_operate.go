package orders

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/platform/httpapi"
)

// Bounds of an operator's body.
const (
	maxBy     = 200
	maxReason = 1000
	// maxOperateBody bounds the body of an operator's action.
	maxOperateBody = 8 << 10
)

// operateBody is the optional body of POST /api/sagas/{id}/retry and
// /abort, and the body of /resolve: who acts and why (reason required to
// resolve), and for /resolve the step (the one the saga stopped at when
// empty).
type operateBody struct {
	By     string `json:"by"`
	Reason string `json:"reason"`
	Step   string `json:"step"`
}

// validate checks the body's bounds; needReason says a reason is required.
func (b operateBody) validate(needReason bool) error {
	return check(
		fieldCheck{len(b.By) <= maxBy, "by", "by is at most 200 bytes."},
		fieldCheck{!needReason || strings.TrimSpace(b.Reason) != "", "reason", "A reason is required to mark a step resolved."},
		fieldCheck{len(b.Reason) <= maxReason, "reason", "reason is at most 1000 bytes."},
		fieldCheck{b.Step == "" || validID(b.Step), "step", "step is a step's name."},
	)
}

// readOperateBody reads an operator's body: none (retry and abort), or a
// JSON object; the API's caller is "api" unless it says who.
func readOperateBody(w http.ResponseWriter, r *http.Request, needReason bool) (operateBody, error) {
	var b operateBody
	body, err := httpapi.ReadBody(w, r, maxOperateBody)
	if err != nil {
		return b, err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if _, err := httpapi.MediaType(r, "application/json"); err != nil {
			return b, err
		}
		if err := decode(body, &b); err != nil {
			return b, err
		}
	}
	if err := b.validate(needReason); err != nil {
		return b, err
	}
	if b.By == "" {
		b.By = "api"
	}
	return b, nil
}

// operatorInput is an operator's command on a saga.
type operatorInput func(b operateBody, now time.Time) any

var (
	retryInput   operatorInput = func(b operateBody, now time.Time) any { return saga.Retry{By: b.By, Reason: b.Reason, Now: now} }
	abortInput   operatorInput = func(b operateBody, now time.Time) any { return saga.Abort{By: b.By, Reason: b.Reason, Now: now} }
	resolveInput operatorInput = func(b operateBody, now time.Time) any {
		return saga.Resolve{Step: b.Step, By: b.By, Reason: strings.TrimSpace(b.Reason), Now: now}
	}
)

// operate hands an operator's command (retry, abort, resolve) to the saga:
// 202 with the saga's state, or 404 / 409 saying why the engine refuses.
func (a *API) operate(input operatorInput, needReason bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r, "saga")
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		b, err := readOperateBody(w, r, needReason)
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		d, err := a.operateSaga(r.Context(), id, input(b, time.Now()))
		if err != nil {
			httpapi.WriteError(w, r, err)
			return
		}
		w.Header().Set("X-Eventline-Seq", strconv.FormatUint(d.Seq, 10))
		httpapi.WriteJSON(w, http.StatusAccepted, sagaView(d.State))
	}
}

// operateSaga hands an operator's command (saga.Retry, Abort or Resolve)
// to saga id: the API's and the dashboard's. A refusal is an API error
// (404, 409) with the engine's reason.
func (a *API) operateSaga(ctx context.Context, id string, in any) (Decided, error) {
	d, err := a.manager.Decide(ctx, id, in)
	if err != nil {
		return Decided{}, domainError(err)
	}
	return d, nil
}

// action says whether an operator's action is allowed on a saga now, and
// when not, why (the engine's own refusal).
type action struct {
	Allowed bool   `json:"allowed"`
	Why     string `json:"why,omitempty"`
}

// sagaActions are the operator's actions on a saga and whether the engine
// would take each now.
type sagaActions struct {
	Retry   action `json:"retry"`
	Abort   action `json:"abort"`
	Resolve action `json:"resolve"`
	// RetryNow is true when Retry would start an attempt that waits for
	// its delay (rather than resume a stopped saga).
	RetryNow bool `json:"retry_now,omitempty"`
}

// actionsOf asks the engine (saga.Decide, which changes nothing) whether
// each operator's action would be taken on s now.
func actionsOf(s saga.State) sagaActions {
	now := time.Now()
	try := func(in any) action {
		if _, err := saga.Decide(s, in); err != nil {
			return action{Why: refusal(err)}
		}
		return action{Allowed: true}
	}
	acts := sagaActions{
		Retry:   try(saga.Retry{By: "check", Now: now}),
		Abort:   try(saga.Abort{By: "check", Now: now}),
		Resolve: try(saga.Resolve{By: "check", Reason: "check", Now: now}),
	}
	acts.RetryNow = acts.Retry.Allowed && (s.Status == saga.StatusRunning || s.Status == saga.StatusCompensating)
	return acts
}

// refusal is the engine's refusal as a sentence for people.
func refusal(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "saga: ")
	if msg != "" {
		r, n := utf8.DecodeRuneInString(msg)
		msg = strings.ToUpper(string(r)) + msg[n:]
	}
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// operatorError maps the engine's refusals of an operator's command.
func operatorError(err error) (error, bool) {
	switch {
	case errors.Is(err, saga.ErrNotRetriable), errors.Is(err, saga.ErrNotRunning), errors.Is(err, saga.ErrAbortRefused),
		errors.Is(err, saga.ErrNotResolvable):
		return httpapi.Errorf(http.StatusConflict, "not_allowed", refusal(unwrapSaga(err))), true
	}
	return nil, false
}

// unwrapSaga drops the "saga <id>: " the manager puts in front of the
// engine's error.
func unwrapSaga(err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "saga ") {
		if _, rest, ok := strings.Cut(msg, ": "); ok {
			return errors.New(rest)
		}
	}
	return err
}
