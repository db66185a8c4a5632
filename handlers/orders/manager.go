package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	json "github.com/go-json-experiment/json/v1"

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
//
// A command runs in the process that decided it when that process has the
// participants (the saga role, Drive): the saga's own event is the record
// that the command was issued, so nothing else is written before it runs,
// and the reply is decided right after. Otherwise, or when MaxDrivers
// sagas are being driven already, the command goes on ORDERS_CMD for the
// participant reactors. Either way, each attempt's timeout is a durable
// timer, and a restarted process re-issues what every running saga waits
// on (Resume): a saga never depends on the process that started it.
type Manager struct {
	store   *eventstore.Store
	reg     *eventstore.Registry
	sagas   *Sagas
	now     func() time.Time
	metrics *Metrics
	log     *slog.Logger

	// Set by Drive: the participants that run commands here.
	parts   *Participants
	slots   chan struct{}
	base    context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	waiters chan struct{}
	local   *local

	// scheduled holds the ids of sagas driven here whose timers this
	// process stored, so that their end purges them; bounded by
	// maxScheduled (a saga left out has its timers purged when one fires
	// into its end, Runner.timer).
	scheduled sync.Map
	nsched    atomic.Int64
	// nshort counts the timers fired from memory (fireSoon).
	nshort    atomic.Int64
	purgeOnce sync.Once
	purges    chan string
	mu        sync.Mutex
	timers    jetstream.Stream

	// own says which sagas this process drives (ownership.go).
	own       ownership
	nudgeOnce sync.Once
	nudges    chan string
	// closed, under closeMu, refuses new background goroutines once
	// Close waits for them.
	closeMu sync.Mutex
	closed  bool
}

// maxScheduled bounds Manager.scheduled: four times the drivers.
const maxScheduled = 4 * DefaultMaxDrivers

// NewManager returns a process manager over store, decoding through reg
// (Events() when nil); it sends every command on ORDERS_CMD until Drive.
func NewManager(store *eventstore.Store, reg *eventstore.Registry) (*Manager, error) {
	if reg == nil {
		reg = Registry()
	}
	// A saga is hot while it runs, then read now and then: the cache holds
	// the sagas in flight (one that ends here is dropped, forget), and is
	// bounded for those that end elsewhere (a state is kilobytes).
	h, err := aggregate.New(store, reg, SagaDefinition(), aggregate.Options{CacheSize: perSagaCache, DecidedAsDecoded: true})
	if err != nil {
		return nil, fmt.Errorf("saga manager: %w", err)
	}
	base, cancel := context.WithCancel(context.Background())
	return &Manager{store: store, reg: reg, sagas: h, now: time.Now, metrics: NewMetrics(nil), log: slog.Default(),
		base: base, cancel: cancel, waiters: make(chan struct{}, MaxWaiters), local: newLocal()}, nil
}

// perSagaCache is the cache size of the aggregates that live as long as
// one saga: the sagas themselves, and each order's order, payments and
// notifications.
const perSagaCache = 2048

// DefaultMaxDrivers bounds the sagas one process drives at once.
const DefaultMaxDrivers = 4096

// Drive makes m run the commands it decides through parts, in this
// process, for up to maxDrivers sagas at once (DefaultMaxDrivers when 0).
func (m *Manager) Drive(parts *Participants, maxDrivers int) {
	if maxDrivers <= 0 {
		maxDrivers = DefaultMaxDrivers
	}
	m.parts, m.slots = parts, make(chan struct{}, maxDrivers)
}

// Driving returns how many sagas this process is driving now.
func (m *Manager) Driving() int { return len(m.slots) }

// Tracked returns how many sagas this manager remembers having stored
// timers for (to purge them at their end): never more than the sagas it
// drives can need, and none on a process that drives no saga.
func (m *Manager) Tracked() int { return int(m.nsched.Load()) }

