package orders

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Reasons a product gives for a reservation it refuses.
const (
	// ReasonInsufficientStock starts the reason of a reservation of more
	// units than are free.
	ReasonInsufficientStock = "insufficient stock"
	// ReasonReleased is the reason a reservation with a released (or
	// tombstoned) key is refused.
	ReasonReleased = "reservation released"
)

// ReservationStatus is where a reservation key stands.
type ReservationStatus string

// Reservation statuses.
const (
	ReservationHeld      ReservationStatus = "reserved"
	ReservationRefused   ReservationStatus = "refused"
	ReservationReleased  ReservationStatus = "released"
	ReservationCommitted ReservationStatus = "committed"
)

// Reservation is what a key did to a product.
type Reservation struct {
	Key      string
	Quantity int64
	Status   ReservationStatus
	// Reason is why a refused reservation was refused.
	Reason string
	// Tombstone is true for a key released before it reserved anything.
	Tombstone bool
	// Ended is when the reservation was committed, released or refused;
	// zero while it holds units.
	Ended time.Time
}

// A product remembers what each reservation key did for as long as a
// command with that key can still be acted upon, so that a redelivery or a
// retried attempt is answered as the first time, and no longer: its memory
// is bounded by the orders of the last minutes, not by every order it ever
// took.
//
//   - A Reserve issued more than CommandTTL before it is handled (its
//     attempt's start, saga.Command.IssuedAt) reserves nothing when its key
//     is unknown: it is answered as expired (transient), and the saga,
//     which has retried or moved on by then, decides nothing with it or
//     starts another attempt. Every Reserve with a key is issued before its
//     reservation ends (committed after the pivot, released by the
//     compensation, or a tombstone), so once it ended CommandTTL ago (and
//     a minute more for clocks that disagree) none can reserve again, and
//     it is forgotten.
//   - A refused reservation is the exception: when the refusal's answer is
//     lost, the saga may issue another attempt after it. It is remembered
//     ReservationMemory, as long as a command stays in the command stream.
//   - A reservation that holds units is remembered until it ends.
const (
	CommandTTL        = 2 * time.Minute
	ReservationMemory = 24 * time.Hour
	// clockMargin is added to CommandTTL before forgetting: the events'
	// times and a command's IssuedAt come from the clocks of different
	// processes.
	clockMargin = time.Minute
)

// compactMin is the number of remembered keys under which a product does
// not look for keys to forget.
const compactMin = 1024

// Product is the folded state of one product: Stock units on hand, of
// which Reserved are held by reservations; Sold counts the units committed.
type Product struct {
	ID, Name   string
	PriceCents int64
	Stock      int64
	Reserved   int64
	Sold       int64
	Exists     bool
	CreatedAt  time.Time
	res        keyed[Reservation]
	// compactAt is the number of remembered keys at which the next event
	// forgets the reservations no command can act upon (CommandTTL): twice
	// what the last compaction kept, so that forgetting costs O(1) per
	// event amortized.
	compactAt int
}

// Free returns how many units can still be reserved.
func (p Product) Free() int64 { return p.Stock - p.Reserved }

// Reservation returns what key did to p, if anything (see CommandTTL).
func (p Product) Reservation(key string) (Reservation, bool) { return p.res.get(key) }

// Remembered returns how many reservation records p keeps.
func (p Product) Remembered() int { return p.res.len() }

// Commands of a product.
type (
	// CreateProduct registers a product: Name 1 to 200 characters,
	// PriceCents ≥ 0, Stock ≥ 0.
	CreateProduct struct {
		ProductID, Name string
		PriceCents      int64
		Stock           int64
		Now             time.Time
	}
	// Reserve holds Quantity units for Key (reserve_inventory's action,
	// one per product of the order), or refuses for good when fewer are
	// free. A repeated Key changes nothing and answers as the first time.
	// IssuedAt is when the saga started the attempt (zero: never expires;
	// see CommandTTL).
	Reserve struct {
		Key      string
		Quantity int64
		Now      time.Time
		IssuedAt time.Time
	}
	// Release frees what reservation Key holds (release_inventory, the
	// compensation: Key is the reservation's key, saga.Key(id, step,
	// false), not the compensation's). A Key that never reserved gets a
	// tombstone, so that a late Reserve with it is refused.
	Release struct {
		Key string
		Now time.Time
	}
	// Commit turns reservation Key into a sale, when its order completes.
	Commit struct {
		Key string
		Now time.Time
	}
)

