package reactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Subscriber is a watermill message.Subscriber over one reactor's durable
// JetStream pull consumer. The topic passed to Subscribe is the stream name.
//
// It is written here instead of using watermill-nats/v2 pkg/jetstream
// (v2.1.3) because that subscriber falls short for us: its Close drains the
// NATS connection it was given, and ours is the Store's shared,
// authenticated connection; its consume callback waits for each message's
// ack before taking the next, so a reactor would handle one message at a
// time (a hop costs a publish round trip, so 200 chains in flight need
// hundreds of messages in flight); its ExistingConsumer assumes the stream
// is named like the topic and it hides the stream sequence and delivery
// count the handler and the parking need; and it logs every message at
// Info. This one keeps up to MaxAckPending messages in flight, acks only
// after the handler returned (its effects stored), NAKs a failure with an
// exponential delay by delivery count, and on Close stops taking messages
// but still acks or NAKs the ones in flight.
type Subscriber struct {
	js     jetstream.JetStream
	r      Reactor
	policy Policy
	log    *slog.Logger

	closing   chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	iters     []jetstream.MessagesContext
	loops     sync.WaitGroup
	inflight  sync.WaitGroup
	// abandon releases the ack waiters when Close gives up on handlers
	// that overran: JetStream redelivers their messages after AckWait.
	abandon chan struct{}
	// closeTimeout bounds how long Close waits for messages in flight.
	closeTimeout time.Duration
}

// NewSubscriber returns a subscriber for r's consumer on js. The stream
// must exist; the consumer is created or updated on Subscribe.
func NewSubscriber(js jetstream.JetStream, r Reactor, closeTimeout time.Duration, log *slog.Logger) *Subscriber {
	if log == nil {
		log = slog.Default()
	}
	if closeTimeout <= 0 {
		closeTimeout = 10 * time.Second
	}
	return &Subscriber{js: js, r: r, policy: r.Policy.withDefaults(), log: log,
		closing: make(chan struct{}), abandon: make(chan struct{}), closeTimeout: closeTimeout}
}

// ConsumerConfig is the durable consumer a reactor reads through.
func ConsumerConfig(r Reactor) jetstream.ConsumerConfig {
	p := r.Policy.withDefaults()
	cfg := jetstream.ConsumerConfig{
		Durable:       r.Consumer(),
		Description:   "reactor " + r.Name,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       p.AckWait,
		MaxAckPending: p.MaxAckPending,
		MaxDeliver:    -1,
	}
	switch len(r.Subjects) {
	case 0:
	case 1:
		cfg.FilterSubject = r.Subjects[0]
	default:
		cfg.FilterSubjects = r.Subjects
	}
	return cfg
}

// Subscribe creates or updates the reactor's durable consumer on the
// existing stream topic and returns its messages. Each message's context
// carries the delivery (stream, seq, subject, attempt) and ends after
// AckWait; it does not end when ctx does, so that a closing router lets
// the handlers in flight finish.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	stream, err := s.js.Stream(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("reactor %s: open stream %s: %w", s.r.Name, topic, err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, ConsumerConfig(s.r))
	if err != nil {
		return nil, fmt.Errorf("reactor %s: consumer %s: %w", s.r.Name, s.r.Consumer(), err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(min(s.policy.MaxAckPending, 500)))
	if err != nil {
		return nil, fmt.Errorf("reactor %s: consume: %w", s.r.Name, err)
	}
	s.mu.Lock()
	select {
	case <-s.closing:
		s.mu.Unlock()
		it.Stop()
		return nil, fmt.Errorf("reactor %s: subscriber closed", s.r.Name)
	default:
	}
	s.iters = append(s.iters, it)
	s.mu.Unlock()
	// A small buffer decouples this loop from the router's: on a busy
	// machine a handoff that waits for the other goroutine to be scheduled
	// on every message was what limited throughput. What is buffered when
	// closing is still handled (the router reads the channel to its end).
	out := make(chan *message.Message, 64)
	s.loops.Add(1)
	go s.loop(context.WithoutCancel(ctx), topic, it, out)
	go func() { // the router's context ending stops taking messages too
		select {
		case <-ctx.Done():
			it.Stop()
		case <-s.closing:
		}
	}()
	return out, nil
}