// Close stops driving sagas and waits for the drivers to stop. What they
// left undone is re-issued by the durable timers or the next Resume.
func (m *Manager) Close() {
	m.closeMu.Lock()
	m.closed = true
	m.closeMu.Unlock()
	m.cancel()
	m.wg.Wait()
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

// effects is what one decision leaves to carry out.
type effects struct {
	state   saga.State
	cmds    []saga.Command
	timers  []saga.Timer
	confirm bool
}

// Decide decides input in (saga.Start, Reply, Fire, Retry or Abort) on
// saga sagaID, appends the events decided with the expected sequence, then
// carries out their effects. A domain error of saga.Decide is returned
// unchanged (wrapped); the effects' sends fail with the store's error, and
// the caller's redelivery re-issues them (Reissue).
func (m *Manager) Decide(ctx context.Context, sagaID string, in any) (Decided, error) {
	return m.decide(ctx, sagaID, in, aggregate.Meta{CorrelationID: sagaID})
}

// Start starts saga sagaID of definition def with input; dedupeID, when
// set, is the publish dedupe id of its first events (an Idempotency-Key's).
//
// With a dedupeID, a saga found started already (saga.ErrAlreadyStarted,
// returned with the saga's state) was started by an earlier attempt with
// the same key, which may have died, or failed on a lost acknowledgement,
// before carrying anything out: what the saga waits on is carried out
// again (Reissue), as for an append that was a duplicate (record).
func (m *Manager) Start(ctx context.Context, sagaID string, def saga.Definition, input json.RawMessage, dedupeID string) (Decided, error) {
	d, err := m.decide(ctx, sagaID, saga.Start{SagaID: sagaID, Definition: def, Input: input, Now: m.now()},
		aggregate.Meta{CorrelationID: sagaID, DedupeID: dedupeID})
	if dedupeID == "" || !errors.Is(err, saga.ErrAlreadyStarted) {
		return d, err
	}
	s, seq, lerr := m.sagas.Load(ctx, sagaID)
	if lerr == nil && s.Exists() && !s.Status.Terminal() {
		lerr = m.Reissue(ctx, s)
	}
	if lerr != nil {
		return Decided{}, fmt.Errorf("saga %s: carry out what it waits on: %w", sagaID, lerr)
	}
	return Decided{State: s, Seq: seq}, err
}

func (m *Manager) decide(ctx context.Context, sagaID string, in any, meta aggregate.Meta) (Decided, error) {
	d, eff, err := m.record(ctx, sagaID, in, meta)
	if err != nil || d.Events == 0 {
		return d, err
	}
	return d, m.carry(ctx, eff)
}

// record decides in on saga sagaID and appends the decision; it returns
// the decision's effects, which nothing has carried out yet.
func (m *Manager) record(ctx context.Context, sagaID string, in any, meta aggregate.Meta) (Decided, effects, error) {
	res, err := m.sagas.Handle(ctx, sagaID, in, meta)
	if err != nil {
		return Decided{}, effects{}, fmt.Errorf("saga %s: %w", sagaID, err)
	}
	d := Decided{State: res.State, Events: len(res.Events), Seq: res.Seq}
	if d.Events == 0 {
		return d, effects{}, nil
	}
	eff := effects{state: res.State}
	var events []saga.Event
	for _, a := range res.Events {
		if a.Duplicate {
			// Stored by an earlier attempt (an Idempotency-Key retried; on
			// a replicated stream the dedupe id is checked before the
			// expected sequence), which may have died or failed on a lost
			// acknowledgement before carrying anything out, and no resume
			// may come: what the saga waits on now is carried out again.
			s, seq, err := m.sagas.Load(ctx, sagaID)
			if err != nil {
				return Decided{}, effects{}, fmt.Errorf("saga %s: %w", sagaID, err)
			}
			d.State, d.Seq = s, seq
			if s.Status.Terminal() {
				return d, effects{}, nil // its end was carried out by who recorded it
			}
			return d, m.outstanding(s), nil
		}
		for _, e := range saga.Flatten(a.Envelope.Type, a.Data) {
			if c, ok := e.Data.(*saga.StepCompleted); ok && c.Step == saga.StepProcessPayment && res.State.Definition.Type == saga.OrderSagaType {
				eff.confirm = true
			}
			events = append(events, e)
		}
	}
	m.metrics.observe(res.State, events)
	if res.State.Status.Terminal() {
		// Forgotten before its waiters hear of the end: a waiter that
		// reads on finds the store's state, not a cached one.
		m.forget(res.State)
		m.local.ended(res.State)
	}
	if _, batch := in.(saga.Batch); batch {
		// The batch's other inputs were carried out by the driver that
		// held them: what is left is what the saga waits on now.
		eff.cmds, eff.timers = saga.Outstanding(res.State)
	} else {
		eff.cmds, eff.timers = saga.Effects(res.State, events)
	}
	return d, eff, nil
}

// forget drops saga s, which ended here, and its order's aggregates from
// the caches: the caches hold the sagas in flight, not the last ones seen,
// which keeps the live heap (and so the collector's work) small. Its
// waiters got its end already (local.ended); a later read loads it.
func (m *Manager) forget(s saga.State) {
	m.sagas.Forget(s.ID)
	if m.parts != nil && s.Definition.Type == saga.OrderSagaType {
		m.parts.Forget(s.Input)
	}
}

// Reissue carries out again what saga s waits on (saga.Outstanding), and
// the confirmation of an order saga past its pivot: what a lost send left
// undone. Doing it twice is harmless.
func (m *Manager) Reissue(ctx context.Context, s saga.State) error {
	return m.carry(ctx, m.outstanding(s))
}

// outstanding is what Reissue carries out for saga s.
func (m *Manager) outstanding(s saga.State) effects {
	eff := effects{state: s}
	eff.cmds, eff.timers = saga.Outstanding(s)
	if s.Definition.Type == saga.OrderSagaType {
		if i := s.StepIndex(saga.StepProcessPayment); i >= 0 && s.Steps[i].Status == saga.StepStatusCompleted {
			eff.confirm = true
		}
	}
	return eff
}

// Resume re-issues what every saga that is not terminal waits on, so that
// a restarted process resumes every running saga; it returns how many it
// resumed.
func (m *Manager) Resume(ctx context.Context) (int, error) {
	return m.resumeSubjects(ctx, func(string) bool { return true })
}

// resumeSubjects is Resume for the sagas whose id keep accepts.
func (m *Manager) resumeSubjects(ctx context.Context, keep func(id string) bool) (int, error) {
	st, err := m.store.JetStream().Stream(ctx, saga.Stream)
	if err != nil {
		return 0, fmt.Errorf("resume sagas: %w", err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(saga.Subjects))
	if err != nil {
		return 0, fmt.Errorf("resume sagas: %w", err)
	}
	ids := make([]string, 0, len(info.State.Subjects))
	for subject := range info.State.Subjects {
		if id := strings.TrimPrefix(subject, "saga."); keep(id) {
			ids = append(ids, id)
		}
	}
	return m.reissueAll(ctx, ids, 0)
}

// reissueAll re-issues what each saga of ids that is still running (and,
// with idle set, has had no event for that long) waits on; it returns how
// many it re-issued. A saga that cannot be loaded or re-issued does not
// stop the others (one whose events cannot be read would otherwise come
// first in every sweep, oldest first, and hold back all the rest): they
// are re-issued, and the error, a *reissueError, names the ones that
// failed. It stops early only when ctx ends.
func (m *Manager) reissueAll(ctx context.Context, ids []string, idle time.Duration) (int, error) {
	n := 0
	var failed reissueError
	for _, id := range ids {
		if ctx.Err() != nil {
			failed.add(id, ctx.Err())
			continue
		}
		ok, err := m.reissueOne(ctx, id, idle)
		if err != nil {
			failed.add(id, err)
			continue
		}
		if ok {
			n++
		}
	}
	if len(failed.ids) > 0 {
		return n, &failed
	}
	return n, nil
}

// reissueOne is reissueAll for one saga; it reports whether it re-issued.
func (m *Manager) reissueOne(ctx context.Context, id string, idle time.Duration) (bool, error) {
	s, _, err := m.sagas.Load(ctx, id)
	if err != nil {
		return false, err
	}
	if !s.Exists() || s.Status.Terminal() || (idle > 0 && time.Since(s.UpdatedAt) < idle) {
		return false, nil // ended, or the read model that named it was behind
	}
	if idle > 0 {
		lost, err := m.lost(ctx, s, time.Now(), idle)
		if err != nil || !lost {
			return false, err // !lost: waiting on a timer that is stored and not overdue
		}
	}
	return true, m.Reissue(ctx, s)
}

// reissueError names the sagas reissueAll could not re-issue, and the
// first errors.
type reissueError struct {
	ids  []string
	errs []error
}

// maxReissueErrors bounds the errors a reissueError keeps (it keeps every id).
const maxReissueErrors = 3

func (e *reissueError) add(id string, err error) {
	e.ids = append(e.ids, id)
	if len(e.errs) < maxReissueErrors {
		e.errs = append(e.errs, fmt.Errorf("saga %s: %w", id, err))
	}
}

func (e *reissueError) Error() string {
	return fmt.Sprintf("resume sagas: %d could not be re-issued: %v", len(e.ids), errors.Join(e.errs...))
}

func (e *reissueError) Unwrap() []error { return e.errs }

// lost reports whether saga s, idle, waits on nothing that will move it:
// none of its timers is stored (its driver died between a step's start
// and its reply, having stored none), or the earliest of the timers it
// waits on was due more than margin ago (a timer lost). A saga waiting on
// its own stored timer (a slow step, a retry's delay) is not lost.
func (m *Manager) lost(ctx context.Context, s saga.State, now time.Time, margin time.Duration) (bool, error) {
	if _, timers := saga.Outstanding(s); len(timers) > 0 {
		earliest := timers[0].At
		for _, t := range timers[1:] {
			if t.At.Before(earliest) {
				earliest = t.At
			}
		}
		if now.Sub(earliest) > margin {
			return true, nil
		}
	}
	st, err := m.timerStream(ctx)
	if err != nil {
		return false, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(TimersOf(s.ID)))
	if err != nil {
		return false, err
	}
	return len(info.State.Subjects) == 0, nil
}

// carry carries out eff: it runs the commands and the confirmation in
// this process when it drives sagas and has a free slot (a driver
// goroutine takes them over), or sends them, with the timers, on
// ORDERS_CMD and SAGA_TIMERS. A saga that ended has its timers cleared.
func (m *Manager) carry(ctx context.Context, eff effects) error {
	if eff.state.Status.Terminal() {
		m.clearTimers(eff.state)
	}
	if len(eff.cmds) == 0 && !eff.confirm {
		return m.send(ctx, eff.state, nil, eff.timers, false)
	}
	owns := m.ownsSaga(eff.state.ID)
	if m.parts != nil && owns {
		select {
		case m.slots <- struct{}{}:
			done := m.driving(eff.state.ID)
			if m.goBackground(func() { defer done(); m.drive(eff) }) {
				return nil
			}
			done()
			<-m.slots
			return nil // closing: the next owner resumes it from the log
		default: // every slot busy: hand over to the reactors
		}
	}
	if !owns {
		// Another process owns the saga's partition: it drives the saga,
		// reading what it waits on from the log.
		err := m.route(ctx, eff.state.ID)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errNoRoute) {
			m.log.Warn("noting a saga to its owner failed; handing its step to the reactors", "saga", eff.state.ID, "err", err)
		}
	}
	return m.send(ctx, eff.state, eff.cmds, eff.timers, eff.confirm)
}

// driving marks saga id as driven here until done is called, which notes
// the saga to this process again if a note came meanwhile (the nudge left
// it to the driver, local.noteLater).
func (m *Manager) driving(id string) (done func()) {
	stop := m.local.drive(id)
	return func() {
		if stop() {
			m.Noted(0, id, nil)
		}
	}
}

// drive runs eff's commands and confirmation here, decides each reply
// and goes on with what that decides, until the saga waits on a timer, a
// reply that comes late, or ends.
//
// A reply that only moves the saga on (saga.Decision.Passing: a step
// before the pivot completed, the next one starts) is held, not recorded:
// it is recorded with the next reply that must be (saga.Batch), in one
// append. On the happy path of the order saga that is the pivot's
// completion, so a saga's first four steps cost one append of the saga
// instead of four. A driver that stops holding replies records them
// first; one killed holding them leaves the saga at its last recorded
// step, from which Resume re-issues the steps done since, and the
// participants, deduping on each command's key, answer them as before.
//
// An attempt's timeout timer is only stored when its command did not get
// an answer here: a slow participant, or a command handed over to the
// reactors because the event store failed (if that fails too, the next
// Resume or the sweep of stale sagas re-issues it). A command answered at
// once needs no timer, and the saga pays no publish and no purge for it.
// Other timers (a retry's due time, a compensation's deadline) are stored
// before the saga goes on.
func (m *Manager) drive(eff effects) {
	defer func() { <-m.slots }()
	m.metrics.drivers.Inc()
	defer m.metrics.drivers.Dec()
	ctx := m.base
	held := &heldReplies{sagaID: eff.state.ID}
	defer m.recordHeld(held) // only left holding when ctx ended
	queue := []effects{eff}
	// A partition given up (another process took it over) stops its
	// drivers at the next step: the new owner goes on from the log, told
	// of the saga by passOn.
	for len(queue) > 0 && ctx.Err() == nil && m.ownsSaga(eff.state.ID) {
		e := queue[0]
		queue = queue[1:]
		timeouts, others := splitTimers(e)
		pending, err := m.schedule(e.state, others)
		if err != nil {
			m.log.Warn("scheduling saga timers failed; the next Resume schedules them", "saga", e.state.ID, "err", err)
		}
		confirmed := m.confirm(ctx, e)
		held.may = len(e.cmds) == 1 && len(pending) == 0
		for _, c := range e.cmds {
			next, ok := m.run(ctx, e.state, c, timeouts[timerKey(c.Step, c.Attempt)], pending, confirmed, held)
			pending, confirmed = nil, nil
			if ok {
				queue = append(queue, next)
			}
		}
		m.wait(ctx, pending)
		if confirmed != nil {
			<-confirmed
		}
	}
	if len(queue) > 0 && ctx.Err() == nil {
		m.passOn(ctx, held)
	}
}

// confirm starts the confirmation of e's order when e carries it (the
// pivot's completion was just recorded) and returns a channel closed once
// it is done (nil when there is none). It runs beside the command after
// the pivot (the notification): the two write different aggregates, so
// their appends share one round to the disk instead of two, one after the
// other. The command's reply is decided only once the confirmation is
// done (run), so a saga is never recorded completed before its order is
// confirmed. A confirmation that fails is handed over to the reactors.
func (m *Manager) confirm(ctx context.Context, e effects) <-chan struct{} {
	if !e.confirm {
		return nil
	}
	done := make(chan struct{})
	confirm := func() {
		defer close(done)
		if err := m.parts.Confirm(ctx, e.state.ID, e.state.Input, m.now().UTC()); err != nil {
			m.handOver(ctx, e.state, nil, nil, true, err)
		}
	}
	if len(e.cmds) == 0 {
		confirm() // nothing to run beside it
		return done
	}
	go confirm() // joined by drive, whatever run does
	return done
}

// passOn hands saga h.sagaID, which a driver stopped driving with steps
// left because its partition went to another process, over to that
// process: the replies held are recorded first, then the saga is noted to
// its new owner, which carries out what it waits on as recorded. The new
// owner's resume ran when it took the partition over, perhaps before this
// process recorded its last decision (or even stored the saga), so
// without the note nobody would drive it until the sweep.
func (m *Manager) passOn(ctx context.Context, h *heldReplies) {
	if !m.settleHeld(ctx, h, errors.New("partition given up")) {
		return // handed over to the reactors
	}
	nctx, cancel := context.WithTimeout(ctx, handOverTimeout)
	defer cancel()
	if err := m.route(nctx, h.sagaID); err != nil {
		m.handOverRecorded(ctx, h.sagaID, err)
	}
}

// heldReplies are the replies a driver decided on a saga and has not
// recorded yet (saga.Decision.Passing).
type heldReplies struct {
	sagaID string
	inputs []any
	// may says whether the reply being decided may be held: its command
	// was the decision's only one, with no timer beside.
	may bool
}

// recordHeld records the replies held, if any, in one append, and
// reports whether the saga's record is now as far as the driver got. It is
// not bound to the driver's context (a driver that stops records what it
// holds while it can), and it retries while the event store is
// unavailable, for at most heldRecordTimeout.
func (m *Manager) recordHeld(h *heldReplies) bool {
	if len(h.inputs) == 0 {
		return true
	}
	in := saga.Batch(h.inputs)
	h.inputs = nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.base), heldRecordTimeout)
	defer cancel()
	err := m.retryUnavailable(ctx, func() error {
		_, _, err := m.record(ctx, h.sagaID, in, aggregate.Meta{CorrelationID: h.sagaID})
		return err
	})
	if err != nil {
		m.log.Warn("recording a saga's held replies failed", "saga", h.sagaID, "replies", len(in), "err", err)
		return false
	}
	return true
}

