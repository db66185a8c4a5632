package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/eventstore/aggregate"
)

// Sagas is the command loop of the saga aggregate.
type Sagas = aggregate.Handler[saga.State, any]

// SagaDefinition is the saga aggregate as the command loop runs it:
// saga.Decide and saga.Evolve on subject saga.<id> of stream SAGAS.
func SagaDefinition() aggregate.Definition[saga.State, any] {
	return aggregate.Definition[saga.State, any]{
		Stream:  saga.Stream,
		Subject: saga.Subject,
		Initial: func() saga.State { return saga.State{} },
		Evolve:  func(s saga.State, ev aggregate.Recorded) saga.State { return saga.Evolve(s, ev.Type, ev.Data) },
		Decide: func(s saga.State, in any) ([]aggregate.Event, error) {
			d, err := saga.Decide(s, in)
			if err != nil || len(d.Events) == 0 {
				return nil, err
			}
			// One message per decision (saga.Pack): one publish, atomic.
			e := saga.Pack(d.Events)
			return []aggregate.Event{{Type: e.Type, Data: e.Data}}, nil
		},
	}
}

// Manager is the process manager of sagas: it decides every input of a
// saga through the saga's command loop and carries out what was decided
// (commands, timers, the order's confirmation).
type Manager struct {
	store *eventstore.Store
	reg   *eventstore.Registry
	sagas *Sagas
	now   func() time.Time
}

// NewManager returns a process manager over store, decoding through reg
// (Events() when nil).
func NewManager(store *eventstore.Store, reg *eventstore.Registry) (*Manager, error) {
	if reg == nil {
		reg = Registry()
	}
	h, err := aggregate.New(store, reg, SagaDefinition(), aggregate.Options{})
	if err != nil {
		return nil, fmt.Errorf("saga manager: %w", err)
	}
	return &Manager{store: store, reg: reg, sagas: h, now: time.Now}, nil
}

// Registry returns a decode table of the module's events alone (Events).
func Registry() *eventstore.Registry {
	reg := eventstore.NewRegistry()
	reg.RegisterAll(Events())
	return reg
}

// Sagas returns the saga command loop, for reading a saga's state (Load).
func (m *Manager) Sagas() *Sagas { return m.sagas }

// Decided is what Decide did.
type Decided struct {
	// State is the saga's state after the input.
	State saga.State
	// Events is how many events the input appended (0: it decided
	// nothing, being a duplicate or stale).
	Events int
	// Seq is the saga's last subject sequence after the input.
	Seq uint64
}

// Decide decides input in (saga.Start, Reply, Fire, Retry or Abort) on
// saga sagaID, appends the events decided with the expected sequence, then
// sends their effects. A domain error of saga.Decide is returned
// unchanged (wrapped); the effects' sends fail with the store's error, and
// the caller's redelivery re-issues them (Reissue).
func (m *Manager) Decide(ctx context.Context, sagaID string, in any) (Decided, error) {
	return m.decide(ctx, sagaID, in, aggregate.Meta{CorrelationID: sagaID})
}

func (m *Manager) decide(ctx context.Context, sagaID string, in any, meta aggregate.Meta) (Decided, error) {
	res, err := m.sagas.Handle(ctx, sagaID, in, meta)
	if err != nil {
		return Decided{}, fmt.Errorf("saga %s: %w", sagaID, err)
	}
	d := Decided{State: res.State, Events: len(res.Events), Seq: res.Seq}
	if d.Events == 0 {
		return d, nil
	}
	events := make([]saga.Event, 0, len(res.Events))
	confirm := false
	for _, a := range res.Events {
		data, err := m.reg.Decode(a.Envelope)
		if err != nil {
			return d, fmt.Errorf("saga %s: decode %s: %w", sagaID, a.Envelope.Type, err)
		}
		for _, e := range saga.Flatten(a.Envelope.Type, data) {
			if c, ok := e.Data.(*saga.StepCompleted); ok && c.Step == saga.StepProcessPayment && res.State.Definition.Type == saga.OrderSagaType {
				confirm = true
			}
			events = append(events, e)
		}
	}
	cmds, timers := saga.Effects(res.State, events)
	return d, m.send(ctx, res.State, cmds, timers, confirm)
}

