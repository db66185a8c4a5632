package reactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventline/eventline/eventstore"
)

// Config tunes a Runtime. Zero fields take defaults.
type Config struct {
	// CloseTimeout bounds how long Run waits, once its context ends, for
	// the handlers in flight to finish and their messages to be acked (10s).
	CloseTimeout time.Duration
	// Logger receives failures and parkings (slog.Default when nil).
	Logger *slog.Logger
	// Registerer receives the reactors' metrics (none when nil).
	Registerer prometheus.Registerer
}

// Runtime runs reactors on one watermill Router.
type Runtime struct {
	store    *eventstore.Store
	pool     *pgxpool.Pool
	reactors []Reactor
	cfg      Config
	log      *slog.Logger
	metrics  *metrics
}

// NewRuntime returns a runtime for reactors, reading and appending through
// store and parking into pool. With a nil pool nothing can be parked: a
// message that would be is redelivered with backoff instead.
func NewRuntime(store *eventstore.Store, pool *pgxpool.Pool, reactors []Reactor, cfg Config) (*Runtime, error) {
	var errs []error
	seen := map[string]bool{}
	for _, r := range reactors {
		if err := r.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[r.Name] {
			errs = append(errs, fmt.Errorf("reactor %q given twice", r.Name))
		}
		seen[r.Name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Runtime{store: store, pool: pool, reactors: reactors, cfg: cfg, log: log, metrics: m}, nil
}

// Run consumes and handles until ctx ends, then stops taking messages,
// lets the handlers in flight finish and ack within CloseTimeout, and
// returns nil. A consumer that cannot be set up because JetStream is
// unreachable is retried with backoff until ctx ends, and logged each
// time; Run returns an error when a stream is missing or the router stops
// on its own.
func (rt *Runtime) Run(ctx context.Context) error {
	if len(rt.reactors) == 0 {
		<-ctx.Done()
		return nil
	}
	var stopped error
	_, _ = backoff.Retry(ctx, func() (struct{}, error) {
		started, err := rt.run(ctx)
		if err == nil || started || errors.Is(err, jetstream.ErrStreamNotFound) {
			stopped = err
			return struct{}{}, backoff.Permanent(err) // a missing stream is a mistake to report, not to wait out
		}
		return struct{}{}, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 500 * time.Millisecond, Multiplier: 2, MaxInterval: 30 * time.Second}),
		backoff.WithMaxElapsedTime(0), backoff.WithNotify(func(err error, in time.Duration) {
			rt.log.Warn("reactors could not start; retrying", "err", err, "in", in.String())
		}))
	return stopped // nil when ctx ended first
}

// run runs the router once; started reports whether every consumer was
// set up before it ended.
func (rt *Runtime) run(ctx context.Context) (started bool, _ error) {
	wlog := watermill.NewSlogLoggerWithLevelMapping(rt.log, map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug, // router lifecycle chatter
	})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: rt.cfg.CloseTimeout}, routerLogger{wlog})
	if err != nil {
		return false, fmt.Errorf("reactor router: %w", err)
	}
	subs := make([]*Subscriber, 0, len(rt.reactors))
	for _, r := range rt.reactors {
		sub := NewSubscriber(rt.store.JetStream(), r, rt.cfg.CloseTimeout, rt.log)
		subs = append(subs, sub)
		h := router.AddNoPublisherHandler(r.Name, r.Stream, sub, rt.handlerFunc(r))
		h.AddMiddleware(rt.outcome(r), middleware.Recoverer)
	}
	// The router gets a context of its own: on ctx's end we Close it, which
	// lets the handlers in flight finish instead of cutting them off.
	runErr := make(chan error, 1)
	go func() { runErr <- router.Run(context.WithoutCancel(ctx)) }()
	// A subscription that fails (a stream missing) ends router.Run before
	// it runs; the subscribers set up so far are closed directly, since
	// the router's Close would wait its whole timeout for handlers that
	// never started.
	failed := func(err error) error {
		for _, sub := range subs {
			_ = sub.Close()
		}
		if err == nil {
			err = errors.New("all reactor handlers stopped")
		}
		return fmt.Errorf("reactor router: %w", err)
	}
	select {
	case err := <-runErr:
		return false, failed(err)
	case <-router.Running():
	}
	select {
	case err := <-runErr:
		return true, failed(err)
	case <-ctx.Done():
	}
	// A handler still running past CloseTimeout (an append waiting out a
	// NATS node's election, say) has not acked its message: JetStream
	// redelivers it after its AckWait to whichever process consumes next,
	// and handlers are idempotent. Shutdown goes on; it is not a failure
	// of the process (serve exited 1 for it after a node's kill).
	if closeErr := router.Close(); closeErr != nil {
		rt.log.Warn("reactors: messages still in flight at shutdown; JetStream redelivers them", "err", closeErr,
			"close_timeout", rt.cfg.CloseTimeout.String())
	}
	<-runErr
	return true, nil
}

