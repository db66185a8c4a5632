package workflowsync

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore/aggregate"
	"github.com/eventline/eventline/projections/syncmodel"
)

// syncIDNamespace is the UUIDv5 namespace of scheduled sync ids.
var syncIDNamespace = uuid.MustParse("3b8f0a52-93c1-5d07-8e21-6c4a9f1d2e70")

// ScheduledSyncID is the id of the scheduled sync of customerID in slot:
// the same in every process, so that two schedulers start one sync.
func ScheduledSyncID(customerID, slot string) string {
	return uuid.NewSHA1(syncIDNamespace, []byte(customerID+"\x00"+slot)).String()
}

// SchedulerConfig configures a Scheduler. Zero fields take defaults.
type SchedulerConfig struct {
	// Customers is the command loop that starts the syncs (required).
	Customers *Customers
	// Pool reads the customers read table (required).
	Pool *pgxpool.Pool
	// Interval is how often every customer is synced (1h).
	Interval time.Duration
	// DailyAt is the local time "HH:MM" of the daily sync ("02:00"; "-" for none).
	DailyAt string
	// Location is the zone of DailyAt (time.Local).
	Location *time.Location
	// Check is how often due slots are checked (1m, at most Interval): a
	// sync that could not start because another was running is started at
	// the next check.
	Check time.Duration
	// Retry is how soon a tick that failed (JetStream or PostgreSQL
	// unreachable, a start whose outcome is unknown) is run again (1s); the
	// delay doubles with each tick that fails again, up to Check.
	Retry time.Duration
	// Now is the clock (time.Now); After waits on it (time.After).
	Now   func() time.Time
	After func(d time.Duration) <-chan time.Time
	// Logger receives a line per tick that started syncs (slog.Default when nil).
	Logger *slog.Logger
	// Spread, when set, spreads the customers' interval slots over that
	// much of each interval (serve: the whole Interval): each customer's
	// slots begin at an offset of its own (a hash of its id), so that the
	// customers of an interval do not all start in the same minute.
	Spread time.Duration
	// MaxBackoff caps how long a failing customer's scheduled syncs wait
	// (24h): after k ≥ 2 failed syncs in a row its next scheduled sync
	// waits Interval·2^(k-1) after the last failure, so that tenants that
	// keep failing do not take the sync slots at every interval.
	MaxBackoff time.Duration
}

// Scheduler starts the scheduled syncs: every Interval for every customer
// (slot "interval:<unix of the interval's start>") and daily at DailyAt
// (slot "daily:YYYY-MM-DD").
//
// Each slot of a customer starts exactly once however many schedulers run,
// and whatever their appends meet. The customer aggregate is the only
// judge: it refuses a slot already started or filled (ErrSlotTaken), and
// its appends carry the expected subject sequence, so two schedulers
// cannot both start a slot. A scheduler takes a slot for started only when
// the aggregate says so: its own append acknowledged, ErrSlotTaken, or, for
// an append that failed or timed out with an unknown outcome, the
// customer's events read again. Until then the slot is owed: it is tried
// at every tick, even after its period has passed (a start that fails at
// the end of a slot still happens once JetStream is back; started late, it
// fills the slot it runs in), and a tick that failed is run again within
// seconds (Retry) rather than at the next Check, so a leader election
// during a slot delays its sync by seconds. Owed slots are kept in memory:
// a restarted scheduler finds the slots due at its first tick again, but
// not one whose period ended before it started.
//
// An interval slot in which another sync (on creation, on demand, the
// daily one) started and completed is filled by it and starts nothing.
type Scheduler struct {
	cfg    SchedulerConfig
	dailyH int
	dailyM int
	daily  bool
	log    *slog.Logger
	mu     sync.Mutex
	// known holds, per customer and trigger, the latest slot the customer's
	// aggregate showed started or filled: no slot up to it is tried again.
	known map[string]string
	// owed holds, per customer and trigger, the oldest slot that became due
	// and is not known started.
	owed map[string]Slot
}

// NewScheduler returns a scheduler for cfg.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Hour
	}
	if cfg.DailyAt == "" {
		cfg.DailyAt = "02:00"
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Check <= 0 {
		cfg.Check = time.Minute
	}
	cfg.Check = min(cfg.Check, cfg.Interval)
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	cfg.Retry = min(cfg.Retry, cfg.Check)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 24 * time.Hour
	}
	cfg.Spread = min(max(cfg.Spread, 0), cfg.Interval)
	s := &Scheduler{cfg: cfg, log: cfg.Logger.With("component", "sync-scheduler"), known: map[string]string{}, owed: map[string]Slot{}}
	if cfg.Customers == nil || cfg.Pool == nil {
		return nil, fmt.Errorf("%w: scheduler: customers and pool are needed", ErrBadConfig)
	}
	if cfg.DailyAt != "-" {
		t, err := time.Parse("15:04", cfg.DailyAt)
		if err != nil {
			return nil, fmt.Errorf("%w: scheduler: daily at %q: want HH:MM", ErrBadConfig, cfg.DailyAt)
		}
		s.daily, s.dailyH, s.dailyM = true, t.Hour(), t.Minute()
	}
	return s, nil
}

