package orders

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/handlers/httpapi"
)

// maxWait bounds GET /api/sagas/{id}?wait=.
const maxWait = 30 * time.Second

// Bounds of the re-reads after a notification: the publish reaches a
// subscriber when JetStream receives it, a moment before a read of the
// stream sees it stored.
const (
	visibleTries = 8
	visibleDelay = time.Millisecond // doubling: at most ~255 ms in all
	// deadlineMargin is kept from the request's deadline (the server's read
	// timeout) to load and answer the current state.
	deadlineMargin = 250 * time.Millisecond
)

// getSaga answers the saga's state; with ?wait= as soon as it is terminal
// or the wait is over, without polling: it subscribes to the saga's
// subject before loading the state, and loads again only when an event of
// the saga is published. The wait ends before the request's deadline, if
// it has one, to answer in time.
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
	var wt *waiter
	if wait > 0 && a.reads.Notify != nil {
		if wt = a.watch(id); wt != nil {
			defer wt.stop()
		}
	}
	s, seq, err := a.loadSaga(r, id)
	if err != nil || wt == nil || s.Status.Terminal() {
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
			s, _, err = a.loadSaga(r, id)
			a.answerSaga(w, r, s, err)
			return
		case <-wt.woken:
		}
		need := wt.need(seq)
		for try := 0; ; try++ {
			if s, seq, err = a.loadSaga(r, id); err != nil || s.Status.Terminal() {
				a.answerSaga(w, r, s, err)
				return
			}
			if seq > need || try == visibleTries {
				break
			}
			select {
			case <-r.Context().Done():
				return
			case <-timer.C:
				a.answerSaga(w, r, s, nil)
				return
			case <-time.After(visibleDelay << try):
			}
		}
	}
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

// waiter is a subscription to one saga's subject.
type waiter struct {
	// woken receives (coalesced) when an event of the saga is published.
	woken chan struct{}
	// expected is the highest last-subject-sequence expectation of the
	// publishes heard, or -1 when one had none.
	expected atomic.Int64
	stop     func()
}

// need returns the subject sequence a load must pass to hold what was
// published: above every expectation heard, or, when a publish had none,
// above had (the sequence loaded before).
func (wt *waiter) need(had uint64) uint64 {
	e := wt.expected.Swap(0)
	if e < 0 {
		return had
	}
	return uint64(e)
}

// watch subscribes to saga id's subject; stop unsubscribes and frees the
// waiter's slot. It returns nil when every slot is taken or the
// subscription failed: the caller answers at once.
func (a *API) watch(id string) *waiter {
	select {
	case a.waiters <- struct{}{}:
	default:
		return nil
	}
	wt := &waiter{woken: make(chan struct{}, 1)}
	sub, err := a.reads.Notify.Subscribe(saga.Subject(id), func(m *nats.Msg) {
		e, err := strconv.ParseInt(m.Header.Get(jetstream.ExpectedLastSubjSeqHeader), 10, 64)
		if err != nil {
			e = -1
		}
		for {
			old := wt.expected.Load()
			if old < 0 || (e >= 0 && e <= old) || wt.expected.CompareAndSwap(old, e) {
				break
			}
		}
		select {
		case wt.woken <- struct{}{}:
		default:
		}
	})
	if err != nil {
		<-a.waiters
		return nil
	}
	wt.stop = func() {
		_ = sub.Unsubscribe()
		<-a.waiters
	}
	return wt
}
