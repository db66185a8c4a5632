package workflows

import (
	"errors"
	"fmt"
	"maps"
	"time"
)

// Domain errors of the customer aggregate; the HTTP layer maps them.
var (
	ErrNoCustomer    = errors.New("workflows: no such customer")
	ErrCustomerTaken = errors.New("workflows: customer already exists")
	ErrSyncRunning   = errors.New("workflows: a sync is already running for this customer")
	ErrSlotTaken     = errors.New("workflows: this scheduled sync has already run")
	ErrNotRunning    = errors.New("workflows: that sync is not running")
	ErrTooMany       = errors.New("workflows: too many workflows for one command")
	ErrClaimed       = errors.New("workflows: that sync is already being run")
)

// ReasonCustomerDeleted ends a sync whose customer was deleted while it ran.
const ReasonCustomerDeleted = "cancelled: the customer was deleted; nothing was deleted by the sync"

// MaxPerCommand bounds the workflow events one command decides, so that
// they fit one atomic batch (1,000 messages) with room to spare.
const MaxPerCommand = 500

// Event is one event a decision produces: its type and payload.
type Event struct {
	Type string
	Data any
}

// Customer is the folded state of one customer.
type Customer struct {
	ID       string
	Name     string
	BaseURL  string
	ClientID string
	Exists   bool
	// Limits are the customer's own bounds of a sync (zero: defaults).
	Limits Limits
	// Deleted is set once the customer was deleted (Exists is then false).
	Deleted bool
	// CredentialsRefused is why Zuora refused the customer's credentials
	// at its last sync ("" when it did not): scheduled syncs back off
	// until the credentials change.
	CredentialsRefused string
	// Running is the sync in progress, nil when none.
	Running *Run
	// Slots holds, per trigger, the last schedule slot started.
	Slots map[Trigger]string
	// LastSync is the outcome of the last finished sync ("" before any).
	LastSync string
	// LastComplete is when the last sync that completed started (zero
	// before any): a scheduled slot it started in is filled by it.
	LastComplete time.Time
}

// Run is a sync in progress, with what its events did so far.
type Run struct {
	SyncID          string
	Trigger         Trigger
	StartedAt       time.Time
	AllowMassDelete bool
	// Runner is the process that began running the sync ("" while it
	// waits for one).
	Runner  string
	Created int
	Updated int
	// Pages and Listed are how far the listing has come.
	Pages  int
	Listed int
	// Deleting counts the workflows marked deleted, deleted when the run
	// completes.
	Deleting int
}

// Commands a customer decides.
type (
	// Create registers a customer.
	Create struct {
		CustomerID, Name, BaseURL, ClientID string
		Limits                              Limits
		Now                                 time.Time
	}
	// Update changes a customer's profile; nil fields stay as they are.
	// SecretRotated records that a new client secret was stored (the
	// secret itself is never in an event).
	Update struct {
		Name, BaseURL, ClientID *string
		Limits                  *Limits
		SecretRotated           bool
		Now                     time.Time
	}
	// Remove deletes a customer; a sync it runs is failed first.
	Remove struct {
		Now time.Time
	}
	// Begin claims a started sync for the process Runner, before it lists
	// anything: one runner per sync.
	Begin struct {
		SyncID, Runner string
	}
	// Start begins a sync; Slot, when set, makes a scheduled sync run once.
	// SlotStart is when the period the slot covers began: a sync of any
	// trigger that started then or later and completed fills the slot (no
	// interval sync a minute after the customer's first sync, nor beside
	// the daily one).
	Start struct {
		SyncID          string
		Trigger         Trigger
		Slot            string
		SlotStart       time.Time
		AllowMassDelete bool
		Now             time.Time
	}
	// Apply records a page of the listing: each listed workflow that is
	// new or differs from its fingerprint in Known is created or updated.
	// With Progress set, a sync.progressed event follows the changes.
	Apply struct {
		SyncID   string
		Listed   []Workflow
		Known    map[int64]Fingerprint
		Progress *SyncProgressed
	}
	// Delete marks workflows gone from a complete listing (at most
	// MaxPerCommand at once).
	Delete struct {
		SyncID   string
		ZuoraIDs []int64
	}
	// Complete ends a sync whose listing was complete and error-free.
	Complete struct {
		SyncID string
		Stats  Stats
		Pages  int
		Now    time.Time
	}
	// Fail ends a sync that deletes nothing; CredentialsRefused when
	// Zuora refused the customer's credentials.
	Fail struct {
		SyncID             string
		Reason             string
		CredentialsRefused bool
		Stats              Stats
		Pages              int
		Now                time.Time
	}
)

