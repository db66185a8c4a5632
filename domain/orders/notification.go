package orders

import (
	"fmt"
	"strings"
	"time"
)

// BounceDomain is the simulated domain whose addresses bounce.
const BounceDomain = "@bounce.test"

// NotificationRecord is what a key did to an order's notifications.
type NotificationRecord struct {
	Key    string
	Email  string
	Sent   bool
	Reason string
}

// Notifications is the folded state of one order's notifications: one
// record per idempotency key, each sent at most once. Sent counts the
// messages sent.
type Notifications struct {
	OrderID string
	Sent    int
	recs    keyed[NotificationRecord]
}

// Record returns what key did, if anything.
func (n Notifications) Record(key string) (NotificationRecord, bool) { return n.recs.get(key) }

// Send is send_notification's action: mail Email about order OrderID,
// once per Key. An address ending in BounceDomain (or not an address)
// bounces: a permanent failure.
type Send struct {
	OrderID string
	Key     string
	Email   string
	Now     time.Time
}

// Decide returns the events cmd produces from n; Send never fails here
// (Answer says how it went).
func (n Notifications) Decide(cmd any) ([]Event, error) {
	c, ok := cmd.(Send)
	if !ok {
		return nil, fmt.Errorf("%w %T for notifications", ErrUnknownCommand, cmd)
	}
	if _, done := n.recs.get(c.Key); done {
		return nil, nil
	}
	reason := ""
	switch {
	case !validEmail(c.Email):
		reason = fmt.Sprintf("%q is not an address", c.Email)
	case strings.HasSuffix(strings.ToLower(c.Email), BounceDomain):
		reason = "address bounced"
	}
	if reason != "" {
		return []Event{{NotificationBouncedV1, &NotificationBounced{OrderID: c.OrderID, Key: c.Key, Email: c.Email,
			Reason: reason, At: c.Now.UTC()}}}, nil
	}
	return []Event{{NotificationSentV1, &NotificationSent{OrderID: c.OrderID, Key: c.Key, Email: c.Email, At: c.Now.UTC()}}}, nil
}

// Answer returns the outcome of cmd for the saga, from n after cmd's
// events: sent, or bounced (a permanent failure).
func (n Notifications) Answer(cmd any) Outcome {
	c, ok := cmd.(Send)
	if !ok {
		return permanent(fmt.Sprintf("%s %T for notifications", ErrUnknownCommand, cmd))
	}
	r, ok := n.recs.get(c.Key)
	switch {
	case !ok:
		return transient("notification not recorded yet")
	case !r.Sent:
		return permanent(r.Reason)
	}
	return success(NotificationOutput{Key: r.Key, Email: r.Email, Status: "sent"})
}

// Evolve folds one event into n and returns the new state; n is unchanged.
func (n Notifications) Evolve(eventType string, data any) Notifications {
	switch e := data.(type) {
	case *NotificationSent:
		n.OrderID, n.Sent = e.OrderID, n.Sent+1
		n.recs = n.recs.with(e.Key, NotificationRecord{Key: e.Key, Email: e.Email, Sent: true})
	case *NotificationBounced:
		n.OrderID = e.OrderID
		n.recs = n.recs.with(e.Key, NotificationRecord{Key: e.Key, Email: e.Email, Reason: e.Reason})
	}
	return n
}