// settleHeld records the replies held; when it cannot, it hands over
// what the saga waits on as recorded, and reports false.
func (m *Manager) settleHeld(ctx context.Context, h *heldReplies, cause error) bool {
	if m.recordHeld(h) {
		return true
	}
	m.handOverRecorded(ctx, h.sagaID, cause)
	return false
}

// handOverRecorded hands over to the reactors what saga id waits on as
// far as it is recorded (cached here: this process recorded it last), for
// a driver that could not record the replies it held.
func (m *Manager) handOverRecorded(ctx context.Context, id string, cause error) {
	s, _, ok := m.sagas.Cached(id)
	if !ok {
		m.log.Warn("saga step left to Resume and the sweep", "saga", id, "cause", cause)
		return
	}
	cmds, timers := saga.Outstanding(s)
	m.handOver(ctx, s, cmds, timers, false, cause)
}

// retryUnavailable runs f until it succeeds, fails otherwise than with
// the event store unavailable, or ctx ends, waiting longer each time (20ms
// doubling to 1s); it returns f's last error. A manager that is closing
// tries once.
func (m *Manager) retryUnavailable(ctx context.Context, f func() error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(m.base, cancel)()
	var last error
	_, _ = backoff.Retry(ctx, func() (struct{}, error) {
		if last = f(); last != nil && !errors.Is(last, eventstore.ErrUnavailable) {
			return struct{}{}, backoff.Permanent(last)
		}
		return struct{}{}, last
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 20 * time.Millisecond, Multiplier: 2, MaxInterval: time.Second}),
		backoff.WithMaxElapsedTime(0))
	return last
}