// Run ticks every Check until ctx ends; it returns nil then. A tick that
// failed is run again after Retry, doubled at each failure, at most at
// the next Check.
func (s *Scheduler) Run(ctx context.Context) error {
	retry := &backoff.ExponentialBackOff{InitialInterval: s.cfg.Retry, Multiplier: 2, MaxInterval: s.cfg.Check}
	retry.Reset()
	for {
		n, err := s.Tick(ctx, s.cfg.Now())
		now := s.cfg.Now()
		wait := now.Truncate(s.cfg.Check).Add(s.cfg.Check).Sub(now)
		if err != nil {
			wait = min(wait, retry.NextBackOff())
			if ctx.Err() == nil {
				s.log.Warn("scheduled syncs: trying again", "in", wait, "started", n, "err", err)
			}
		} else {
			retry.Reset()
			if n > 0 {
				s.log.Info("scheduled syncs started", "count", n)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.After(wait):
		}
	}
}

// Offset is where in each interval customer id's interval slots begin:
// a hash of its id within Spread (0 without one), whole seconds.
func (s *Scheduler) Offset(id string) time.Duration { return spreadOffset(id, s.cfg.Spread) }

// spreadOffset is customer id's offset within spread: an FNV-1a hash of
// its id, whole seconds, the same in every process.
func spreadOffset(id string, spread time.Duration) time.Duration {
	if spread < time.Second {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return time.Duration(h.Sum64()%uint64(spread/time.Second)) * time.Second
}

// NextIntervalSync is when customer id's next interval sync is due after
// now, its slots spread over the whole interval as serve's scheduler
// spreads them.
func NextIntervalSync(id string, interval time.Duration, now time.Time) time.Time {
	off := spreadOffset(id, interval)
	return now.Add(-off).Truncate(interval).Add(off + interval)
}

// SlotsOf returns the schedule slots of customer id due at now: Slots
// with the interval slot moved by the customer's Offset.
func (s *Scheduler) SlotsOf(id string, now time.Time) []Slot {
	off := s.Offset(id)
	out := s.Slots(now.Add(-off))
	for i := range out {
		if out[i].Trigger == workflows.TriggerInterval && off > 0 {
			out[i].Start = out[i].Start.Add(off)
			out[i].Name = "interval:" + strconv.FormatInt(out[i].Start.Unix(), 10)
		}
	}
	if s.daily && off > 0 {
		// The daily slot is the customer's at the daily time itself.
		daily := s.Slots(now)
		out = slices.DeleteFunc(out, func(sl Slot) bool { return sl.Trigger == workflows.TriggerDaily })
		for _, sl := range daily {
			if sl.Trigger == workflows.TriggerDaily {
				out = append([]Slot{sl}, out...)
			}
		}
	}
	return out
}

// Next is when customer id's next interval slot begins after now.
func (s *Scheduler) Next(id string, now time.Time) time.Time {
	for _, sl := range s.SlotsOf(id, now) {
		if sl.Trigger == workflows.TriggerInterval {
			return sl.Start.Add(s.cfg.Interval)
		}
	}
	return time.Time{}
}

// Slots returns the schedule slots due at now: from DailyAt on, today's
// daily slot, and the interval slot now falls in. The daily slot comes
// first: at the daily time its sync runs and fills the interval slot
// rather than waiting behind an interval sync.
func (s *Scheduler) Slots(now time.Time) []Slot {
	var out []Slot
	if s.daily {
		local := now.In(s.cfg.Location)
		at := time.Date(local.Year(), local.Month(), local.Day(), s.dailyH, s.dailyM, 0, 0, s.cfg.Location)
		if !local.Before(at) {
			out = append(out, Slot{Trigger: workflows.TriggerDaily, Name: "daily:" + local.Format(time.DateOnly)})
		}
	}
	start := now.Truncate(s.cfg.Interval)
	return append(out, Slot{Trigger: workflows.TriggerInterval, Name: "interval:" + strconv.FormatInt(start.Unix(), 10), Start: start})
}

// Slot is a schedule slot: the trigger of its syncs, its name and, for an
// interval slot, when its interval began: a sync of any trigger that
// started then or later and completed fills it. The daily sync is run in
// any case.
type Slot struct {
	Trigger workflows.Trigger
	Name    string
	Start   time.Time
}

// Tick starts, for every customer, the slots owed from earlier ticks and
// the slots due at now that are not known started, oldest first per
// trigger, and returns how many it started. A slot the aggregate refuses
// as taken (ErrSlotTaken: another scheduler started it, or a completed
// sync filled it) is done; one that meets a running sync (ErrSyncRunning)
// stays owed, and so do the later slots of its trigger. The error joins
// the starts that failed with their outcome unresolved: those slots are
// owed too.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) (int, error) {
	customers, err := syncmodel.FailureStreaks(ctx, s.cfg.Pool)
	if err != nil {
		return 0, fmt.Errorf("scheduler: %w", err)
	}
	n := 0
	var errs []error
	for _, c := range customers {
		if until := s.backoffUntil(c); now.Before(until) {
			continue // failing: its slots wait (not owed) until the backoff ends
		}
		id := c.CustomerID
		due := s.SlotsOf(id, now)
		for _, trigger := range []workflows.Trigger{workflows.TriggerDaily, workflows.TriggerInterval} {
			for _, slot := range s.due(id, trigger, due) {
				started, done, err := s.start(ctx, id, slot, now)
				if started {
					n++
				}
				if err != nil {
					errs = append(errs, err)
				}
				if !done {
					s.owe(id, slot)
					break // a later slot of the trigger waits behind this one
				}
			}
		}
	}
	return n, errors.Join(errs...)
}

// due returns the slots of trigger to try for customer id, oldest first:
// the slot owed from an earlier tick, then the one of trigger among now.
func (s *Scheduler) due(id string, trigger workflows.Trigger, now []Slot) []Slot {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := slotKey(id, trigger)
	after := s.known[key]
	var out []Slot
	if owed, ok := s.owed[key]; ok {
		out, after = append(out, owed), max(after, owed.Name)
	}
	for _, slot := range now {
		if slot.Trigger == trigger && slot.Name > after {
			out = append(out, slot)
		}
	}
	return out
}

// owe records that slot of customer id is due and not known started,
// unless an older slot of its trigger is owed already.
func (s *Scheduler) owe(id string, slot Slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := slotKey(id, slot.Trigger)
	if owed, ok := s.owed[key]; !ok || slot.Name < owed.Name {
		s.owed[key] = slot
	}
}

// start starts slot of customer id. started says this call appended the
// sync.started; done says the slot is started (by whomever) or filled, so
// that it is owed no more.
func (s *Scheduler) start(ctx context.Context, id string, slot Slot, now time.Time) (started, done bool, err error) {
	syncID := ScheduledSyncID(id, slot.Name)
	cmd := workflows.Start{SyncID: syncID, Trigger: slot.Trigger, Slot: slot.Name, SlotStart: slot.Start, Now: now}
	// No dedupe id: the aggregate's refusal of a slot taken is what makes a
	// retry harmless. A publish id would be remembered by a clustered
	// stream's leader from the moment it proposes the message, so a retry
	// after a lost proposal would be refused as "duplicate message id is in
	// process" for the whole duplicate window.
	_, err = s.cfg.Customers.Handle(ctx, id, cmd, aggregate.Meta{CorrelationID: syncID, CausationID: slot.Name})
	switch {
	case err == nil:
		s.done(id, slot)
		return true, true, nil
	case errors.Is(err, workflows.ErrSlotTaken):
		s.done(id, slot)
		return false, true, nil
	case errors.Is(err, workflows.ErrSyncRunning), errors.Is(err, workflows.ErrNoCustomer):
		// Tried again at the next check (a customer in the read model but
		// not found: a replica behind).
		return false, false, nil
	}
	// The append failed, or timed out with its outcome unknown: the
	// customer's events say whether the slot started.
	if taken, lerr := s.takenInLog(ctx, id, cmd); lerr == nil && taken {
		s.log.Info("scheduled sync: start unconfirmed, but the customer's events show the slot started",
			"customer", id, "slot", slot.Name, "err", err)
		s.done(id, slot)
		return false, true, nil
	}
	return false, false, fmt.Errorf("start %s sync of %s: %w", slot.Name, id, err)
}

// takenInLog reads customer id's events again and reports whether the
// aggregate refuses cmd's slot as taken.
func (s *Scheduler) takenInLog(ctx context.Context, id string, cmd workflows.Start) (bool, error) {
	state, _, err := s.cfg.Customers.Load(ctx, id)
	if err != nil {
		return false, err
	}
	_, err = workflows.Decide(state, cmd)
	return errors.Is(err, workflows.ErrSlotTaken), nil
}

// done records that slot of customer id is started or filled.
func (s *Scheduler) done(id string, slot Slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := slotKey(id, slot.Trigger)
	if slot.Name > s.known[key] {
		s.known[key] = slot.Name
	}
	if owed, ok := s.owed[key]; ok && owed.Name <= slot.Name {
		delete(s.owed, key)
	}
}

// slotKey is the key of a customer's slots of one trigger.
func slotKey(id string, trigger workflows.Trigger) string { return id + "\x00" + string(trigger) }

// backoffUntil is when c's scheduled syncs may start again: after k ≥ 2
// failures in a row, Interval·2^(k-1) after the last (at most MaxBackoff);
// a customer whose credentials Zuora refused waits MaxBackoff after the
// refusal (or until its credentials change, which clears it).
func (s *Scheduler) backoffUntil(c syncmodel.FailureStreak) time.Time {
	if !c.RefusedAt.IsZero() {
		return c.RefusedAt.Add(s.cfg.MaxBackoff)
	}
	if c.Failures < 2 {
		return time.Time{}
	}
	wait := s.cfg.MaxBackoff
	if shift := c.Failures - 1; shift < 30 {
		wait = min(wait, s.cfg.Interval<<shift)
	}
	return c.LastFailed.Add(wait)
}
