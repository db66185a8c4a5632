package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	json "github.com/go-json-experiment/json/v1"

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
// process manager and the participants' command loops over one store,
// built together by NewRunner.
type Runner struct {
	m     *Manager
	parts *Participants
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

// NewRunner builds the runner of the order saga over store: its process
// manager and participants. By default the process manager runs the
// commands it decides in this process (Manager.Drive).
func NewRunner(store *eventstore.Store, opts ...RunnerOption) (*Runner, error) {
	if store == nil {
		return nil, errors.New("orders: no event store")
	}
	var o runnerOptions
	for _, opt := range opts {
		opt(&o)
	}
	reg := Registry()
	m, err := NewManager(store, reg)
	if err != nil {
		return nil, err
	}
	m.metrics = NewMetrics(o.reg)
	if o.log != nil {
		m.log = o.log
	}
	parts, err := NewParticipants(store, reg, eventstore.NewSnapshots(store))
	if err != nil {
		return nil, err
	}
	if !o.handOver {
		m.Drive(parts, o.maxDrivers)
	}
	return &Runner{m: m, parts: parts}, nil
}

// Close stops the sagas this runner drives (Manager.Close).
func (r *Runner) Close() { r.m.Close() }

// Manager returns the runner's process manager.
func (r *Runner) Manager() *Manager { return r.m }

// Participants returns the runner's participants' command loops.
func (r *Runner) Participants() *Participants { return r.parts }

// Reactors returns the order saga's reactors, each consuming with policy
// p: one per participant, the confirmation and the timers. On a nil
// Runner they are declarations only (names and subjects, for validation
// and listing), whose handlers must not run.
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
	var msg CommandMessage
	if err := json.Unmarshal(ev.Envelope.Data, &msg); err != nil {
		return reactor.Permanent(fmt.Errorf("decode command: %w", err))
	}
	cmd := msg.Command()
	now := time.Now().UTC()
	o, err := r.parts.Execute(ctx, cmd, now)
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
	_, err = r.decide(ctx, ev, cmd.SagaID, reply)
	return err
}

// timer turns a fired timer into saga.Fire.
func (r *Runner) timer(ctx context.Context, ev reactor.Event, _ *reactor.Effects) error {
	var t saga.Timer
	if err := json.Unmarshal(ev.Envelope.Data, &t); err != nil {
		return reactor.Permanent(fmt.Errorf("decode timer: %w", err))
	}
	now := time.Now().UTC()
	if now.Before(t.At) {
		now = t.At
	}
	d, err := r.decide(ctx, ev, t.SagaID, saga.Fire{Timer: t, Now: now, Jitter: rand.Float64()})
	if err == nil && d.Events == 0 && d.State.Status.Terminal() {
		// A timer that fired into an ended saga: whatever of its timers
		// its end did not purge (stored by another process, or a purge
		// that failed) goes now, so that SAGA_TIMERS holds running sagas'
		// timers only.
		r.m.purge(t.SagaID)
	}
	return err
}

// decide hands in to saga sagaID; when it decides nothing on a
// redelivery, the first delivery may have died between the saga's append
// and its sends, so what the saga waits on is sent again.
func (r *Runner) decide(ctx context.Context, ev reactor.Event, sagaID string, in any) (Decided, error) {
	d, err := r.m.Decide(ctx, sagaID, in)
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
		return d, r.m.Reissue(ctx, d.State)
	}
	return d, nil
}

// confirm confirms an order whose payment went through.
func (r *Runner) confirm(ctx context.Context, ev reactor.Event, _ *reactor.Effects) error {
	var msg ConfirmMessage
	if err := json.Unmarshal(ev.Envelope.Data, &msg); err != nil {
		return reactor.Permanent(fmt.Errorf("decode confirm: %w", err))
	}
	return r.parts.Confirm(ctx, msg.SagaID, msg.Input, time.Now().UTC())
}