// heldRecordTimeout bounds the recording of held replies.
const heldRecordTimeout = 30 * time.Second

// splitTimers splits e's timers into the attempt timeouts of its commands,
// by step and attempt, and the others.
func splitTimers(e effects) (map[string]saga.Timer, []saga.Timer) {
	var others []saga.Timer
	timeouts := map[string]saga.Timer{}
	for _, t := range e.timers {
		if t.Kind == saga.TimerAttemptTimeout || t.Kind == saga.TimerCompensationTimeout {
			timeouts[timerKey(t.Step, t.Attempt)] = t
			continue
		}
		others = append(others, t)
	}
	// A timeout whose command is not in e (none should be) is stored.
	for k, t := range timeouts {
		found := false
		for _, c := range e.cmds {
			found = found || timerKey(c.Step, c.Attempt) == k
		}
		if !found {
			others = append(others, t)
			delete(timeouts, k)
		}
	}
	return timeouts, others
}

func timerKey(step string, attempt int) string { return step + "\x00" + strconv.Itoa(attempt) }

// run runs command c of saga s on its participant and decides the reply;
// timeout is the attempt's timeout timer, stored only if the reply does
// not come here. The reply is held (see drive) when held.may and it only
// moves the saga on; otherwise it is recorded with the replies held before
// it. confirmed, when set, is the confirmation started beside c (confirm):
// the reply is decided once it is done. It returns the reply's effects, ok
// false when there are none to go on with.
func (m *Manager) run(ctx context.Context, s saga.State, c saga.Command, timeout saga.Timer, pending []*eventstore.Pending,
	confirmed <-chan struct{}, held *heldReplies) (effects, bool) {
	var timers []saga.Timer
	if timeout.SagaID != "" {
		timers = []saga.Timer{timeout}
	}
	now := m.now().UTC()
	o, err := m.parts.Execute(ctx, c, now)
	if confirmed != nil {
		<-confirmed
	}
	if errors.Is(err, ErrUnknownCommand) {
		m.recordHeld(held)
		m.log.Error("saga command no participant handles", "saga", c.SagaID, "type", c.Type)
		return effects{}, false
	}
	if err != nil {
		if m.settleHeld(ctx, held, err) {
			m.handOver(ctx, s, []saga.Command{c}, timers, false, err)
		}
		return effects{}, false
	}
	if o.Slow {
		// The participant answers late: the attempt's timer takes it on.
		if !m.settleHeld(ctx, held, errors.New("held replies not recorded")) {
			return effects{}, false
		}
		p, err := m.schedule(s, timers)
		if err != nil {
			m.log.Warn("scheduling a saga timer failed; the next Resume schedules it", "saga", c.SagaID, "err", err)
		}
		m.wait(ctx, append(pending, p...))
		return effects{}, false
	}
	m.wait(ctx, pending)
	reply := o.Reply(c, now)
	reply.Jitter = rand.Float64()
	if held.may && reply.Failure == "" { // a failure is never held
		if d, err := saga.Decide(s, reply); err == nil && d.Passing() && len(d.Commands) == 1 {
			held.inputs = append(held.inputs, reply)
			return effects{state: d.State, cmds: d.Commands, timers: d.Timers}, true
		}
	}
	var in any = reply
	if len(held.inputs) > 0 {
		in = saga.Batch(append(held.inputs, reply))
		held.inputs = nil
	}
	d, eff, err := m.record(ctx, c.SagaID, in, aggregate.Meta{CorrelationID: c.SagaID, CausationID: c.Key})
	if err != nil {
		if _, batch := in.(saga.Batch); batch {
			m.handOverRecorded(ctx, c.SagaID, err)
			return effects{}, false
		}
		m.handOver(ctx, s, []saga.Command{c}, timers, false, err)
		return effects{}, false
	}
	if d.Events == 0 {
		return effects{}, false
	}
	if eff.state.Status.Terminal() {
		m.clearTimers(eff.state)
	}
	if len(eff.cmds) == 0 && !eff.confirm {
		// Waiting on a timer, or ended: store what it waits on.
		p, err := m.schedule(eff.state, eff.timers)
		if err != nil {
			m.log.Warn("scheduling saga timers failed; the next Resume schedules them", "saga", c.SagaID, "err", err)
		}
		m.wait(ctx, p)
		return effects{}, false
	}
	return eff, true
}