// Decide returns the events cmd produces from p, or a domain error (only
// for CreateProduct).
func (p Product) Decide(cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case CreateProduct:
		if p.Exists {
			return nil, fmt.Errorf("%w: product %s", ErrExists, p.ID)
		}
		if c.ProductID == "" {
			return nil, fmt.Errorf("%w: no product id", ErrInvalid)
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(c.Name)); n < 1 || n > 200 {
			return nil, fmt.Errorf("%w: name must have 1 to 200 characters", ErrInvalid)
		}
		if c.PriceCents < 0 || c.Stock < 0 {
			return nil, fmt.Errorf("%w: price_cents and stock must not be negative", ErrInvalid)
		}
		return []Event{{ProductCreatedV1, &ProductCreated{ProductID: c.ProductID, Name: strings.TrimSpace(c.Name),
			PriceCents: c.PriceCents, Stock: c.Stock, CreatedAt: c.Now.UTC()}}}, nil
	case Reserve:
		if _, done := p.res.get(c.Key); done || !p.Exists || c.expired() {
			return nil, nil
		}
		at := c.Now.UTC()
		switch {
		case c.Quantity < 1:
			return []Event{{ProductReserveRefusedV1, &ReserveRefused{ProductID: p.ID, Key: c.Key, Quantity: c.Quantity,
				Reason: "quantity must be positive", At: at}}}, nil
		case c.Quantity > p.Free():
			return []Event{{ProductReserveRefusedV1, &ReserveRefused{ProductID: p.ID, Key: c.Key, Quantity: c.Quantity,
				Reason: fmt.Sprintf("%s: %d requested, %d free", ReasonInsufficientStock, c.Quantity, p.Free()), At: at}}}, nil
		}
		return []Event{{ProductReservedV1, &Reserved{ProductID: p.ID, Key: c.Key, Quantity: c.Quantity, At: at}}}, nil
	case Release:
		if !p.Exists {
			return nil, nil
		}
		r, ok := p.res.get(c.Key)
		switch {
		case !ok:
			return []Event{{ProductReleasedV1, &Released{ProductID: p.ID, Key: c.Key, At: c.Now.UTC()}}}, nil
		case r.Status == ReservationHeld:
			return []Event{{ProductReleasedV1, &Released{ProductID: p.ID, Key: c.Key, Quantity: r.Quantity, At: c.Now.UTC()}}}, nil
		}
		return nil, nil
	case Commit:
		if r, ok := p.res.get(c.Key); ok && r.Status == ReservationHeld {
			return []Event{{ProductCommittedV1, &Committed{ProductID: p.ID, Key: c.Key, Quantity: r.Quantity, At: c.Now.UTC()}}}, nil
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("%w %T for a product", ErrUnknownCommand, cmd)
	}
}

