package workflowsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventline/eventline/domain/workflows"
	"github.com/eventline/eventline/eventstore/aggregate"
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
	// Now is the clock (time.Now); After waits on it (time.After).
	Now   func() time.Time
	After func(d time.Duration) <-chan time.Time
	// Logger receives a line per tick that started syncs (slog.Default when nil).
	Logger *slog.Logger
}

// Scheduler starts the scheduled syncs: every Interval for every customer
// (slot "interval:<unix of the interval's start>") and daily at DailyAt
// (slot "daily:YYYY-MM-DD"). Each slot of a customer starts once however
// many schedulers run: the customer aggregate refuses a slot already
// started (ErrSlotTaken), and the appends are serialised per customer. An
// interval slot in which another sync (on creation, on demand, the daily
// one) started and completed is filled by it and starts nothing.
type Scheduler struct {
	cfg     SchedulerConfig
	dailyH  int
	dailyM  int
	daily   bool
	log     *slog.Logger
	mu      sync.Mutex
	started map[string]string // customer + trigger → last slot known taken
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger.With("component", "sync-scheduler"), started: map[string]string{}}
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

// Run ticks every Check until ctx ends; it returns nil then.
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		if n, err := s.Tick(ctx, s.cfg.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("scheduled syncs", "err", err)
		} else if n > 0 {
			s.log.Info("scheduled syncs started", "count", n)
		}
		now := s.cfg.Now()
		wait := now.Truncate(s.cfg.Check).Add(s.cfg.Check).Sub(now)
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.After(wait):
		}
	}
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

// Tick starts, for every customer, the syncs of the slots due at now that
// have not started yet, and returns how many it started. A slot another
// process started (ErrSlotTaken) is done; one that meets a running sync
// (ErrSyncRunning) is tried again at the next tick.
func (s *Scheduler) Tick(ctx context.Context, now time.Time) (int, error) {
	ids, err := s.customerIDs(ctx)
	if err != nil {
		return 0, err
	}
	slots := s.Slots(now)
	n := 0
	var errs []error
	for _, id := range ids {
		for _, slot := range slots {
			key := id + "\x00" + string(slot.Trigger)
			if s.taken(key) >= slot.Name {
				continue
			}
			syncID := ScheduledSyncID(id, slot.Name)
			res, err := s.cfg.Customers.Handle(ctx, id, workflows.Start{SyncID: syncID, Trigger: slot.Trigger, Slot: slot.Name, SlotStart: slot.Start, Now: now},
				aggregate.Meta{CorrelationID: syncID, CausationID: slot.Name, DedupeID: syncID})
			switch {
			case err == nil:
				if len(res.Events) > 0 && !res.Events[0].Duplicate {
					n++ // a duplicate is another scheduler's start, the same sync
				}
				s.take(key, slot.Name)
			case errors.Is(err, workflows.ErrSlotTaken):
				s.take(key, slot.Name)
			case errors.Is(err, workflows.ErrSyncRunning), errors.Is(err, workflows.ErrNoCustomer):
			default:
				errs = append(errs, fmt.Errorf("start %s sync of %s: %w", slot.Name, id, err))
			}
		}
	}
	return n, errors.Join(errs...)
}

func (s *Scheduler) taken(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started[key]
}

func (s *Scheduler) take(key, slot string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started[key] = slot
}

// customerIDs lists the customers of the read model.
func (s *Scheduler) customerIDs(ctx context.Context) ([]string, error) {
	rows, err := s.cfg.Pool.Query(ctx, `SELECT id::text FROM customers ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("scheduler: customers: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scheduler: customers: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