// handOver sends commands (and the confirmation) that could not be
// carried out here to the reactors, with their timers; while the event
// store is unavailable it tries again, for at most handOverTimeout.
func (m *Manager) handOver(ctx context.Context, s saga.State, cmds []saga.Command, timers []saga.Timer, confirm bool, cause error) {
	if ctx.Err() != nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, handOverTimeout)
	defer cancel()
	if err := m.retryUnavailable(rctx, func() error { return m.send(rctx, s, cmds, timers, confirm) }); err != nil {
		m.log.Warn("saga step left to Resume and the sweep", "saga", s.ID, "cause", cause, "err", err)
		return
	}
	m.log.Info("saga step handed over to the reactors", "saga", s.ID, "cause", cause)
}

// handOverTimeout bounds how long a driver tries to hand a step over
// while the event store is unavailable; then Resume and the sweep of
// stale sagas take it on.
const handOverTimeout = 30 * time.Second

// wait waits for pending appends, logging a failure (the saga's timers are
// scheduled again by Resume).
func (m *Manager) wait(ctx context.Context, pending []*eventstore.Pending) {
	for _, p := range pending {
		if _, err := p.Wait(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("scheduling a saga timer failed", "err", err)
		}
	}
}

// send publishes the commands and timers of saga s, and its order's
// confirmation when confirm, all in flight at once, and waits for them.
func (m *Manager) send(ctx context.Context, s saga.State, cmds []saga.Command, timers []saga.Timer, confirm bool) error {
	pending, err := m.schedule(s, timers)
	publish := func(subject, typ string, payload any, opts ...eventstore.AppendOption) error {
		p, err := m.publish(s.ID, subject, typ, payload, opts...)
		if err == nil {
			pending = append(pending, p)
		}
		return err
	}
	for _, c := range cmds {
		if err != nil {
			break
		}
		err = publish(CommandSubject(c.Type, c.SagaID), CommandV1, newCommandMessage(c),
			eventstore.WithDedupeID(c.Key+":"+strconv.Itoa(c.Attempt)))
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

// schedule starts storing timers on SAGA_TIMERS; a timer due already
// fires at once.
func (m *Manager) schedule(s saga.State, timers []saga.Timer) ([]*eventstore.Pending, error) {
	if len(timers) > 0 && !s.Status.Terminal() && m.parts != nil && m.nsched.Load() < maxScheduled {
		if _, had := m.scheduled.LoadOrStore(s.ID, struct{}{}); !had {
			m.nsched.Add(1)
		}
	}
	var pending []*eventstore.Pending
	now := m.now()
	for _, t := range timers {
		var p *eventstore.Pending
		var err error
		if !t.At.After(now) {
			p, err = m.publish(s.ID, FiredSubject(t.SagaID), TimerV1, t, eventstore.WithDedupeID("fired:"+t.ID()))
		} else {
			// Schedules have whole seconds: round up, never fire early.
			at := t.At.Truncate(time.Second)
			if at.Before(t.At) {
				at = at.Add(time.Second)
			}
			p, err = m.publish(s.ID, TimerSubject(t), TimerV1, t, eventstore.WithScheduleAt(at),
				eventstore.WithScheduleTarget(FiredSubject(t.SagaID)), eventstore.WithDedupeID(t.ID()))
			if err == nil {
				m.fireSoon(s, t, now) // sub-second: not on the schedule's next whole second
			}
		}
		if err != nil {
			return pending, fmt.Errorf("saga %s: schedule timer: %w", s.ID, err)
		}
		pending = append(pending, p)
	}
	return pending, nil
}

func (m *Manager) publish(sagaID, subject, typ string, payload any, opts ...eventstore.AppendOption) (*eventstore.Pending, error) {
	env, err := eventstore.NewEnvelope(typ, payload)
	if err != nil {
		return nil, err
	}
	env.CorrelationID = sagaID
	return m.store.AppendAsync(subject, env, opts...)
}

// clearTimers has the timers of saga s, which ended, purged in the
// background: scheduled ones would fire into a saga that decides nothing
// with them, and fired ones were consumed or never will be. A saga that
// went straight through with no timer stored here has none to purge. When
// the purger is behind, the caller purges itself (backpressure); a timer
// it misses fires later and changes nothing.
func (m *Manager) clearTimers(s saga.State) {
	_, stored := m.scheduled.LoadAndDelete(s.ID)
	if stored {
		m.nsched.Add(-1)
	}
	if !stored && !mayHaveTimers(s) {
		return
	}
	id := s.ID
	if m.parts == nil {
		// No background work in a process that does not drive sagas
		// (an api process, the operator CLI).
		m.purge(id)
		return
	}
	m.purgeOnce.Do(func() {
		m.purges = make(chan string, 4096)
		m.goBackground(func() {
			for {
				select {
				case <-m.base.Done():
					return
				case id := <-m.purges:
					m.purge(id)
				}
			}
		})
	})
	select {
	case m.purges <- id:
	default:
		m.purge(id)
	}
}

// purge purges the timers of saga id.
func (m *Manager) purge(id string) {
	ctx, cancel := context.WithTimeout(m.base, 10*time.Second)
	defer cancel()
	st, err := m.timerStream(ctx)
	if err == nil {
		err = st.Purge(ctx, jetstream.WithPurgeSubject(TimersOf(id)))
	}
	if err != nil && ctx.Err() == nil {
		m.log.Warn("clearing the timers of an ended saga failed", "saga", id, "err", err)
	}
}

// timerStream returns the SAGA_TIMERS stream's handle, looked up once.
func (m *Manager) timerStream(ctx context.Context) (jetstream.Stream, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timers != nil {
		return m.timers, nil
	}
	st, err := m.store.JetStream().Stream(ctx, TimerStream)
	if err != nil {
		return nil, err
	}
	m.timers = st
	return st, nil
}

// mayHaveTimers reports whether another process may have stored timers
// for saga s: it did not complete, or some attempt was retried.
func mayHaveTimers(s saga.State) bool {
	if s.Status != saga.StatusCompleted {
		return true
	}
	for _, st := range s.Steps {
		if st.Action.Attempts > 1 || st.Comp.Attempts > 0 {
			return true
		}
	}
	return false
}
