package orders

import (
	"time"

	json "github.com/go-json-experiment/json/v1"
)

// Stream is the JetStream stream of the participants' events.
const Stream = "ORDERS"

// Subjects returns the stream's subject filters, one per kind of
// aggregate.
func Subjects() []string {
	return []string{"user.>", "product.>", "order.>", "payment.>", "notification.>"}
}

// UserSubject is the subject of user id's events.
func UserSubject(userID string) string { return "user." + userID }

// ProductSubject is the subject of product id's events.
func ProductSubject(productID string) string { return "product." + productID }

// OrderSubject is the subject of order id's events.
func OrderSubject(orderID string) string { return "order." + orderID }

// PaymentSubject is the subject of the payments of order id.
func PaymentSubject(orderID string) string { return "payment." + orderID }

// NotificationSubject is the subject of the notifications of order id.
func NotificationSubject(orderID string) string { return "notification." + orderID }

// Event type names.
const (
	UserCreatedV1           = "user.created.v1"
	ProductCreatedV1        = "product.created.v1"
	ProductReservedV1       = "product.reserved.v1"
	ProductReserveRefusedV1 = "product.reserve_refused.v1"
	ProductReleasedV1       = "product.released.v1"
	ProductCommittedV1      = "product.committed.v1"
	OrderCreatedV1          = "order.created.v1"
	OrderConfirmedV1        = "order.confirmed.v1"
	OrderCancelledV1        = "order.cancelled.v1"
	PaymentChargedV1        = "payment.charged.v1"
	PaymentDeclinedV1       = "payment.declined.v1"
	PaymentRefundedV1       = "payment.refunded.v1"
	PaymentVoidedV1         = "payment.voided.v1"
	NotificationSentV1      = "notification.sent.v1"
	NotificationBouncedV1   = "notification.bounced.v1"
)

// Event is one event a decision produces: its type and payload (a pointer
// to one of this package's payload types, as Events decodes it).
type Event struct {
	Type string
	Data any
}

