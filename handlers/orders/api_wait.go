package orders

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/platform/httpapi"
)

// maxWait bounds GET /api/sagas/{id}?wait=.
const maxWait = 30 * time.Second

// deadlineMargin is kept from the request's deadline (the server's read
// timeout) to load and answer the current state.
const deadlineMargin = 250 * time.Millisecond

// getSaga answers the saga's state; with ?wait= as soon as it is terminal
// or the wait is over (Manager.Await: no polling). The wait ends before the
// request's deadline, if it has one, to answer in time; a request the
// server gave no wait slot (httpapi.MayWait) answers at once.
func (a *API) getSaga(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "saga")
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			httpapi.WriteError(w, r, httpapi.FieldErr("wait", "wait must be a duration such as 10s."))
			return
		}
		wait = min(d, maxWait)
	}
	if dl, ok := r.Context().Deadline(); ok {
		wait = min(wait, time.Until(dl)-deadlineMargin)
	}
	if !httpapi.MayWait(r.Context()) {
		// The server's long polls are at their bound (kept below its
		// connection cap): the current state at once.
		wait = 0
	}
	if wait > 0 {
		select {
		case a.waiters <- struct{}{}: // bounded: beyond it, answer at once
			defer func() { <-a.waiters }()
		default:
			wait = 0
		}
	}
	if wait <= 0 {
		s, _, err := a.loadSaga(r, id)
		a.answerSaga(w, r, s, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	s, err := a.manager.Await(ctx, id)
	switch {
	case r.Context().Err() != nil:
		return // the client went away: nobody to answer
	case errors.Is(err, ErrTooManyWaiters):
		s, _, err = a.loadSaga(r, id)
	case err == nil && !s.Exists():
		err = httpapi.Errorf(http.StatusNotFound, "not_found", "No such saga.")
	}
	a.answerSaga(w, r, s, err)
}

// loadSaga loads saga id from its command loop with its last subject
// sequence; a saga that does not exist is a 404 error.
func (a *API) loadSaga(r *http.Request, id string) (saga.State, uint64, error) {
	s, seq, err := a.manager.Sagas().Load(r.Context(), id)
	if err == nil && !s.Exists() {
		err = httpapi.Errorf(http.StatusNotFound, "not_found", "No such saga.")
	}
	return s, seq, err
}

func (a *API) answerSaga(w http.ResponseWriter, r *http.Request, s saga.State, err error) {
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, sagaView(s))
}