// Answer returns the outcome of cmd for the saga, from p after cmd's
// events. Reserve succeeds while the key holds or sold its units, and
// fails permanently when it was refused or released. Release succeeds
// unless the units were sold. Commit succeeds once the units are sold.
func (p Product) Answer(cmd any) Outcome {
	key := ""
	switch c := cmd.(type) {
	case Reserve:
		key = c.Key
	case Release:
		key = c.Key
	case Commit:
		key = c.Key
	default:
		return permanent(fmt.Sprintf("%s %T for a product", ErrUnknownCommand, cmd))
	}
	r, ok := p.res.get(key)
	out := func(status ReservationStatus, qty int64) Outcome {
		return success(ReservationOutput{ProductID: p.ID, Key: key, Quantity: qty, PriceCents: p.PriceCents, Status: string(status)})
	}
	switch c := cmd.(type) {
	case Reserve:
		switch {
		case !p.Exists:
			return permanent("unknown product")
		case !ok && c.expired():
			return transient(fmt.Sprintf("reserve command expired: issued %s before it was handled (at most %s)",
				c.Now.Sub(c.IssuedAt).Round(time.Millisecond), CommandTTL))
		case !ok:
			return transient("reservation not recorded yet")
		case r.Status == ReservationHeld || r.Status == ReservationCommitted:
			return out(r.Status, r.Quantity)
		case r.Status == ReservationRefused:
			return permanent(r.Reason)
		}
		return permanent(ReasonReleased)
	case Release:
		switch {
		case !p.Exists:
			return out(ReservationReleased, 0)
		case !ok || r.Status == ReservationHeld:
			return transient("release not recorded yet")
		case r.Status == ReservationCommitted:
			return permanent("reservation already sold")
		case r.Status == ReservationRefused:
			return out(ReservationRefused, 0)
		}
		return out(ReservationReleased, r.Quantity)
	default: // Commit
		if ok && r.Status == ReservationCommitted {
			return out(r.Status, r.Quantity)
		}
		if ok {
			return permanent("reservation " + string(r.Status))
		}
		return permanent("no reservation")
	}
}

// Evolve folds one event into p and returns the new state; p is unchanged.
func (p Product) Evolve(eventType string, data any) Product {
	switch e := data.(type) {
	case *ProductCreated:
		p.ID, p.Name, p.PriceCents, p.Stock, p.Exists, p.CreatedAt = e.ProductID, e.Name, e.PriceCents, e.Stock, true, e.CreatedAt
	case *Reserved:
		p.Reserved += e.Quantity
		p.res = p.res.with(e.Key, Reservation{Key: e.Key, Quantity: e.Quantity, Status: ReservationHeld})
	case *ReserveRefused:
		p.res = p.res.with(e.Key, Reservation{Key: e.Key, Quantity: e.Quantity, Status: ReservationRefused, Reason: e.Reason, Ended: e.At})
		p = p.forget(e.At)
	case *Released:
		p.Reserved -= e.Quantity
		p.res = p.res.with(e.Key, Reservation{Key: e.Key, Quantity: e.Quantity, Status: ReservationReleased, Tombstone: e.Quantity == 0, Ended: e.At})
		p = p.forget(e.At)
	case *ProductBatch:
		for _, ev := range e.Events {
			p = p.Evolve(ev.Type, ev.Data)
		}
	case *Committed:
		p.Reserved -= e.Quantity
		p.Stock -= e.Quantity
		p.Sold += e.Quantity
		p.res = p.res.with(e.Key, Reservation{Key: e.Key, Quantity: e.Quantity, Status: ReservationCommitted, Ended: e.At})
		p = p.forget(e.At)
	}
	return p
}

// forget drops the reservations no command can act upon any more (see
// CommandTTL): those that ended more than CommandTTL (and a margin for
// clocks that disagree) before now, refused
// ones ReservationMemory before, once p remembers compactAt keys. now is
// the time of the event being folded, so that every fold of one history
// forgets the same keys.
func (p Product) forget(now time.Time) Product {
	if p.res.len() < max(compactMin, p.compactAt) {
		return p
	}
	ended, refused := now.Add(-CommandTTL-clockMargin), now.Add(-ReservationMemory)
	p.res = p.res.compact(func(r Reservation) bool {
		switch r.Status {
		case ReservationHeld:
			return true
		case ReservationRefused:
			return r.Ended.After(refused)
		}
		return r.Ended.After(ended)
	})
	p.compactAt = 2 * p.res.len()
	return p
}

// expired reports whether c was issued more than CommandTTL before it is
// handled.
func (c Reserve) expired() bool {
	return !c.IssuedAt.IsZero() && c.Now.Sub(c.IssuedAt) > CommandTTL
}