// Start starts saga sagaID of definition def with input; dedupeID, when
// set, is the publish dedupe id of its first events (an Idempotency-Key's).
func (m *Manager) Start(ctx context.Context, sagaID string, def saga.Definition, input json.RawMessage, dedupeID string) (Decided, error) {
	return m.decide(ctx, sagaID, saga.Start{SagaID: sagaID, Definition: def, Input: input, Now: m.now()},
		aggregate.Meta{CorrelationID: sagaID, DedupeID: dedupeID})
}

// Reissue sends again what saga s waits on (saga.Outstanding), and the
// confirmation of an order saga past its pivot: what a lost send left
// undone. Sending twice is harmless.
func (m *Manager) Reissue(ctx context.Context, s saga.State) error {
	cmds, timers := saga.Outstanding(s)
	confirm := false
	if s.Definition.Type == saga.OrderSagaType {
		if i := s.StepIndex(saga.StepProcessPayment); i >= 0 && s.Steps[i].Status == saga.StepStatusCompleted {
			confirm = true
		}
	}
	return m.send(ctx, s, cmds, timers, confirm)
}

// Resume re-issues what every saga that is not terminal waits on, so that
// a restarted process resumes every running saga; it returns how many it
// resumed.
func (m *Manager) Resume(ctx context.Context) (int, error) {
	st, err := m.store.JetStream().Stream(ctx, saga.Stream)
	if err != nil {
		return 0, fmt.Errorf("resume sagas: %w", err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(saga.Subjects))
	if err != nil {
		return 0, fmt.Errorf("resume sagas: %w", err)
	}
	n := 0
	for subject := range info.State.Subjects {
		id := strings.TrimPrefix(subject, "saga.")
		s, _, err := m.sagas.Load(ctx, id)
		if err != nil {
			return n, fmt.Errorf("resume saga %s: %w", id, err)
		}
		if !s.Exists() || s.Status.Terminal() {
			continue
		}
		if err := m.Reissue(ctx, s); err != nil {
			return n, fmt.Errorf("resume saga %s: %w", id, err)
		}
		n++
	}
	return n, nil
}

// send publishes the commands and timers of saga s, and its order's
// confirmation when confirm, all in flight at once.
func (m *Manager) send(ctx context.Context, s saga.State, cmds []saga.Command, timers []saga.Timer, confirm bool) error {
	var pending []*eventstore.Pending
	publish := func(subject, typ string, payload any, opts ...eventstore.AppendOption) error {
		env, err := eventstore.NewEnvelope(typ, payload)
		if err != nil {
			return err
		}
		env.CorrelationID = s.ID
		p, err := m.store.AppendAsync(subject, env, opts...)
		if err != nil {
			return err
		}
		pending = append(pending, p)
		return nil
	}
	var err error
	for _, c := range cmds {
		if err = publish(CommandSubject(c.Type, c.SagaID), CommandV1, newCommandMessage(c),
			eventstore.WithDedupeID(c.Key+":"+strconv.Itoa(c.Attempt))); err != nil {
			break
		}
	}
	now := m.now()
	for _, t := range timers {
		if err != nil {
			break
		}
		if !t.At.After(now) {
			// Due already: fire it now rather than schedule it in the past.
			err = publish(FiredSubject(t.SagaID), TimerV1, t, eventstore.WithDedupeID("fired:"+t.ID()))
			continue
		}
		// Schedules have whole seconds: round up, never fire early.
		at := t.At.Truncate(time.Second)
		if at.Before(t.At) {
			at = at.Add(time.Second)
		}
		err = publish(TimerSubject(t), TimerV1, t, eventstore.WithScheduleAt(at),
			eventstore.WithScheduleTarget(FiredSubject(t.SagaID)), eventstore.WithDedupeID(t.ID()))
	}
	if confirm && err == nil {
		err = publish(ConfirmSubject(s.ID), ConfirmV1, ConfirmMessage{SagaID: s.ID, Input: s.Input},
			eventstore.WithDedupeID(s.ID+":confirm"))
	}
	for _, p := range pending {
		if _, werr := p.Wait(ctx); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return fmt.Errorf("saga %s: send effects: %w", s.ID, err)
	}
	return nil
}
