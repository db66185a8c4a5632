package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	json "github.com/segmentio/encoding/json"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventline/eventline/domain/saga"
	"github.com/eventline/eventline/eventstore"
	"github.com/eventline/eventline/platform/reactor"
)

// Names of the reactors.
const (
	// TimersReactor turns fired timers into saga.Fire.
	TimersReactor = "saga_timers"
	// ConfirmReactor confirms orders whose payment went through.
	ConfirmReactor = "orders_confirm"
)

// participantReactors are the participant reactors: name and the command
// types each consumes.
var participantReactors = []struct {
	name  string
	types []string
}{
	{"orders_users", []string{saga.CommandValidateUser}},
	{"orders_inventory", []string{saga.CommandReserveInventory, saga.CommandReleaseInventory}},
	{"orders_orders", []string{saga.CommandCreateOrder, saga.CommandCancelOrder}},
	{"orders_payments", []string{saga.CommandProcessPayment}},
	{"orders_notifications", []string{saga.CommandSendNotification}},
}

// Runner holds what the order saga's parts in one process share: the
// process manager and the participants' command loops, built on first use
// over one store.
type Runner struct {
	store *eventstore.Store
	opts  runnerOptions
	once  sync.Once
	m     *Manager
	parts *Participants
	err   error
}

type runnerOptions struct {
	handOver   bool
	maxDrivers int
	reg        prometheus.Registerer
	log        *slog.Logger
}

// RunnerOption configures a Runner.
type RunnerOption func(*runnerOptions)

// HandOver makes the runner send every command on ORDERS_CMD instead of
// running it in this process: a process without the saga role.
func HandOver() RunnerOption { return func(o *runnerOptions) { o.handOver = true } }

// MaxDrivers bounds the sagas the runner drives at once (beyond it,
// commands go on ORDERS_CMD).
func MaxDrivers(n int) RunnerOption { return func(o *runnerOptions) { o.maxDrivers = n } }

// WithMetrics registers the sagas' metrics on reg.
func WithMetrics(reg prometheus.Registerer) RunnerOption {
	return func(o *runnerOptions) { o.reg = reg }
}

// WithLogger logs through log.
func WithLogger(log *slog.Logger) RunnerOption { return func(o *runnerOptions) { o.log = log } }

// NewRunner returns the runner of the order saga over store; nothing is
// built until it is used (the operator CLI lists the reactors without a
// store). By default the process manager runs the commands it decides in
// this process (Manager.Drive).
func NewRunner(store *eventstore.Store, opts ...RunnerOption) *Runner {
	r := &Runner{store: store}
	for _, o := range opts {
		o(&r.opts)
	}
	return r
}

// build builds the manager and the participants once.
func (r *Runner) build() (*Manager, *Participants, error) {
	r.once.Do(func() {
		if r.store == nil {
			r.err = errors.New("orders: no event store")
			return
		}
		reg := Registry()
		if r.m, r.err = NewManager(r.store, reg); r.err != nil {
			return
		}
		r.m.metrics = NewMetrics(r.opts.reg)
		if r.opts.log != nil {
			r.m.log = r.opts.log
		}
		if r.parts, r.err = NewParticipants(r.store, reg, eventstore.NewSnapshots(r.store)); r.err != nil {
			return
		}
		if !r.opts.handOver {
			r.m.Drive(r.parts, r.opts.maxDrivers)
		}
	})
	return r.m, r.parts, r.err
}

// Close stops the sagas this runner drives (Manager.Close).
func (r *Runner) Close() {
	if m, _, err := r.build(); err == nil {
		m.Close()
	}
}

// Manager returns the runner's process manager.
func (r *Runner) Manager() (*Manager, error) {
	m, _, err := r.build()
	return m, err
}