// handlerFunc adapts r's Handler to watermill.
func (rt *Runtime) handlerFunc(r Reactor) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		d, _ := DeliveryFrom(msg.Context())
		return invoke(msg.Context(), rt.store, r, d, msg.Payload)
	}
}

// invoke decodes the message and runs r's handler on it.
func invoke(ctx context.Context, store appender, r Reactor, d Delivery, data []byte) error {
	env, err := eventstore.UnmarshalEnvelope(data)
	if err != nil {
		return Permanent(fmt.Errorf("decode %s #%d: %w", d.Stream, d.Seq, err))
	}
	ev := Event{Stream: d.Stream, Subject: d.Subject, Seq: d.Seq, Time: d.Time, Attempt: d.Attempt, Header: d.Header, Envelope: env}
	return r.Handler(ctx, ev, NewEffects(store, r.Name, env))
}

// invokeRecovered is invoke with a panic turned into an error.
func invokeRecovered(ctx context.Context, store appender, r Reactor, d Delivery, data []byte) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
		}
	}()
	return invoke(ctx, store, r, d, data)
}

// outcome is the middleware that decides what a handler's result means:
// success acks; a transient failure NAKs with backoff (never parked); a
// permanent one, or any other once the policy's attempts are spent, is
// parked in PostgreSQL and then acked so that the reactor moves on. It
// also keeps the metrics.
func (rt *Runtime) outcome(r Reactor) message.HandlerMiddleware {
	policy := r.Policy.withDefaults()
	handled := rt.metrics.handled.WithLabelValues(r.Name)
	failed := rt.metrics.failed.WithLabelValues(r.Name)
	parked := rt.metrics.parked.WithLabelValues(r.Name)
	duration := rt.metrics.duration.WithLabelValues(r.Name)
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			start := time.Now()
			_, err := h(msg)
			duration.Observe(time.Since(start).Seconds())
			if err == nil {
				handled.Inc()
				return nil, nil
			}
			failed.Inc()
			d, _ := DeliveryFrom(msg.Context())
			log := rt.log.With("reactor", r.Name, "stream", d.Stream, "seq", d.Seq, "attempt", d.Attempt)
			// A redelivery is a NAK sent here rather than an error returned,
			// which the router would log again at error level; its Ack
			// after a Nack does nothing.
			if IsTransient(err) || (!IsPermanent(err) && d.Attempt < policy.MaxAttempts) {
				log.Warn("reactor handler failed; redelivering", "err", err, "transient", IsTransient(err))
				msg.Nack()
				return nil, nil
			}
			if rt.pool == nil {
				log.Error("reactor handler failed; cannot park without PostgreSQL, redelivering", "err", err)
				msg.Nack()
				return nil, nil
			}
			p := Parked{Reactor: r.Name, Stream: d.Stream, Seq: d.Seq, Subject: d.Subject, Error: err.Error(), Attempts: d.Attempt}
			if env, derr := eventstore.UnmarshalEnvelope(msg.Payload); derr == nil {
				p.EventID, p.EventType = env.ID.String(), env.Type
			} else {
				p.EventType = d.Header.Get(eventstore.HeaderType)
			}
			pctx, cancel := context.WithTimeout(context.WithoutCancel(msg.Context()), 10*time.Second)
			defer cancel()
			if perr := park(pctx, rt.pool, p); perr != nil {
				log.Error("reactor cannot park; redelivering", "err", err, "park_err", perr)
				msg.Nack()
				return nil, nil
			}
			parked.Inc()
			log.Warn("reactor parked a message", "err", err, "type", p.EventType)
			return nil, nil
		}
	}
}
