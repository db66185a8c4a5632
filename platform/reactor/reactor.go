package reactor

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventline/eventline/eventstore"
)

// Event is one message as a handler sees it: where it sits in its stream,
// which delivery this is, and its decoded envelope.
type Event struct {
	// Stream and Seq locate the message; Subject is the subject it was
	// appended to.
	Stream  string
	Subject string
	Seq     uint64
	// Time is when JetStream stored the message.
	Time time.Time
	// Attempt counts deliveries of this message to the reactor, from 1.
	Attempt int
	// Header holds the message headers.
	Header nats.Header
	// Envelope is the decoded event: id, type, correlation, causation, data.
	Envelope eventstore.Envelope
}

// Handler reacts to one event. Its effects go through fx, so that a
// redelivery appends nothing new. It returns nil once every effect is
// stored; an error marked Permanent parks the message, a transient one
// (IsTransient) is retried indefinitely with backoff, any other is retried
// until the reactor's Policy.MaxAttempts deliveries are spent, then parked.
type Handler func(ctx context.Context, ev Event, fx *Effects) error

// Policy is how a reactor consumes and retries. Zero fields take defaults.
type Policy struct {
	// MaxAttempts is how many deliveries a message that fails with an
	// unclassified error gets before it is parked (5). Transient failures
	// are never parked, but they do count as deliveries.
	MaxAttempts int
	// MinBackoff is the redelivery delay after the first failure (100ms);
	// it doubles with each delivery, with jitter, up to MaxBackoff (30s).
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// AckWait is how long JetStream waits for an acknowledgement before it
	// redelivers (30s); it is also the handler's time limit unless TimeLimit
	// is longer.
	AckWait time.Duration
	// TimeLimit, when longer than AckWait, is the handler's time limit:
	// while the handler runs, the message is marked in progress every third
	// of AckWait, so that a live handler keeps it and a dead process's
	// message is redelivered after AckWait (long work such as a sync).
	TimeLimit time.Duration
	// MaxAckPending bounds the messages in flight in the reactor (256).
	MaxAckPending int
}

// withDefaults fills the zero fields of p.
func (p Policy) withDefaults() Policy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 5
	}
	if p.MinBackoff == 0 {
		p.MinBackoff = 100 * time.Millisecond
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = 30 * time.Second
	}
	if p.AckWait == 0 {
		p.AckWait = 30 * time.Second
	}
	if p.TimeLimit < p.AckWait {
		p.TimeLimit = p.AckWait
	}
	if p.MaxAckPending == 0 {
		p.MaxAckPending = 256
	}
	return p
}

// Reactor declares one reactor: what it consumes and how it reacts.
type Reactor struct {
	// Name identifies the reactor; its durable consumer is "react_<Name>".
	Name string
	// Stream is the existing stream it consumes; it is never created or
	// changed here.
	Stream string
	// Subjects filter the stream (every subject when empty).
	Subjects []string
	// Handler reacts to each event.
	Handler Handler
	// Policy tunes consumption and retries.
	Policy Policy
}

// namePattern is the shape of a reactor name, usable in a consumer name.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,60}$`)

// ConsumerPrefix starts the name of every reactor's durable consumer.
const ConsumerPrefix = "react_"

// Consumer is the durable consumer name of the reactor.
func (r Reactor) Consumer() string { return ConsumerPrefix + r.Name }

// Validate reports every problem of the declaration at once.
func (r Reactor) Validate() error {
	var errs []error
	if !namePattern.MatchString(r.Name) {
		errs = append(errs, fmt.Errorf("reactor name %q: want lowercase letters, digits, '_' or '-'", r.Name))
	}
	if r.Stream == "" {
		errs = append(errs, fmt.Errorf("reactor %q: no stream", r.Name))
	}
	if r.Handler == nil {
		errs = append(errs, fmt.Errorf("reactor %q: no handler", r.Name))
	}
	p := r.Policy
	if p.MaxAttempts < 0 || p.MinBackoff < 0 || p.MaxBackoff < 0 || p.AckWait < 0 || p.TimeLimit < 0 || p.MaxAckPending < 0 {
		errs = append(errs, fmt.Errorf("reactor %q: negative policy value", r.Name))
	}
	return errors.Join(errs...)
}

// Registry lists the reactors a binary runs; serve starts them and the CLI
// inspects their parked messages. Domain modules add theirs at start-up.
type Registry struct {
	reactors []Reactor
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Add registers r; an invalid declaration or a name taken twice is an error.
func (g *Registry) Add(r Reactor) error {
	if err := r.Validate(); err != nil {
		return err
	}
	for _, o := range g.reactors {
		if o.Name == r.Name {
			return fmt.Errorf("reactor %q registered twice", r.Name)
		}
	}
	g.reactors = append(g.reactors, r)
	return nil
}

// All lists the registered reactors in the order they were added.
func (g *Registry) All() []Reactor { return append([]Reactor(nil), g.reactors...) }

// Get returns the reactor called name.
func (g *Registry) Get(name string) (Reactor, error) {
	for _, r := range g.reactors {
		if r.Name == name {
			return r, nil
		}
	}
	return Reactor{}, fmt.Errorf("%w %q", ErrUnknownReactor, name)
}