// loop hands each message to the router until the iterator stops.
func (s *Subscriber) loop(ctx context.Context, stream string, it jetstream.MessagesContext, out chan<- *message.Message) {
	defer s.loops.Done()
	defer close(out)
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			s.log.Warn("reactor consume", "reactor", s.r.Name, "err", err)
			select {
			case <-s.closing:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		s.deliver(ctx, stream, msg, out)
	}
}

// deliver passes msg to the router and starts waiting for its outcome.
func (s *Subscriber) deliver(ctx context.Context, stream string, msg jetstream.Msg, out chan<- *message.Message) {
	d := Delivery{Stream: stream, Subject: msg.Subject(), Header: msg.Headers(), Attempt: 1}
	if md, err := msg.Metadata(); err == nil {
		d.Seq, d.Time, d.Attempt = md.Sequence.Stream, md.Timestamp, int(md.NumDelivered)
	}
	id := msg.Headers().Get(jetstream.MsgIDHeader)
	if id == "" {
		id = stream + ":" + strconv.FormatUint(d.Seq, 10)
	}
	wm := message.NewMessage(id, msg.Data())
	hctx, cancel := context.WithTimeout(ctx, s.policy.TimeLimit)
	wm.SetContext(withDelivery(hctx, d))
	select {
	case out <- wm:
	case <-s.closing:
		cancel()
		_ = msg.Nak() // not started: let another process take it now
		return
	}
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		defer cancel()
		var beat <-chan time.Time
		if s.policy.TimeLimit > s.policy.AckWait {
			t := time.NewTicker(s.policy.AckWait / 3)
			defer t.Stop()
			beat = t.C
		}
		var err error
	wait:
		for {
			select {
			case <-wm.Acked():
				err = msg.Ack()
				break wait
			case <-wm.Nacked():
				err = msg.NakWithDelay(Backoff(s.policy, d.Attempt))
				break wait
			case <-beat:
				if err := msg.InProgress(); err != nil {
					s.log.Warn("reactor in-progress", "reactor", s.r.Name, "seq", d.Seq, "err", err)
				}
			case <-s.abandon:
				return
			}
		}
		if err != nil {
			s.log.Warn("reactor ack", "reactor", s.r.Name, "seq", d.Seq, "err", err)
		}
	}()
}

// Close stops taking messages and waits, up to its close timeout, until
// the messages in flight are acked or NAKed. It leaves the connection open.
func (s *Subscriber) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.closing)
		for _, it := range s.iters {
			it.Stop()
		}
		s.mu.Unlock()
		done := make(chan struct{})
		go func() {
			s.loops.Wait()
			s.inflight.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(s.closeTimeout):
			close(s.abandon)
			err = fmt.Errorf("reactor %s: messages still in flight after %s", s.r.Name, s.closeTimeout)
		}
	})
	return err
}

// Backoff is the redelivery delay after a failed delivery attempt: the
// policy's MinBackoff doubled for each earlier attempt, capped at
// MaxBackoff, with up to half of it taken off at random so that messages
// that failed together do not come back together.
func Backoff(p Policy, attempt int) time.Duration {
	p = p.withDefaults()
	d := p.MinBackoff
	for i := 1; i < attempt && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	return d - time.Duration(rand.Int64N(int64(d)/2+1))
}

// Delivery is where a message came from and which delivery this is.
type Delivery struct {
	Stream  string
	Subject string
	Seq     uint64
	Time    time.Time
	Attempt int
	Header  nats.Header
}

type deliveryKey struct{}

func withDelivery(ctx context.Context, d Delivery) context.Context {
	return context.WithValue(ctx, deliveryKey{}, d)
}

// DeliveryFrom returns the delivery a message context carries.
func DeliveryFrom(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(Delivery)
	return d, ok
}
