package orders

import (
	"context"
	"errors"
	"fmt"
	json "github.com/go-json-experiment/json/v1"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/httpapi"
)

// Bounds of GET /api/sagas/{id}/events.
const (
	eventsDefaultLimit = 1000
	eventsMaxLimit     = 1000
)

// eventEntry is one event of a saga's history as the timeline shows it.
// A stored message that records one decision of several events gives one
// entry per event, all with the message's seq.
type eventEntry struct {
	Seq          uint64     `json:"seq"`
	Type         string     `json:"type"`
	At           time.Time  `json:"at"`
	Step         string     `json:"step,omitempty"`
	Attempt      int        `json:"attempt,omitempty"`
	Compensation bool       `json:"compensation,omitempty"`
	Failure      string     `json:"failure,omitempty"`
	Error        string     `json:"error,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	Final        bool       `json:"final,omitempty"`
	TimedOut     bool       `json:"timed_out,omitempty"`
	Deadline     *time.Time `json:"deadline,omitempty"`
	Due          *time.Time `json:"due,omitempty"`
	By           string     `json:"by,omitempty"`
	// RetryNow is true on an operator's retry that started an attempt
	// waiting for its delay.
	RetryNow bool `json:"retry_now,omitempty"`
	// DrivenBy is the process that recorded the event (EVENTLINE_PROCESS_ID).
	DrivenBy   string   `json:"driven_by,omitempty"`
	Output     any      `json:"output,omitempty"`
	Steps      []string `json:"steps,omitempty"`
	Definition string   `json:"definition,omitempty"`
}

// eventsPage is the answer of GET /api/sagas/{id}/events.
type eventsPage struct {
	SagaID string       `json:"saga_id"`
	Events []eventEntry `json:"events"`
	// Truncated is true when the history goes on past Events; NextAfter
	// is then the ?after= that reads on.
	Truncated bool   `json:"truncated"`
	NextAfter uint64 `json:"next_after,omitempty"`
}

// sagaStream is a handle on the SAGAS stream of the read connection,
// looked up once: its cached configuration makes GetMsg a direct get.
type sagaStream struct {
	mu sync.Mutex
	st jetstream.Stream
}

func (s *sagaStream) get(ctx context.Context, store *eventstore.Store) (jetstream.Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st != nil {
		return s.st, nil
	}
	st, err := store.JetStream().Stream(ctx, saga.Stream)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w: %w", saga.Stream, eventstore.ErrUnavailable, err)
	}
	s.st = st
	return st, nil
}

// sagaEvents answers a saga's history, read from its subject with direct
// gets (no consumer), in order, at most ?limit= entries (1..1000) after
// the stream sequence ?after=.
func (a *API) sagaEvents(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "saga")
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	limit, err := httpapi.QueryInt(r, "limit", eventsDefaultLimit, eventsMaxLimit)
	if err == nil && limit == 0 {
		err = httpapi.FieldErr("limit", fmt.Sprintf("limit must be between 1 and %d.", eventsMaxLimit))
	}
	var after int64
	if err == nil {
		after, err = httpapi.QueryInt(r, "after", 0, 0)
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	page, err := a.readHistory(r.Context(), id, uint64(after), int(limit))
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
}

// readHistory reads saga id's messages after stream sequence after,
// flattened into at most limit entries (more only when the first message
// alone holds more); a message is never split across pages.
func (a *API) readHistory(ctx context.Context, id string, after uint64, limit int) (eventsPage, error) {
	st, err := a.events.get(ctx, a.reads.Events)
	if err != nil {
		return eventsPage{}, err
	}
	subject := saga.Subject(id)
	page := eventsPage{SagaID: id, Events: []eventEntry{}}
	table := saga.Events()
	for next, first := after+1, true; ; first = false {
		m, err := st.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			if first && after == 0 {
				return eventsPage{}, httpapi.Errorf(http.StatusNotFound, "not_found", "No such saga.")
			}
			return page, nil
		}
		if err != nil {
			return eventsPage{}, fmt.Errorf("read %s: %w: %w", subject, eventstore.ErrUnavailable, err)
		}
		entries, err := historyEntries(table, m)
		if err != nil {
			return eventsPage{}, fmt.Errorf("read %s #%d: %w", subject, m.Sequence, err)
		}
		// A page holds whole messages, and at least one (a message holds
		// at most a handful of events), so that it always moves on.
		if len(page.Events) > 0 && len(page.Events)+len(entries) > limit {
			page.Truncated, page.NextAfter = true, page.Events[len(page.Events)-1].Seq
			return page, nil
		}
		page.Events = append(page.Events, entries...)
		next = m.Sequence + 1
	}
}

// historyEntries flattens one stored message of a saga into entries.
func historyEntries(table map[string]func([]byte) (any, error), m *jetstream.RawStreamMsg) ([]eventEntry, error) {
	env, err := eventstore.UnmarshalEnvelope(m.Data)
	if err != nil {
		return nil, err
	}
	decode, ok := table[env.Type]
	if !ok {
		// A type this process does not know (a newer writer): shown, not
		// interpreted.
		return []eventEntry{{Seq: m.Sequence, Type: env.Type, At: env.OccurredAt, DrivenBy: m.Header.Get(eventstore.HeaderProcess)}}, nil
	}
	data, err := decode(env.Data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", env.Type, err)
	}
	events := saga.Flatten(env.Type, data)
	out := make([]eventEntry, len(events))
	by := m.Header.Get(eventstore.HeaderProcess)
	for i, e := range events {
		out[i] = entryOf(m.Sequence, e)
		out[i].DrivenBy = by
		if out[i].At.IsZero() {
			out[i].At = env.OccurredAt
		}
	}
	return out, nil
}

// entryOf describes one saga event.
func entryOf(seq uint64, e saga.Event) eventEntry {
	en := eventEntry{Seq: seq, Type: e.Type}
	switch d := e.Data.(type) {
	case *saga.Started:
		// The input (with its payment token) is not shown: GET
		// /api/orders/{id} shows the order.
		en.At, en.Definition = d.At, d.Definition.Type
		for _, st := range d.Definition.Steps {
			en.Steps = append(en.Steps, st.Name)
		}
	case *saga.StepStarted:
		en.At, en.Step, en.Attempt, en.Deadline = d.At, d.Step, d.Attempt, timePtr(d.Deadline)
	case *saga.StepCompleted:
		en.At, en.Step, en.Attempt, en.Output = d.At, d.Step, d.Attempt, rawJSON(d.Output)
	case *saga.StepFailed:
		en.At, en.Step, en.Attempt, en.Failure, en.Error, en.Final = d.At, d.Step, d.Attempt, string(d.Failure), d.Error, d.Final
	case *saga.StepTimedOut:
		en.At, en.Step, en.Attempt, en.Deadline, en.Final, en.TimedOut = d.At, d.Step, d.Attempt, timePtr(d.Deadline), d.Final, true
	case *saga.RetryScheduled:
		en.At, en.Step, en.Attempt, en.Compensation, en.Due = d.At, d.Step, d.Attempt, d.Compensation, timePtr(d.Due)
	case *saga.CompensationStarted:
		en.At, en.Step, en.Attempt, en.Compensation, en.Deadline = d.At, d.Step, d.Attempt, true, timePtr(d.Deadline)
	case *saga.StepCompensated:
		en.At, en.Step, en.Attempt, en.Compensation = d.At, d.Step, d.Attempt, true
	case *saga.CompensationFailed:
		en.At, en.Step, en.Attempt, en.Compensation = d.At, d.Step, d.Attempt, true
		en.Failure, en.Error, en.TimedOut = string(d.Failure), d.Error, d.TimedOut
	case *saga.Completed:
		en.At = d.At
	case *saga.Compensated:
		en.At = d.At
	case *saga.NeedsAttention:
		en.At, en.Step, en.Reason = d.At, d.Step, d.Reason
	case *saga.SagaFailed:
		en.At, en.Step, en.Reason = d.At, d.Step, d.Reason
	case *saga.Retried:
		en.At, en.By, en.Reason, en.RetryNow = d.At, d.By, d.Reason, d.Now
	case *saga.Resolved:
		en.At, en.Step, en.By, en.Reason = d.At, d.Step, d.By, d.Reason
	case *saga.Aborted:
		en.At, en.By, en.Reason = d.At, d.By, d.Reason
	}
	return en
}

// rawJSON returns b to embed as JSON, or nil when empty or null.
func rawJSON(b []byte) any {
	s := strings.TrimSpace(string(b))
	if s == "" || s == "null" {
		return nil
	}
	return json.RawMessage(b)
}