// Reactors returns the order saga's reactors, each consuming with policy
// p: one per participant, the confirmation and the timers.
func (r *Runner) Reactors(p reactor.Policy) []reactor.Reactor {
	out := make([]reactor.Reactor, 0, len(participantReactors)+2)
	for _, pr := range participantReactors {
		subjects := make([]string, len(pr.types))
		for i, t := range pr.types {
			subjects[i] = CommandSubject(t, "*")
		}
		out = append(out, reactor.Reactor{Name: pr.name, Stream: CommandStream, Subjects: subjects, Handler: r.command, Policy: p})
	}
	return append(out,
		reactor.Reactor{Name: ConfirmReactor, Stream: CommandStream, Subjects: []string{ConfirmSubject("*")}, Handler: r.confirm, Policy: p},
		reactor.Reactor{Name: TimersReactor, Stream: TimerStream, Subjects: []string{FiredSubject("*")}, Handler: r.timer, Policy: p})
}

// command runs a saga command on its participant and delivers the reply
// to the saga.
func (r *Runner) command(ctx context.Context, ev reactor.Event, _ *reactor.Effects) error {
	m, parts, err := r.build()
	if err != nil {
		return err
	}
	var msg CommandMessage
	if err := json.Unmarshal(ev.Envelope.Data, &msg); err != nil {
		return reactor.Permanent(fmt.Errorf("decode command: %w", err))
	}
	cmd := msg.Command()
	now := time.Now().UTC()
	o, err := parts.Execute(ctx, cmd, now)
	if errors.Is(err, ErrUnknownCommand) {
		return reactor.Permanent(err)
	}
	if err != nil {
		return fmt.Errorf("%s of saga %s: %w", cmd.Type, cmd.SagaID, err)
	}
	if o.Slow {
		// The participant answers after the deadline: the attempt times
		// out and the retry gets the recorded outcome.
		return nil
	}
	reply := o.Reply(cmd, now)
	reply.Jitter = rand.Float64()
	_, err = r.decide(ctx, m, ev, cmd.SagaID, reply)
	return err
}

// timer turns a fired timer into saga.Fire.
func (r *Runner) timer(ctx context.Context, ev reactor.Event, _ *reactor.Effects) error {
	m, _, err := r.build()
	if err != nil {
		return err
	}
	var t saga.Timer
	if err := json.Unmarshal(ev.Envelope.Data, &t); err != nil {
		return reactor.Permanent(fmt.Errorf("decode timer: %w", err))
	}
	now := time.Now().UTC()
	if now.Before(t.At) {
		now = t.At
	}
	d, err := r.decide(ctx, m, ev, t.SagaID, saga.Fire{Timer: t, Now: now, Jitter: rand.Float64()})
	if err == nil && d.Events == 0 && d.State.Status.Terminal() {
		// A timer that fired into an ended saga: whatever of its timers
		// its end did not purge (stored by another process, or a purge
		// that failed) goes now, so that SAGA_TIMERS holds running sagas'
		// timers only.
		m.purge(t.SagaID)
	}
	return err
}

// decide hands in to saga sagaID; when it decides nothing on a
// redelivery, the first delivery may have died between the saga's append
// and its sends, so what the saga waits on is sent again.
func (r *Runner) decide(ctx context.Context, m *Manager, ev reactor.Event, sagaID string, in any) (Decided, error) {
	d, err := m.Decide(ctx, sagaID, in)
	switch {
	case errors.Is(err, saga.ErrNoSaga):
		// A saga's input exists only after the saga's start was stored:
		// "no such saga" is a read that has not seen it yet (a replica
		// behind its leader), retried, never parked at once.
		return d, err
	case errors.Is(err, saga.ErrInconsistent), errors.Is(err, saga.ErrInvalidInput):
		return d, reactor.Permanent(err)
	case err != nil:
		return d, err
	case d.Events == 0 && ev.Attempt > 1:
		return d, m.Reissue(ctx, d.State)
	}
	return d, nil
}

// confirm confirms an order whose payment went through.
func (r *Runner) confirm(ctx context.Context, ev reactor.Event, _ *reactor.Effects) error {
	_, parts, err := r.build()
	if err != nil {
		return err
	}
	var msg ConfirmMessage
	if err := json.Unmarshal(ev.Envelope.Data, &msg); err != nil {
		return reactor.Permanent(fmt.Errorf("decode confirm: %w", err))
	}
	return parts.Confirm(ctx, msg.SagaID, msg.Input, time.Now().UTC())
}

// Participants returns the runner's participants' command loops.
func (r *Runner) Participants() (*Participants, error) {
	_, p, err := r.build()
	return p, err
}
