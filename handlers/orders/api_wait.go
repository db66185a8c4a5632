package orders

import (
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/handlers/httpapi"
)

// maxWait bounds GET /api/sagas/{id}?wait=.
const maxWait = 30 * time.Second

// getSaga answers the saga's state; with ?wait= as soon as it is terminal
// or the wait is over, without polling: it subscribes to the saga's
// subject before loading the state, and loads again only when an event of
// the saga arrives.
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
	var woken <-chan struct{}
	if wait > 0 && a.reads.Notify != nil {
		ch, stop, ok := a.watch(id)
		if ok {
			defer stop()
			woken = ch
		}
	}
	s, err := a.loadSaga(r, id)
	if err != nil || woken == nil || s.Status.Terminal() {
		a.answerSaga(w, r, s, err)
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-r.Context().Done():
			return // the client went away: nobody to answer
		case <-timer.C:
			s, err = a.loadSaga(r, id)
			a.answerSaga(w, r, s, err)
			return
		case <-woken:
			if s, err = a.loadSaga(r, id); err != nil || s.Status.Terminal() {
				a.answerSaga(w, r, s, err)
				return
			}
		}
	}
}

// loadSaga loads saga id from its command loop; a saga that does not
// exist is a 404 error.
func (a *API) loadSaga(r *http.Request, id string) (saga.State, error) {
	s, _, err := a.manager.Sagas().Load(r.Context(), id)
	if err == nil && !s.Exists() {
		err = httpapi.Errorf(http.StatusNotFound, "not_found", "No such saga.")
	}
	return s, err
}

func (a *API) answerSaga(w http.ResponseWriter, r *http.Request, s saga.State, err error) {
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, sagaView(s))
}

// watch subscribes to saga id's subject: the channel receives (coalesced)
// when an event of the saga is published; stop unsubscribes and frees the
// waiter's slot. ok is false when every slot is taken or the subscription
// failed: the caller answers at once.
func (a *API) watch(id string) (woken <-chan struct{}, stop func(), ok bool) {
	select {
	case a.waiters <- struct{}{}:
	default:
		return nil, nil, false
	}
	ch := make(chan struct{}, 1)
	sub, err := a.reads.Notify.Subscribe(saga.Subject(id), func(*nats.Msg) {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	if err != nil {
		<-a.waiters
		return nil, nil, false
	}
	return ch, func() {
		_ = sub.Unsubscribe()
		<-a.waiters
	}, true
}
