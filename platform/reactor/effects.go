package reactor

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/eventline/eventline/eventstore"
)

// appender stores events; *eventstore.Store is one.
type appender interface {
	Append(ctx context.Context, subject string, expected int64, env eventstore.Envelope, opts ...eventstore.AppendOption) (eventstore.Ack, error)
}

// effectNamespace is the UUIDv5 namespace of effect ids.
var effectNamespace = uuid.MustParse("6f1d7a2c-3e0b-5b8e-9a4f-2c1e5d7b9a10")

// EffectID is the deterministic id of the index-th effect (from 0) that
// reactor appends in reaction to the event source: the same on every
// delivery of that event.
func EffectID(reactor string, source uuid.UUID, index int) uuid.UUID {
	return uuid.NewSHA1(effectNamespace, []byte(reactor+"\x00"+source.String()+"\x00"+strconv.Itoa(index)))
}

// Effects appends what a handler decides, the same way for every handler:
// each event gets a deterministic id (EffectID: reactor, handled event,
// index of the effect in this handling), which is also its publish dedupe
// id, so a redelivered message appends nothing new; it carries the handled
// event's correlation id (its id when it has none) and the handled event's
// id as causation. Handlers must append their effects in the same order on
// every delivery. JetStream remembers dedupe ids for its duplicate window
// (2 min): an effect on an aggregate should also pass the expected subject
// sequence, and a consumer of effects can rely on the ids being stable.
type Effects struct {
	store   appender
	reactor string
	source  eventstore.Envelope
	n       int
	acks    []eventstore.Ack
}

// NewEffects returns the effects of reactor's handling of source, appended
// through store.
func NewEffects(store appender, reactor string, source eventstore.Envelope) *Effects {
	return &Effects{store: store, reactor: reactor, source: source}
}

// Envelope builds the next effect's envelope: payload as data, the
// deterministic id, correlation and causation. It does not append.
func (fx *Effects) Envelope(eventType string, payload any) (eventstore.Envelope, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return eventstore.Envelope{}, fmt.Errorf("marshal %s: %w", eventType, err)
	}
	env := eventstore.Envelope{ID: EffectID(fx.reactor, fx.source.ID, fx.n), Type: eventType, OccurredAt: time.Now().UTC(), Data: data}
	fx.n++
	env.CorrelationID = fx.source.CorrelationID
	if env.CorrelationID == "" {
		env.CorrelationID = fx.source.ID.String()
	}
	env.CausationID = fx.source.ID.String()
	return env, nil
}

// Append stores the next effect on subject; expected is the subject's
// expected last sequence or eventstore.NoExpectation. A duplicate (the
// effect was stored by an earlier delivery) is success.
func (fx *Effects) Append(ctx context.Context, subject string, expected int64, eventType string, payload any, opts ...eventstore.AppendOption) (eventstore.Ack, error) {
	env, err := fx.Envelope(eventType, payload)
	if err != nil {
		return eventstore.Ack{}, Permanent(err)
	}
	opts = append(opts, eventstore.WithDedupeID(env.ID.String()))
	ack, err := fx.store.Append(ctx, subject, expected, env, opts...)
	if err != nil {
		return ack, fmt.Errorf("effect %d of %s: %w", fx.n-1, fx.source.ID, err)
	}
	fx.acks = append(fx.acks, ack)
	return ack, nil
}

// Acks lists the acknowledgements of the effects appended so far.
func (fx *Effects) Acks() []eventstore.Ack { return append([]eventstore.Ack(nil), fx.acks...) }