// UserCreated is the payload of UserCreatedV1.
type UserCreated struct {
	UserID    string    `json:"user_id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

// ProductCreated is the payload of ProductCreatedV1.
type ProductCreated struct {
	ProductID  string    `json:"product_id"`
	Name       string    `json:"name"`
	PriceCents int64     `json:"price_cents"`
	Stock      int64     `json:"stock"`
	CreatedAt  time.Time `json:"created_at"`
}

// Reserved is the payload of ProductReservedV1: Quantity units are held
// for Key.
type Reserved struct {
	ProductID string    `json:"product_id"`
	Key       string    `json:"key"`
	Quantity  int64     `json:"quantity"`
	At        time.Time `json:"at"`
}

// ReserveRefused is the payload of ProductReserveRefusedV1: the
// reservation for Key was refused for good (Reason), and stays refused.
type ReserveRefused struct {
	ProductID string    `json:"product_id"`
	Key       string    `json:"key"`
	Quantity  int64     `json:"quantity"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// Released is the payload of ProductReleasedV1: the Quantity units Key
// held are free again. Quantity 0 is a tombstone: Key never reserved, and
// a later reservation with it is refused.
type Released struct {
	ProductID string    `json:"product_id"`
	Key       string    `json:"key"`
	Quantity  int64     `json:"quantity"`
	At        time.Time `json:"at"`
}

// Committed is the payload of ProductCommittedV1: the units Key held are
// sold (they leave both the stock and the reserved count).
type Committed struct {
	ProductID string    `json:"product_id"`
	Key       string    `json:"key"`
	Quantity  int64     `json:"quantity"`
	At        time.Time `json:"at"`
}

// Item is one line of an order.
type Item struct {
	ProductID string `json:"product_id"`
	Quantity  int64  `json:"quantity"`
}

// OrderCreated is the payload of OrderCreatedV1: the order is pending.
type OrderCreated struct {
	OrderID    string    `json:"order_id"`
	UserID     string    `json:"user_id"`
	Key        string    `json:"key"`
	Items      []Item    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	At         time.Time `json:"at"`
}

// OrderConfirmed is the payload of OrderConfirmedV1.
type OrderConfirmed struct {
	OrderID string    `json:"order_id"`
	At      time.Time `json:"at"`
}

// OrderCancelled is the payload of OrderCancelledV1. Tombstone is true
// when the order had not been created: a later creation is refused.
type OrderCancelled struct {
	OrderID   string    `json:"order_id"`
	Key       string    `json:"key"`
	Reason    string    `json:"reason,omitempty"`
	Tombstone bool      `json:"tombstone,omitempty"`
	At        time.Time `json:"at"`
}

// Charged is the payload of PaymentChargedV1: the one charge of Key, made
// by attempt Attempt. Late is true when that attempt's answer is slow
// (tok_slow's first attempt).
type Charged struct {
	OrderID     string    `json:"order_id"`
	Key         string    `json:"key"`
	AmountCents int64     `json:"amount_cents"`
	Token       string    `json:"token"`
	Attempt     int       `json:"attempt"`
	Late        bool      `json:"late,omitempty"`
	At          time.Time `json:"at"`
}

// Declined is the payload of PaymentDeclinedV1: Key is refused for good
// by attempt Attempt (0 in events recorded before it was kept).
type Declined struct {
	OrderID     string    `json:"order_id"`
	Key         string    `json:"key"`
	AmountCents int64     `json:"amount_cents"`
	Token       string    `json:"token"`
	Attempt     int       `json:"attempt,omitempty"`
	Reason      string    `json:"reason"`
	At          time.Time `json:"at"`
}

// Refunded is the payload of PaymentRefundedV1: Key's charge was paid back.
type Refunded struct {
	OrderID     string    `json:"order_id"`
	Key         string    `json:"key"`
	AmountCents int64     `json:"amount_cents"`
	At          time.Time `json:"at"`
}

// Voided is the payload of PaymentVoidedV1: a tombstone for a Key that
// never charged; a later charge with it is refused.
type Voided struct {
	OrderID string    `json:"order_id"`
	Key     string    `json:"key"`
	At      time.Time `json:"at"`
}

// NotificationSent is the payload of NotificationSentV1.
type NotificationSent struct {
	OrderID string    `json:"order_id"`
	Key     string    `json:"key"`
	Email   string    `json:"email"`
	At      time.Time `json:"at"`
}

// NotificationBounced is the payload of NotificationBouncedV1: the
// address refused the message for good.
type NotificationBounced struct {
	OrderID string    `json:"order_id"`
	Key     string    `json:"key"`
	Email   string    `json:"email"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// Events is the decode table of the participants' events; production code
// decodes through it and old payloads in testdata/ must keep decoding.
func Events() map[string]func(data []byte) (any, error) {
	return map[string]func([]byte) (any, error){
		UserCreatedV1:           decodeJSON[UserCreated],
		ProductCreatedV1:        decodeJSON[ProductCreated],
		ProductReservedV1:       decodeJSON[Reserved],
		ProductReserveRefusedV1: decodeJSON[ReserveRefused],
		ProductReleasedV1:       decodeJSON[Released],
		ProductCommittedV1:      decodeJSON[Committed],
		ProductBatchV1:          decodeJSON[ProductBatch],
		OrderCreatedV1:          decodeJSON[OrderCreated],
		OrderConfirmedV1:        decodeJSON[OrderConfirmed],
		OrderCancelledV1:        decodeJSON[OrderCancelled],
		PaymentChargedV1:        decodeJSON[Charged],
		PaymentDeclinedV1:       decodeJSON[Declined],
		PaymentRefundedV1:       decodeJSON[Refunded],
		PaymentVoidedV1:         decodeJSON[Voided],
		NotificationSentV1:      decodeJSON[NotificationSent],
		NotificationBouncedV1:   decodeJSON[NotificationBounced],
	}
}

func decodeJSON[T any](data []byte) (any, error) {
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, err
	}
	return v, nil
}
