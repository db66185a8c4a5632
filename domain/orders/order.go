package orders

import (
	"errors"
	"fmt"
	"time"
)

// OrderStatus is where an order stands.
type OrderStatus string

// Order statuses (the contract's).
const (
	StatusPending   OrderStatus = "pending"
	StatusConfirmed OrderStatus = "confirmed"
	StatusCancelled OrderStatus = "cancelled"
)

// Order is the folded state of one order. Exists is true once it was
// created; a cancellation before that leaves a tombstone (Status
// cancelled, Exists false) that refuses the creation.
type Order struct {
	ID, UserID string
	// Key is the idempotency key that created the order.
	Key        string
	Items      []Item
	TotalCents int64
	Status     OrderStatus
	Exists     bool
	Reason     string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Commands of an order.
type (
	// CreateOrder records order OrderID, pending (create_order's action).
	// A repeated Key changes nothing and answers as the first time.
	CreateOrder struct {
		Key        string
		OrderID    string
		UserID     string
		Items      []Item
		TotalCents int64
		Now        time.Time
	}
	// ConfirmOrder confirms a pending order once its payment went through.
	ConfirmOrder struct {
		Now time.Time
	}
	// CancelOrder cancels order OrderID (cancel_order, the compensation);
	// an order not created yet gets a tombstone that refuses its creation.
	// A confirmed order is not cancelled.
	CancelOrder struct {
		OrderID string
		Key     string
		Reason  string
		Now     time.Time
	}
)

// ValidateOrderFields reports, wrapping ErrInvalid, what is wrong with an
// order's fields: an id, a user, at least one item, each with a product and
// a positive quantity, and a total that is not negative.
func ValidateOrderFields(orderID, userID string, items []Item, totalCents int64) error {
	var errs []error
	if orderID == "" {
		errs = append(errs, errors.New("no order id"))
	}
	if userID == "" {
		errs = append(errs, errors.New("no user id"))
	}
	if len(items) == 0 {
		errs = append(errs, errors.New("no items"))
	}
	for i, it := range items {
		if it.ProductID == "" || it.Quantity < 1 {
			errs = append(errs, fmt.Errorf("item %d needs a product and a positive quantity", i))
		}
	}
	if totalCents < 0 {
		errs = append(errs, errors.New("negative total"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Decide returns the events cmd produces from o; the saga's commands never
// fail here (Answer says how they went).
func (o Order) Decide(cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case CreateOrder:
		if o.Exists || o.Status == StatusCancelled ||
			ValidateOrderFields(c.OrderID, c.UserID, c.Items, c.TotalCents) != nil {
			return nil, nil
		}
		return []Event{{OrderCreatedV1, &OrderCreated{OrderID: c.OrderID, UserID: c.UserID, Key: c.Key,
			Items: append([]Item(nil), c.Items...), TotalCents: c.TotalCents, At: c.Now.UTC()}}}, nil
	case ConfirmOrder:
		if o.Exists && o.Status == StatusPending {
			return []Event{{OrderConfirmedV1, &OrderConfirmed{OrderID: o.ID, At: c.Now.UTC()}}}, nil
		}
		return nil, nil
	case CancelOrder:
		switch {
		case o.Exists && o.Status == StatusPending:
			return []Event{{OrderCancelledV1, &OrderCancelled{OrderID: o.ID, Key: c.Key, Reason: c.Reason, At: c.Now.UTC()}}}, nil
		case !o.Exists && o.Status == "":
			return []Event{{OrderCancelledV1, &OrderCancelled{OrderID: c.OrderID, Key: c.Key, Reason: c.Reason,
				Tombstone: true, At: c.Now.UTC()}}}, nil
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("%w %T for an order", ErrUnknownCommand, cmd)
	}
}

// Answer returns the outcome of cmd for the saga, from o after cmd's
// events.
func (o Order) Answer(cmd any) Outcome {
	out := func(status OrderStatus) Outcome {
		return success(OrderOutput{OrderID: o.ID, Status: string(status), TotalCents: o.TotalCents})
	}
	switch c := cmd.(type) {
	case CreateOrder:
		switch {
		case o.Exists && o.Key == c.Key:
			return out(StatusPending) // the first answer, whatever happened since
		case o.Exists:
			return permanent("order already created by another request")
		case o.Status == StatusCancelled:
			return permanent("order cancelled")
		}
		if err := ValidateOrderFields(c.OrderID, c.UserID, c.Items, c.TotalCents); err != nil {
			return permanent(err.Error())
		}
		return transient("order not recorded yet")
	case ConfirmOrder:
		switch {
		case o.Status == StatusConfirmed:
			return out(StatusConfirmed)
		case o.Status == StatusCancelled:
			return permanent("order cancelled")
		case !o.Exists:
			return permanent("unknown order")
		}
		return transient("confirmation not recorded yet")
	case CancelOrder:
		switch o.Status {
		case StatusCancelled:
			return out(StatusCancelled)
		case StatusConfirmed:
			return permanent("order confirmed")
		}
		return transient("cancellation not recorded yet")
	default:
		return permanent(fmt.Sprintf("%s %T for an order", ErrUnknownCommand, cmd))
	}
}

// Evolve folds one event into o and returns the new state; o is unchanged.
func (o Order) Evolve(eventType string, data any) Order {
	switch e := data.(type) {
	case *OrderCreated:
		o.ID, o.UserID, o.Key, o.TotalCents = e.OrderID, e.UserID, e.Key, e.TotalCents
		o.Items = append([]Item(nil), e.Items...)
		o.Status, o.Exists, o.CreatedAt, o.UpdatedAt = StatusPending, true, e.At, e.At
	case *OrderConfirmed:
		o.Status, o.UpdatedAt = StatusConfirmed, e.At
	case *OrderCancelled:
		if o.ID == "" {
			o.ID = e.OrderID
		}
		o.Status, o.Reason, o.UpdatedAt = StatusCancelled, e.Reason, e.At
	}
	return o
}