// Decide returns the events cmd produces from s, or a domain error.
func Decide(s Customer, cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case Create:
		if s.Exists || s.Deleted {
			return nil, ErrCustomerTaken
		}
		return []Event{{CustomerCreatedV1, CustomerCreated{CustomerID: c.CustomerID, Name: c.Name, BaseURL: c.BaseURL,
			ClientID: c.ClientID, Limits: c.Limits, CreatedAt: c.Now.UTC()}}}, nil
	case Update:
		return s.update(c)
	case Remove:
		if !s.Exists {
			return nil, ErrNoCustomer
		}
		var out []Event
		if s.Running != nil {
			out = append(out, Event{SyncFailedV1, SyncFailed{SyncID: s.Running.SyncID, Reason: ReasonCustomerDeleted,
				Stats: Stats{Created: s.Running.Created, Updated: s.Running.Updated, Total: max(s.Running.Listed,
					s.Running.Created+s.Running.Updated), Errors: []string{}}, Pages: s.Running.Pages, FinishedAt: c.Now.UTC()}})
		}
		return append(out, Event{CustomerDeletedV1, CustomerDeleted{CustomerID: s.ID, DeletedAt: c.Now.UTC()}}), nil
	case Begin:
		if err := s.running(c.SyncID); err != nil {
			return nil, err
		}
		if s.Running.Runner != "" {
			return nil, fmt.Errorf("%w: %s by %s", ErrClaimed, c.SyncID, s.Running.Runner)
		}
		return []Event{{SyncProgressedV1, SyncProgressed{SyncID: c.SyncID, Runner: c.Runner}}}, nil
	case Start:
		if !s.Exists {
			return nil, ErrNoCustomer
		}
		if c.Slot != "" && s.Slots[c.Trigger] >= c.Slot {
			return nil, ErrSlotTaken
		}
		if c.Slot != "" && !c.SlotStart.IsZero() && !s.LastComplete.IsZero() && !s.LastComplete.Before(c.SlotStart) {
			return nil, fmt.Errorf("%w: a sync that started at %s completed", ErrSlotTaken, s.LastComplete.Format(time.RFC3339))
		}
		if s.Running != nil {
			return nil, ErrSyncRunning
		}
		return []Event{{SyncStartedV1, SyncStarted{SyncID: c.SyncID, Trigger: c.Trigger, Slot: c.Slot,
			AllowMassDelete: c.AllowMassDelete, StartedAt: c.Now.UTC()}}}, nil
	case Apply:
		if err := s.running(c.SyncID); err != nil {
			return nil, err
		}
		changes := Diff(c.Listed, c.Known)
		if len(changes) > MaxPerCommand {
			return nil, fmt.Errorf("%w: %d changes", ErrTooMany, len(changes))
		}
		out := make([]Event, 0, len(changes)+1)
		for _, ch := range changes {
			out = append(out, Event{ch.Type, WorkflowChanged{SyncID: c.SyncID, Workflow: ch.Workflow}})
		}
		if p := c.Progress; p != nil {
			out = append(out, Event{SyncProgressedV1, SyncProgressed{SyncID: c.SyncID, Pages: p.Pages, Listed: p.Listed, Bytes: p.Bytes}})
		}
		return out, nil
	case Delete:
		if err := s.running(c.SyncID); err != nil {
			return nil, err
		}
		if len(c.ZuoraIDs) > MaxPerCommand {
			return nil, fmt.Errorf("%w: %d deletions", ErrTooMany, len(c.ZuoraIDs))
		}
		out := make([]Event, 0, len(c.ZuoraIDs))
		for _, id := range c.ZuoraIDs {
			out = append(out, Event{WorkflowDeletedV1, WorkflowDeleted{SyncID: c.SyncID, ZuoraID: id}})
		}
		return out, nil
	case Complete:
		if err := s.running(c.SyncID); err != nil {
			return nil, err
		}
		st := c.Stats
		st.Created, st.Updated, st.Deleted = s.Running.Created, s.Running.Updated, s.Running.Deleting
		st.Errors = nonNil(st.Errors)
		return []Event{{SyncCompletedV1, SyncCompleted{SyncID: c.SyncID, Stats: st, Pages: c.Pages, FinishedAt: c.Now.UTC()}}}, nil
	case Fail:
		if err := s.running(c.SyncID); err != nil {
			return nil, err
		}
		st := c.Stats
		st.Created, st.Updated, st.Deleted = s.Running.Created, s.Running.Updated, 0
		st.Errors = nonNil(st.Errors)
		return []Event{{SyncFailedV1, SyncFailed{SyncID: c.SyncID, Reason: c.Reason, CredentialsRefused: c.CredentialsRefused,
			Stats: st, Pages: c.Pages, FinishedAt: c.Now.UTC()}}}, nil
	default:
		return nil, fmt.Errorf("workflows: unknown command %T", cmd)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s Customer) running(syncID string) error {
	if !s.Exists {
		return ErrNoCustomer
	}
	if s.Running == nil || s.Running.SyncID != syncID {
		return fmt.Errorf("%w: %s", ErrNotRunning, syncID)
	}
	return nil
}

