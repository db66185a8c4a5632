package orders

import (
	"fmt"
	"time"
)

// Simulated payment tokens (the contract's).
const (
	// TokenOK pays.
	TokenOK = "tok_ok"
	// TokenDeclined fails permanently.
	TokenDeclined = "tok_declined"
	// TokenFlaky fails transiently on attempts 1 to FlakyFailures, then
	// pays.
	TokenFlaky = "tok_flaky"
	// TokenSlow pays on the first attempt but answers late (Outcome.Slow),
	// after the step timed out; the next attempt finds the charge and
	// answers at once.
	TokenSlow = "tok_slow"
)

// FlakyFailures is how many attempts TokenFlaky fails.
const FlakyFailures = 2

// PaymentStatus is where a payment key stands.
type PaymentStatus string

// Payment statuses.
const (
	PaymentCharged  PaymentStatus = "charged"
	PaymentDeclined PaymentStatus = "declined"
	PaymentRefunded PaymentStatus = "refunded"
	PaymentVoided   PaymentStatus = "voided"
)

// PaymentRecord is what a key did to an order's payments.
type PaymentRecord struct {
	Key         string
	Status      PaymentStatus
	AmountCents int64
	Token       string
	// Attempt is the attempt that charged or was declined; Late when its
	// answer is slow.
	Attempt int
	Late    bool
	Reason  string
}

// Payments is the folded state of one order's payments: one record per
// idempotency key, at most one charge each. ChargedCents is what was
// charged and not refunded; Charges counts the charges ever made.
type Payments struct {
	OrderID      string
	ChargedCents int64
	Charges      int
	recs         keyed[PaymentRecord]
}

// Record returns what key did, if anything.
func (p Payments) Record(key string) (PaymentRecord, bool) { return p.recs.get(key) }

// Commands of an order's payments.
type (
	// Charge is process_payment's action: attempt Attempt of charging
	// AmountCents to Token for Key. Every attempt and redelivery with the
	// same Key charges at most once.
	Charge struct {
		OrderID     string
		Key         string
		AmountCents int64
		Token       string
		Attempt     int
		Now         time.Time
	}
	// Refund pays back Key's charge. For a Key that never charged it
	// records a tombstone (voided) that refuses a later charge: the abort
	// marker of a charge whose outcome is unknown. The order saga does not
	// use it (payment is its pivot); an operator may.
	Refund struct {
		OrderID string
		Key     string
		Now     time.Time
	}
)

// Decide returns the events cmd produces from p; the saga's commands never
// fail here (Answer says how they went).
func (p Payments) Decide(cmd any) ([]Event, error) {
	switch c := cmd.(type) {
	case Charge:
		if _, done := p.recs.get(c.Key); done {
			return nil, nil
		}
		declined := func(reason string) ([]Event, error) {
			return []Event{{PaymentDeclinedV1, &Declined{OrderID: c.OrderID, Key: c.Key, AmountCents: c.AmountCents,
				Token: c.Token, Attempt: c.Attempt, Reason: reason, At: c.Now.UTC()}}}, nil
		}
		switch {
		case c.AmountCents < 0:
			return declined("negative amount")
		case c.Token == TokenDeclined:
			return declined("card declined")
		case c.Token == TokenFlaky && c.Attempt <= FlakyFailures:
			return nil, nil
		case c.Token != TokenOK && c.Token != TokenFlaky && c.Token != TokenSlow:
			return declined(fmt.Sprintf("unknown payment token %q", c.Token))
		}
		return []Event{{PaymentChargedV1, &Charged{OrderID: c.OrderID, Key: c.Key, AmountCents: c.AmountCents,
			Token: c.Token, Attempt: c.Attempt, Late: c.Token == TokenSlow && c.Attempt == 1, At: c.Now.UTC()}}}, nil
	case Refund:
		r, ok := p.recs.get(c.Key)
		switch {
		case !ok:
			return []Event{{PaymentVoidedV1, &Voided{OrderID: c.OrderID, Key: c.Key, At: c.Now.UTC()}}}, nil
		case r.Status == PaymentCharged:
			return []Event{{PaymentRefundedV1, &Refunded{OrderID: c.OrderID, Key: c.Key, AmountCents: r.AmountCents,
				At: c.Now.UTC()}}}, nil
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("%w %T for payments", ErrUnknownCommand, cmd)
	}
}

// Answer returns the outcome of cmd for the saga, from p after cmd's
// events. A charged key answers success to every attempt (slowly to the
// attempt of tok_slow that charged); a declined or voided key fails
// permanently; tok_flaky's first attempts fail transiently.
func (p Payments) Answer(cmd any) Outcome {
	switch c := cmd.(type) {
	case Charge:
		r, ok := p.recs.get(c.Key)
		switch {
		case !ok && c.Token == TokenFlaky && c.Attempt <= FlakyFailures:
			return transient(fmt.Sprintf("payment processor unavailable (attempt %d)", c.Attempt))
		case !ok:
			return transient("charge not recorded yet")
		case r.Status == PaymentCharged || r.Status == PaymentRefunded:
			o := success(PaymentOutput{OrderID: p.OrderID, Key: c.Key, Status: string(PaymentCharged), AmountCents: r.AmountCents})
			o.Slow = r.Late && r.Attempt == c.Attempt
			return o
		case r.Status == PaymentDeclined:
			return permanent(r.Reason)
		}
		return permanent("payment voided")
	case Refund:
		r, ok := p.recs.get(c.Key)
		if !ok || r.Status == PaymentCharged {
			return transient("refund not recorded yet")
		}
		amount := int64(0)
		if r.Status == PaymentRefunded {
			amount = r.AmountCents
		}
		return success(PaymentOutput{OrderID: p.OrderID, Key: c.Key, Status: string(r.Status), AmountCents: amount})
	default:
		return permanent(fmt.Sprintf("%s %T for payments", ErrUnknownCommand, cmd))
	}
}

// Evolve folds one event into p and returns the new state; p is unchanged.
func (p Payments) Evolve(eventType string, data any) Payments {
	switch e := data.(type) {
	case *Charged:
		p.OrderID, p.ChargedCents, p.Charges = e.OrderID, p.ChargedCents+e.AmountCents, p.Charges+1
		p.recs = p.recs.with(e.Key, PaymentRecord{Key: e.Key, Status: PaymentCharged, AmountCents: e.AmountCents,
			Token: e.Token, Attempt: e.Attempt, Late: e.Late})
	case *Declined:
		p.OrderID = e.OrderID
		p.recs = p.recs.with(e.Key, PaymentRecord{Key: e.Key, Status: PaymentDeclined, AmountCents: e.AmountCents,
			Token: e.Token, Attempt: e.Attempt, Reason: e.Reason})
	case *Refunded:
		p.ChargedCents -= e.AmountCents
		r, _ := p.recs.get(e.Key)
		r.Key, r.Status, r.AmountCents = e.Key, PaymentRefunded, e.AmountCents
		p.recs = p.recs.with(e.Key, r)
	case *Voided:
		p.OrderID = e.OrderID
		p.recs = p.recs.with(e.Key, PaymentRecord{Key: e.Key, Status: PaymentVoided})
	}
	return p
}