// Evolve folds one event of type eventType, decoded through Events, into s
// and returns the new state; s is not changed (states are shared by the
// command loop's cache).
func Evolve(s Customer, eventType string, data any) Customer {
	switch e := data.(type) {
	case *CustomerCreated:
		s.ID, s.Name, s.BaseURL, s.ClientID, s.Limits, s.Exists = e.CustomerID, e.Name, e.BaseURL, e.ClientID, e.Limits, true
	case *CustomerUpdated:
		if e.CredentialsChanged(s.BaseURL, s.ClientID) {
			s.CredentialsRefused = ""
		}
		s.Name, s.BaseURL, s.ClientID, s.Limits = e.Name, e.BaseURL, e.ClientID, e.Limits
	case *CustomerDeleted:
		s.Exists, s.Deleted, s.Running = false, true, nil
	case *SyncProgressed:
		if s.Running == nil || e.SyncID != s.Running.SyncID {
			return s
		}
		r := *s.Running
		if e.Runner != "" {
			r.Runner = e.Runner
		}
		r.Pages, r.Listed = max(r.Pages, e.Pages), max(r.Listed, e.Listed)
		s.Running = &r
	case *SyncStarted:
		s.Running = &Run{SyncID: e.SyncID, Trigger: e.Trigger, StartedAt: e.StartedAt, AllowMassDelete: e.AllowMassDelete}
		if e.Slot != "" {
			slots := maps.Clone(s.Slots)
			if slots == nil {
				slots = map[Trigger]string{}
			}
			slots[e.Trigger] = e.Slot
			s.Slots = slots
		}
	case *WorkflowChanged:
		if s.Running == nil || e.SyncID != s.Running.SyncID {
			return s
		}
		r := *s.Running
		if eventType == WorkflowCreatedV1 {
			r.Created++
		} else {
			r.Updated++
		}
		s.Running = &r
	case *WorkflowDeleted:
		if s.Running == nil || e.SyncID != s.Running.SyncID {
			return s
		}
		r := *s.Running
		r.Deleting++
		s.Running = &r
	case *SyncCompleted:
		if s.Running != nil && s.Running.SyncID == e.SyncID {
			s.LastComplete = s.Running.StartedAt
		}
		s.Running, s.LastSync, s.CredentialsRefused = nil, "completed", ""
	case *SyncFailed:
		s.Running, s.LastSync = nil, "failed"
		if e.CredentialsRefused {
			s.CredentialsRefused = e.Reason
		}
	}
	return s
}

// update decides an Update: one customer.updated event with the profile
// after it, none when nothing changes.
func (s Customer) update(c Update) ([]Event, error) {
	if !s.Exists {
		return nil, ErrNoCustomer
	}
	e := CustomerUpdated{CustomerID: s.ID, Name: s.Name, BaseURL: s.BaseURL, ClientID: s.ClientID, Limits: s.Limits,
		SecretRotated: c.SecretRotated, UpdatedAt: c.Now.UTC()}
	if c.Name != nil {
		e.Name = *c.Name
	}
	if c.BaseURL != nil {
		e.BaseURL = *c.BaseURL
	}
	if c.ClientID != nil {
		e.ClientID = *c.ClientID
	}
	if c.Limits != nil {
		e.Limits = *c.Limits
	}
	if !e.SecretRotated && e.Name == s.Name && e.BaseURL == s.BaseURL && e.ClientID == s.ClientID && e.Limits == s.Limits {
		return nil, nil
	}
	return []Event{{CustomerUpdatedV1, e}}, nil
}
